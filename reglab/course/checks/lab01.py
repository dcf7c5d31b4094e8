"""Checkers for Lab 01 — How to transform images.

Every function takes the student's function, runs it on several cases and
compares with reglab's own implementation (:mod:`reglab.grid`,
:mod:`reglab.warping`, :mod:`reglab.fields`, :mod:`reglab.io`).
"""

import torch
import torch.nn.functional as F

from reglab import fields, grid, warping
from reglab.course.checks.core import Case, run_check, same
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


def check_identity_grid(identity_grid):
    """Exercise 1.1: ``identity_grid(size) -> (1, ndim, *size)``, channel i = index along axis i."""
    sizes = [(4, 6), (5, 5), (7, 3), (3, 4, 5), (2, 1, 6)]
    cases = [Case(f"{len(s)}D, size {' × '.join(map(str, s))}", (s,), grid.identity_grid(s)) for s in sizes]

    def channels_last(answer, case):
        size = case.args[0]
        if isinstance(answer, torch.Tensor) and tuple(answer.shape[-len(size) - 1:-1]) == tuple(size):
            return "this is channels-last; reglab keeps the coordinate axis second: (1, ndim, *size). Use torch.stack(..., dim=0)[None]."

    def no_batch(answer, case):
        if isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape[1:]:
            return "almost: add the batch axis in front, e.g. grid[None]."

    def swapped(answer, case):
        if same(answer, case.expected.flip(1)):
            return "your axes look swapped: channel 0 must hold the index along axis 0 (the row), as meshgrid(..., indexing='ij') gives."

    return run_check("Exercise 1.1 — identity grid", identity_grid, cases, diagnose=[no_batch, channels_last, swapped])


# ---------------------------------------------------------------- Exercise 1.2


def check_warp(warp):
    """Exercise 1.2: ``warp(moving, displacement) -> warped``, backward, linear, zero padding."""
    g = _generator()
    sizes = [((1, 9, 9), 2.0), ((2, 7, 11), 1.5), ((1, 5, 6, 7), 1.0), ((3, 8, 5), 3.0)]
    cases = []
    for (batch, *size), magnitude in sizes:
        moving = _image(batch, size, g)
        u = _smooth_field(batch, size, magnitude, g)
        description = f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}"
        cases.append(Case(description, (moving, u), warping.warp(moving, u)))

    def sampled(case, coordinates, *, flip=True, align_corners=True):
        moving = case.args[0]
        size = moving.shape[2:]
        normalized = grid.voxel_to_normalized(coordinates.movedim(1, -1), size)
        if flip:
            normalized = normalized.flip(-1)
        return F.grid_sample(moving, normalized, align_corners=align_corners)

    def other_way(answer, case):
        moving, u = case.args
        if same(answer, warping.warp(moving, -u)):
            return "the image moved the other way: did you sample at x − u(x) instead of x + u(x)?"

    def axes(answer, case):
        moving, u = case.args
        if same(answer, sampled(case, grid.identity_grid(moving.shape[2:]) + u, flip=False)):
            return "your axes look swapped: grid_sample wants the last dimension in (x, y[, z]) = (column, row[, slice]) order, the reverse of the tensor's axes: flip it."

    def corners(answer, case):
        moving, u = case.args
        if same(answer, sampled(case, grid.identity_grid(moving.shape[2:]) + u, align_corners=False)):
            return "half a voxel off: your normalization assumes align_corners=True (−1 and +1 are voxel centres), so pass align_corners=True to grid_sample too."

    def no_identity(answer, case):
        moving, u = case.args
        if same(answer, sampled(case, u)):
            return "you sampled at u(x), not at x + u(x): add the identity grid to the displacement."

    def not_normalized(answer, case):
        moving, u = case.args
        coordinates = (grid.identity_grid(moving.shape[2:]) + u).movedim(1, -1).flip(-1)
        if same(answer, F.grid_sample(moving, coordinates, align_corners=True)):
            return "grid_sample wants coordinates in [−1, 1], not voxels: normalize with 2·x/(n − 1) − 1."

    return run_check("Exercise 1.2 — backward warping", warp, cases,
                     diagnose=[other_way, axes, corners, no_identity, not_normalized])


# ---------------------------------------------------------------- Exercise 1.3


