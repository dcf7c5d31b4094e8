"""Checkers for Lab 01 — How to transform images.

Every function takes the student's function, runs it on several cases and
compares with reglab's own implementation (:mod:`reglab.grid`,
:mod:`reglab.warping`, :mod:`reglab.fields`, :mod:`reglab.io`).

It is longer than ~300 lines because it is one thing, this lab's checkers: the cases and the typical
mistakes of its five exercises, then its two question checkers. It reads top to bottom, exercise by
exercise (one ``# ---- Exercise 1.N`` section each), the questions last.
"""

import torch
import torch.nn.functional as F

from reglab import fields, grid, warping
from reglab.course.checks.core import Case, Mistake, run_check
from reglab.io import Geometry


def _generator():
    return torch.Generator().manual_seed(7)


def _smooth_field(batch, size, magnitude, generator):
    """A smooth random displacement (B, ndim, *size): coarse noise upsampled."""
    ndim = len(size)
    coarse = torch.randn(batch, ndim, *[3] * ndim, generator=generator) * magnitude
    return F.interpolate(coarse, size=size, mode="bilinear" if ndim == 2 else "trilinear", align_corners=True)


def _image(batch, size, generator):
    """A smooth random image (B, 1, *size)."""
    ndim = len(size)
    coarse = torch.rand(batch, 1, *[5] * ndim, generator=generator)
    return F.interpolate(coarse, size=size, mode="bilinear" if ndim == 2 else "trilinear", align_corners=True)


# ---------------------------------------------------------------- Exercise 1.1


def _meshgrid(size, *, indexing="ij", values=None):
    """The identity grid built from ``values(n)`` per axis with ``meshgrid(indexing=...)`` (for the mistakes)."""
    axes = [values(n) if values else torch.arange(n, dtype=torch.float32) for n in size]
    return torch.stack(torch.meshgrid(*axes, indexing=indexing))[None]


IDENTITY_MISTAKES = [
    Mistake("almost: add the batch axis in front, e.g. grid[None].", derive=lambda e: e[0]),
    Mistake("this is channels-last; reglab keeps the coordinate axis second: (1, ndim, *size). Use "
            "torch.stack(..., dim=0)[None].", derive=lambda e: e.movedim(1, -1)),
    Mistake("meshgrid(..., indexing='xy') swaps the first two axes (NumPy's image convention): use indexing='ij', so "
            "that the grid has the shape of the image.", output=lambda size: _meshgrid(size, indexing="xy")),
    Mistake("your axes look swapped: channel 0 must hold the index along axis 0 (the row), as "
            "meshgrid(..., indexing='ij') gives; do not reverse the list of coordinates.", derive=lambda e: e.flip(1)),
    Mistake("indices start at 0: torch.arange(n), not 1 … n.", derive=lambda e: e + 1),
    Mistake("these are normalized coordinates in [−1, 1] (grid_sample's); the identity grid holds voxel indices "
            "0 … n − 1.", output=lambda size: _meshgrid(size, values=lambda n: torch.linspace(-1, 1, n))),
]


def check_identity_grid(identity_grid):
    """Exercise 1.1: ``identity_grid(size) -> (1, ndim, *size)`` float32, channel i = index along axis i."""
    sizes = [(4, 6), (5, 5), (7, 3), (3, 4, 5), (2, 1, 6)]
    cases = [Case(f"{len(s)}D, size {' × '.join(map(str, s))}", (s,), grid.identity_grid(s)) for s in sizes]
    return run_check("Exercise 1.1 — identity grid", identity_grid, cases, mistakes=IDENTITY_MISTAKES,
                     names=("size",), forbid=(grid.identity_grid,))


check_identity_grid.mistakes = IDENTITY_MISTAKES


# ---------------------------------------------------------------- Exercise 1.2


def _sampled(moving, coordinates, *, flip=True, align_corners=True, normalize=True, scale=None, **options):
    """``grid_sample`` at voxel ``coordinates (B, ndim, *size)``, with the usual slips as options."""
    size = moving.shape[2:]
    points = coordinates.movedim(1, -1)
    if normalize:
        points = grid.voxel_to_normalized(points, size) if scale is None else points * scale - 1
    if flip:
        points = points.flip(-1)
    return F.grid_sample(moving, points, align_corners=align_corners, **options)


def _positions(moving, u):
    return grid.identity_grid(moving.shape[2:], dtype=u.dtype) + u