def _random_affine(ndim, batch, g):
    matrix = torch.eye(ndim, ndim + 1).repeat(batch, 1, 1)
    matrix[:, :, :ndim] += 0.15 * torch.randn(batch, ndim, ndim, generator=g)
    matrix[:, :, ndim] = 2.0 * torch.randn(batch, ndim, generator=g)
    return matrix


def check_affine_displacement(affine_displacement):
    """Exercise 1.3: ``affine_displacement(matrix, size) -> u`` with ``u(x) = A x + t − x``."""
    g = _generator()
    sizes = [((1, 6, 8)), ((2, 5, 5)), ((1, 4, 5, 6)), ((2, 3, 7, 4))]
    cases = []
    for batch, *size in sizes:
        matrix = _random_affine(len(size), batch, g)
        cases.append(Case(f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}", (matrix, tuple(size)),
                          fields.affine_to_displacement(matrix, tuple(size))))

    def kept_x(answer, case):
        size = case.args[1]
        if same(answer, case.expected + grid.identity_grid(size)):
            return "this is y(x) = A x + t, the new position; the displacement is u(x) = y(x) − x."

    def transposed(answer, case):
        matrix, size = case.args
        ndim = len(size)
        flipped = matrix.clone()
        flipped[:, :, :ndim] = matrix[:, :, :ndim].transpose(1, 2)
        if same(answer, fields.affine_to_displacement(flipped, size)):
            return "A looks transposed: y_i = Σ_j A[i, j] x_j + t_i, i.e. A @ x with x as a column of coordinates."

    return run_check("Exercise 1.3 — an affine map as a displacement", affine_displacement, cases,
                     diagnose=[kept_x, transposed])


# ---------------------------------------------------------------- Exercise 1.4


def check_compose(compose):
    """Exercise 1.4: ``compose(u, v) -> w`` with ``w(x) = v(x) + u(x + v(x))``."""
    g = _generator()
    sizes = [((1, 9, 9), 2.0), ((2, 8, 11), 1.5), ((1, 6, 5, 7), 1.0)]
    cases = []
    for (batch, *size), magnitude in sizes:
        u = _smooth_field(batch, size, magnitude, g)
        v = _smooth_field(batch, size, magnitude, g)
        description = f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}"
        cases.append(Case(description, (u, v), fields.compose(u, v), atol=1e-3))

    def added(answer, case):
        u, v = case.args
        if same(answer, u + v, atol=1e-3):
            return "u + v is right only for translations: u must be looked up where v sends x, u(x + v(x))."

    def swapped(answer, case):
        u, v = case.args
        if same(answer, fields.compose(v, u), atol=1e-3):
            return "the order is swapped: points go through v first, so w(x) = v(x) + u(x + v(x))."

    return run_check("Exercise 1.4 — composing displacements", compose, cases, diagnose=[added, swapped])


# ---------------------------------------------------------------- Exercise 1.5


def check_index_to_physical(index_to_physical):
    """Exercise 1.5: ``index_to_physical(index, spacing, origin, direction) -> points`` in mm."""
    g = _generator()
    cases = []
    for ndim, n in ((2, 4), (3, 5), (3, 1)):
        spacing = tuple((0.5 + torch.rand(ndim, generator=g)).tolist())
        origin = tuple((20 * torch.randn(ndim, generator=g)).tolist())
        rotation = torch.linalg.qr(torch.randn(ndim, ndim, generator=g, dtype=torch.float64))[0]
        direction = tuple(rotation.flatten().tolist())
        index = 10 * torch.rand(n, ndim, generator=g, dtype=torch.float64)
        expected = Geometry(spacing, origin, direction).index_to_physical(index)
        cases.append(Case(f"{ndim}D, {n} point{'s' * (n > 1)}", (index, spacing, origin, direction), expected))

    def not_reversed(answer, case):
        index, spacing, origin, direction = case.args
        wrong = Geometry(spacing[::-1], origin, direction).index_to_physical(index.flip(-1))
        if same(answer, wrong):
            return "ITK orders (x, y, z), the reverse of the tensor's axes: reverse the index (and the spacing) before applying the direction."

    def no_direction(answer, case):
        index, spacing, origin, direction = case.args
        ndim = len(spacing)
        wrong = Geometry(spacing, origin, tuple(torch.eye(ndim).flatten().tolist())).index_to_physical(index)
        if same(answer, wrong):
            return "you left out the direction matrix: p = origin + D · diag(spacing) · index."

    return run_check("Exercise 1.5 — voxel index to physical point", index_to_physical, cases,
                     diagnose=[not_reversed, no_direction])