WARP_MISTAKES = [
    Mistake("the image moved the other way: did you sample at x − u(x) instead of x + u(x)?",
            output=lambda m, u: _sampled(m, _positions(m, -u))),
    Mistake("your axes look swapped: grid_sample wants the last dimension in (x, y[, z]) = (column, row[, slice]) "
            "order, the reverse of the tensor's axes: flip it.", output=lambda m, u: _sampled(m, _positions(m, u),
                                                                                               flip=False)),
    Mistake("half a voxel off: your normalization assumes align_corners=True (−1 and +1 are voxel centres), so pass "
            "align_corners=True to grid_sample too.",
            output=lambda m, u: _sampled(m, _positions(m, u), align_corners=False)),
    Mistake("you sampled at u(x), not at x + u(x): add the identity grid to the displacement.",
            output=lambda m, u: _sampled(m, u)),
    Mistake("grid_sample wants coordinates in [−1, 1], not voxels: normalize with 2·x/(n − 1) − 1.",
            output=lambda m, u: _sampled(m, _positions(m, u), normalize=False)),
    Mistake("normalize with 2·x/(n − 1) − 1 (the first and last voxel centres go to −1 and +1), not 2·x/n − 1.",
            output=lambda m, u: _sampled(m, _positions(m, u), scale=torch.tensor(
                [2.0 / n for n in m.shape[2:]], dtype=u.dtype))),
    Mistake("outside the image the warped image is 0: padding_mode='zeros', not 'border'.",
            output=lambda m, u: _sampled(m, _positions(m, u), padding_mode="border")),
    Mistake("interpolate linearly (mode='bilinear', which is trilinear on volumes), not with the nearest voxel.",
            output=lambda m, u: _sampled(m, _positions(m, u), mode="nearest")),
]


def check_warp(warp):
    """Exercise 1.2: ``warp(moving, displacement) -> warped``, backward, linear, zero padding."""
    g = _generator()
    sizes = [((1, 1, 9, 9), 2.0), ((2, 1, 7, 11), 1.5), ((1, 1, 5, 6, 7), 1.0), ((3, 2, 8, 5), 3.0),
             ((2, 1, 4, 7, 5), 2.0)]
    cases = []
    for (batch, channels, *size), magnitude in sizes:
        moving = _image(batch, size, g).repeat(1, channels, *[1] * len(size)) * torch.arange(1.0, channels + 1).reshape(
            1, -1, *[1] * len(size))
        u = _smooth_field(batch, size, magnitude, g)
        description = f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}, {channels} channel(s)"
        cases.append(Case(description, (moving, u), warping.warp(moving, u)))
    return run_check("Exercise 1.2 — backward warping", warp, cases, mistakes=WARP_MISTAKES,
                     names=("moving", "displacement"), forbid=(warping.warp,))


check_warp.mistakes = WARP_MISTAKES


# ---------------------------------------------------------------- Exercise 1.3


def _random_affine(ndim, batch, g):
    matrix = torch.eye(ndim, ndim + 1).repeat(batch, 1, 1)
    matrix[:, :, :ndim] += 0.15 * torch.randn(batch, ndim, ndim, generator=g)
    matrix[:, :, ndim] = 2.0 * torch.randn(batch, ndim, generator=g)
    return matrix


def _affine(matrix, size, *, transpose=False, translate=True, subtract=True, reverse=False):
    """``A x + t − x`` and its slips: A transposed, t left out, x kept, x in reversed (x, y[, z]) order."""
    ndim = len(size)
    x = grid.identity_grid(size, dtype=matrix.dtype).flatten(2)                  # (1, ndim, N)
    if reverse:
        x = x.flip(1)
    a = matrix[:, :, :ndim].transpose(1, 2) if transpose else matrix[:, :, :ndim]
    y = a @ x + (matrix[:, :, ndim:] if translate else 0)
    return (y - x if subtract else y).reshape(matrix.shape[0], ndim, *size)


AFFINE_MISTAKES = [
    Mistake("this is y(x) = A x + t, the new position; the displacement is u(x) = y(x) − x.",
            output=lambda matrix, size: _affine(matrix, size, subtract=False)),
    Mistake("A looks transposed: y_i = Σ_j A[i, j] x_j + t_i, i.e. A @ x with x as a column of coordinates.",
            output=lambda matrix, size: _affine(matrix, size, transpose=True)),
    Mistake("the translation is missing: the last column of the matrix is t, y = A x + t.",
            output=lambda matrix, size: _affine(matrix, size, translate=False)),
    Mistake("x must be in axis order (row, column[, slice]), as identity_grid gives it: a grid from "
            "meshgrid(indexing='xy') or a reversed coordinate list gives another map.",
            output=lambda matrix, size: _affine(matrix, size, reverse=True)),
    Mistake("every sample used the first matrix: apply each sample's own matrix (A @ x broadcasts over the batch).",
            output=lambda matrix, size: _affine(matrix[:1], size).expand(matrix.shape[0], *[-1] * (len(size) + 1))),
]


def check_affine_displacement(affine_displacement):
    """Exercise 1.3: ``affine_displacement(matrix, size) -> u`` with ``u(x) = A x + t − x``."""
    g = _generator()
    sizes = [(1, 6, 8), (2, 5, 5), (1, 4, 5, 6), (2, 3, 7, 4), (3, 9, 4)]
    cases = []
    for batch, *size in sizes:
        matrix = _random_affine(len(size), batch, g)
        cases.append(Case(f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}", (matrix, tuple(size)),
                          fields.affine_to_displacement(matrix, tuple(size))))
    return run_check("Exercise 1.3 — an affine map as a displacement", affine_displacement, cases,
                     mistakes=AFFINE_MISTAKES, names=("matrix", "size"), forbid=(fields.affine_to_displacement,))


check_affine_displacement.mistakes = AFFINE_MISTAKES


# ---------------------------------------------------------------- Exercise 1.4


COMPOSE_MISTAKES = [
    Mistake("u + v is right only for translations: u must be looked up where v sends x, u(x + v(x)).",
            output=lambda u, v: u + v),
    Mistake("the order is swapped: points go through v first, so w(x) = v(x) + u(x + v(x)).",
            output=lambda u, v: u + warping.warp(v, u, padding="border")),
    Mistake("near the border v sends points outside the grid, where zero padding makes u zero: warp u with "
            "padding='border' (a field continues at its edge).",
            output=lambda u, v: v + warping.warp(u, v, padding="zeros")),
    Mistake("you looked u up at x − v(x): it is u(x + v(x)), warp(u, v) (not −v).",
            output=lambda u, v: v + warping.warp(u, -v, padding="border")),
    Mistake("u(x + v(x)) is only the second step: add v(x), w = v + u(x + v(x)).",
            output=lambda u, v: warping.warp(u, v, padding="border")),
]


def check_compose(compose):
    """Exercise 1.4: ``compose(u, v) -> w`` with ``w(x) = v(x) + u(x + v(x))``."""
    g = _generator()
    sizes = [((1, 9, 9), 2.0), ((2, 8, 11), 1.5), ((1, 6, 5, 7), 1.0), ((2, 5, 7, 4), 1.5)]
    cases = []
    for (batch, *size), magnitude in sizes:
        u = _smooth_field(batch, size, magnitude, g)
        v = _smooth_field(batch, size, magnitude, g)
        description = f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}"
        cases.append(Case(description, (u, v), fields.compose(u, v), atol=1e-3))
    return run_check("Exercise 1.4 — composing displacements", compose, cases, mistakes=COMPOSE_MISTAKES,
                     names=("u", "v"), forbid=(fields.compose,))


check_compose.mistakes = COMPOSE_MISTAKES


# ---------------------------------------------------------------- Exercise 1.5


def _physical(index, spacing, origin, direction, *, flip_index=True, flip_spacing=True, transpose=True,
              use_direction=True, flip_origin=False):
    """``origin + D · (spacing ⊙ index)`` in ITK order, and its slips."""
    ndim = len(spacing)
    d = torch.tensor(direction, dtype=torch.float64).reshape(ndim, ndim) if use_direction else torch.eye(
        ndim, dtype=torch.float64)
    i = index.flip(-1) if flip_index else index
    s = torch.tensor(spacing[::-1] if flip_spacing else spacing, dtype=torch.float64)
    o = torch.tensor(origin[::-1] if flip_origin else origin, dtype=torch.float64)
    return (i * s) @ (d.T if transpose else d) + o


INDEX_MISTAKES = [
    Mistake("ITK orders (x, y, z), the reverse of the tensor's axes: reverse the index (and the spacing) before "
            "applying the direction.",
            output=lambda i, s, o, d: _physical(i, s, o, d, flip_index=False, flip_spacing=False)),
    Mistake("you reversed the index but not the spacing: spacing is given in tensor axis order too, so "
            "reverse it as well (spacing[::-1]) before multiplying the ITK-ordered index.",
            output=lambda i, s, o, d: _physical(i, s, o, d, flip_spacing=False)),
    Mistake("the direction matrix is used untransposed: p = origin + D · (spacing ⊙ index) for a column vector; "
            "with points as rows (N, ndim) that is (spacing * index) @ D.T.",
            output=lambda i, s, o, d: _physical(i, s, o, d, transpose=False)),
    Mistake("you left out the direction matrix: p = origin + D · diag(spacing) · index.",
            output=lambda i, s, o, d: _physical(i, s, o, d, use_direction=False)),
    Mistake("the origin is already in ITK order (x, y[, z]): add it as it is, do not reverse it.",
            output=lambda i, s, o, d: _physical(i, s, o, d, flip_origin=True)),
]


def check_index_to_physical(index_to_physical):
    """Exercise 1.5: ``index_to_physical(index, spacing, origin, direction) -> points`` in mm, float64."""
    g = _generator()
    cases = []
    for ndim, n in ((2, 4), (3, 5), (3, 1), (2, 3)):
        spacing = tuple((0.5 + 2 * torch.rand(ndim, generator=g)).tolist())
        origin = tuple((20 * torch.randn(ndim, generator=g)).tolist())
        rotation = torch.linalg.qr(torch.randn(ndim, ndim, generator=g, dtype=torch.float64))[0]
        direction = tuple(rotation.flatten().tolist())
        index = 10 * torch.rand(n, ndim, generator=g, dtype=torch.float64)
        expected = Geometry(spacing, origin, direction).index_to_physical(index)
        cases.append(Case(f"{ndim}D, {n} point{'s' * (n > 1)}", (index, spacing, origin, direction), expected))
    return run_check("Exercise 1.5 — voxel index to physical point", index_to_physical, cases,
                     mistakes=INDEX_MISTAKES, names=("index", "spacing", "origin", "direction"))


check_index_to_physical.mistakes = INDEX_MISTAKES


# ---------------------------------------------------------------- Questions: predict and debug

from reglab.course.checks import questions  # noqa: E402  (kept with the question checkers it serves)

TURN = {"a": "counter-clockwise on screen, like the grid lines y(x)", "b": "clockwise on screen",
        "c": "it does not turn: only the grid lines do"}
"""Exercise 1.3b's choices: which way the image content turns in ``warp(M, u)`` for a positive angle."""


def check_turn(student):
    """Exercise 1.3b (predict, then run): ``student()`` returns the key of :data:`TURN`; the answer is "b"."""
    return questions.check_choice(
        "Exercise 1.3b — predict: which way does the content turn?", student, "b", options=TURN,
        hints={"a": "the grid lines y(x) are where the output samples the moving image; backward warping shows the "
                    "content carried by the inverse map, so it turns the other way.",
               "c": "the warped image is M(y(x)): if y turns, what you see turns too (by the inverse)."},
        why="the sampling grid turns counter-clockwise; what it fetches appears turned clockwise (the inverse).")


MISSING_STEP = {"a": "the flip of the coordinates to (x, y) = (column, row) order",
                "b": "the normalization of the positions to [-1, 1]",
                "c": "adding the identity grid to the displacement",
                "d": "align_corners=True"}
"""Exercise 1.2b's choices: the step of the warp recipe that ``warp_with_a_bug`` leaves out."""


def check_missing_step(student):
    """Exercise 1.2b (debug): ``student()`` returns the key of :data:`MISSING_STEP`; the answer is "a"."""
    return questions.check_choice(
        "Exercise 1.2b — debug: which step is missing?", student, "a", options=MISSING_STEP,
        hints={"b": "without the normalization u = 0 would sample at voxel indices read as [-1, 1] coordinates: "
                    "almost every position falls outside the image and the result is nearly all zeros.",
               "c": "without the identity, u = 0 samples every output voxel at the same point (the centre): the "
                    "result would be one flat grey value.",
               "d": "align_corners moves every sample by at most half a voxel: invisible at this scale, and the "
                    "identity would still look like the identity."},
        why="grid_sample reads the last axis as (x, y) = (column, row): without the flip rows and columns swap, "
            "so even u = 0 comes out transposed (and stretched to the other axis's length).")
