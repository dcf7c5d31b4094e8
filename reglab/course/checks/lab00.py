"""Checkers for Lab 00 — Why unsupervised learning, and what registration needs.

Four exercises: the cheapest annotation (a bounding box / cuboid), a
point-cloud annotation (the boundary voxels of a mask), an unsupervised
method that needs no labels (k-means on intensities), and the registration
objective ``O = C + R`` of the lecture. The reference answers
:func:`bounding_box` and :func:`kmeans` live here (reglab has no other use
for them); the others are built from reglab: :func:`surface_points` from
:func:`reglab.evaluation.surface_voxels`, the objective from
:func:`reglab.warp`, :func:`reglab.similarity.mse` and
:func:`reglab.regularization.diffusion`.

It is longer than ~300 lines because it is one thing, this lab's checkers: the cases and the typical
mistakes of its four exercises, then its two question checkers. It reads top to bottom, exercise by
exercise (one ``# ---- Exercise 0.N`` section each), the questions last.
"""

import torch
import torch.nn.functional as F

from reglab import evaluation, regularization, similarity, warping
from reglab.course.checks.core import Case, Mistake, run_check


def _generator():
    return torch.Generator().manual_seed(0)


# ---------------------------------------------------------------- Exercise 0.1


def bounding_box(mask):
    """Reference: the smallest box holding every nonzero voxel, ``(B, ndim, 2)`` of inclusive [first, last] indices.

    Example:
        >>> mask = torch.zeros(1, 1, 5, 6, dtype=torch.bool); mask[0, 0, 1:3, 2:5] = True
        >>> bounding_box(mask).tolist()
        [[[1, 2], [2, 4]]]
    """
    batch, ndim = mask.shape[0], mask.dim() - 2
    boxes = torch.zeros(batch, ndim, 2, dtype=torch.long)
    for b in range(batch):
        inside = torch.nonzero(mask[b, 0])                 # (N, ndim)
        boxes[b, :, 0] = inside.min(dim=0).values
        boxes[b, :, 1] = inside.max(dim=0).values
    return boxes


def _random_blob(batch, size, g):
    """A random box-shaped mask with a few random voxels added (B, 1, *size) bool."""
    mask = torch.zeros(batch, 1, *size, dtype=torch.bool)
    for b in range(batch):
        corner = [int(torch.randint(0, n // 2, (1,), generator=g)) for n in size]
        extent = [int(torch.randint(1, n - c, (1,), generator=g)) for n, c in zip(size, corner)]
        mask[(b, 0, *[slice(c, c + e) for c, e in zip(corner, extent)])] = True
        extra = [int(torch.randint(0, n, (1,), generator=g)) for n in size]
        mask[(b, 0, *extra)] = True
    return mask


def _union_box(mask):
    """The mistake of one box for the whole batch: every sample gets the box of all samples together."""
    union = mask.any(dim=0, keepdim=True).expand_as(mask)
    return bounding_box(union)


BOUNDING_BOX_MISTAKES = [
    Mistake("your upper ends are one too far: return the index of the last voxel inside (inclusive), not last + 1.",
            derive=lambda e: e + torch.tensor([0, 1])),
    Mistake("almost: keep the batch axis, the result is (B, ndim, 2).", derive=lambda e: e[0]),
    Mistake("your result is (B, 2, ndim): put the axes first, [first, last] last: (B, ndim, 2).",
            derive=lambda e: e.transpose(1, 2)),
    Mistake("your axes are in reverse (x, y[, z]) order: row i of the box belongs to tensor axis i.",
            derive=lambda e: e.flip(1)),
    Mistake("every sample got the box of the whole batch: compute one box per sample (loop over mask[b, 0]).",
            output=_union_box),
]


def check_bounding_box(student):
    """Exercise 0.1: ``bounding_box(mask) -> (B, ndim, 2)`` int64, inclusive [first, last] index per axis."""
    g = _generator()
    shapes = [(1, 9, 9), (2, 7, 12), (1, 6, 5, 8), (3, 5, 9, 4)]
    cases = []
    for batch, *size in shapes:
        mask = _random_blob(batch, size, g)
        cases.append(Case(f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}", (mask,), bounding_box(mask)))
    return run_check("Exercise 0.1 — bounding box / cuboid", student, cases, mistakes=BOUNDING_BOX_MISTAKES,
                     names=("mask",), forbid=(bounding_box,))


check_bounding_box.mistakes = BOUNDING_BOX_MISTAKES


# ---------------------------------------------------------------- Exercise 0.2


def surface_points(mask):
    """Reference: the voxels of ``mask`` with a face neighbour outside it (or on the grid's edge), ``(B, 1, *spatial)`` bool.

    Example:
        >>> mask = torch.zeros(1, 1, 5, 5, dtype=torch.bool); mask[0, 0, 1:4, 1:4] = True
        >>> surface_points(mask)[0, 0].int()
        tensor([[0, 0, 0, 0, 0],
                [0, 1, 1, 1, 0],
                [0, 1, 0, 1, 0],
                [0, 1, 1, 1, 0],
                [0, 0, 0, 0, 0]], dtype=torch.int32)
    """
    return evaluation.surface_voxels(mask.long()) & mask.bool()


def _boundary(mask, *, cube, edge_outside, sides=(0, 2)):
    """Variants for the hints: any outside neighbour in the full cube (or faces only), the grid's edge outside or not,
    the neighbours before and after (``sides=(0, 2)``) or after only (``(2,)``)."""
    ndim = mask.dim() - 2
    outside = F.pad((~mask).float(), [1, 1] * ndim, value=1.0 if edge_outside else 0.0)
    if cube:
        pool = F.max_pool2d if ndim == 2 else F.max_pool3d
        return mask & (pool(outside, 3, stride=1) > 0)
    found = torch.zeros_like(mask)
    for axis in range(ndim):
        for shift in sides:
            index = [slice(1, -1)] * ndim
            index[axis] = slice(shift, shift + mask.shape[axis + 2])
            found = found | (outside[(slice(None), slice(None), *index)] > 0)
    return mask & found


SURFACE_MISTAKES = [
    Mistake("you counted diagonal neighbours too; a point of the surface has a *face* neighbour outside "
            "(4 neighbours in 2D, 6 in 3D).", output=lambda m: _boundary(m, cube=True, edge_outside=True)),
    Mistake("these are the background voxels next to the mask; return the mask's own voxels that touch the outside.",
            output=lambda m: evaluation.surface_voxels(m.long()).bool() & ~m),
    Mistake("voxels on the edge of the grid are on the surface too: treat everything outside the grid as outside "
            "the mask (pad ~mask with True).", output=lambda m: _boundary(m, cube=False, edge_outside=False)),
    Mistake("you looked at one neighbour per axis only: check the voxel before *and* the voxel after along every "
            "axis.", output=lambda m: _boundary(m, cube=False, edge_outside=True, sides=(2,))),
    Mistake("you returned the whole background too: keep only voxels of the mask (& mask).",
            output=lambda m: _boundary(m, cube=False, edge_outside=True) | ~m),
]


def check_surface_points(student):
    """Exercise 0.2: ``surface_points(mask) -> (B, 1, *spatial)`` bool, the mask's boundary voxels (face neighbours)."""
    g = _generator()
    cases = []
    for batch, *size in [(1, 12, 10), (2, 9, 13), (1, 8, 7, 9), (2, 6, 9, 7)]:
        ndim = len(size)
        mode = "bilinear" if ndim == 2 else "trilinear"
        noise = F.interpolate(torch.rand(batch, 1, *[4] * ndim, generator=g), size=size, mode=mode, align_corners=True)
        mask = noise > 0.5
        cases.append(Case(f"{ndim}D, {' × '.join(map(str, size))}, batch of {batch}", (mask,), surface_points(mask)))
    return run_check("Exercise 0.2 — a point cloud: the surface of a mask", student, cases, mistakes=SURFACE_MISTAKES,
                     names=("mask",), forbid=(surface_points, evaluation.surface_voxels))


check_surface_points.mistakes = SURFACE_MISTAKES


# ---------------------------------------------------------------- Exercise 0.3


def kmeans(values, k, iterations=20):
    """Reference k-means (Lloyd's algorithm) on 1D intensities, started at the quantiles ``(i + 0.5) / k``.

    Each iteration assigns every value to the nearest centre, then moves each
    centre to the mean of its values (a centre without values stays put).

    Args:
        values: ``(N,)`` float intensities.
        k: number of clusters.
        iterations: Lloyd iterations.

    Returns:
        ``(centres, assignment)``: ``(k,)`` sorted ascending, and ``(N,)`` int64 indices into ``centres``.

    Example:
        >>> centres, assignment = kmeans(torch.tensor([0.0, 0.1, 0.9, 1.0]), 2)
        >>> [round(c, 3) for c in centres.tolist()], assignment.tolist()
        ([0.05, 0.95], [0, 0, 1, 1])
    """
    return _lloyd(values, k, iterations)


def _lloyd(values, k, iterations, *, start=0.5, spread="quantile", keep_empty=True, centre="mean"):
    """k-means and its mistaken variants (start ``i/k``, centres evenly spread, empty clusters NaN, medians)."""
    probabilities = (torch.arange(k, dtype=values.dtype, device=values.device) + start) / k
    if spread == "quantile":
        centres = torch.quantile(values, probabilities)
    else:
        centres = values.min() + (values.max() - values.min()) * probabilities
    for _ in range(iterations):
        assignment = (values[:, None] - centres[None]).abs().argmin(dim=1)
        new = []
        for c in range(k):
            members = values[assignment == c]
            if len(members) == 0 and keep_empty:
                new.append(centres[c])
            elif centre == "median" and len(members):
                new.append(members.median())
            else:
                new.append(members.mean())
        centres = torch.stack(new)
    centres = centres.sort().values
    assignment = (values[:, None] - centres[None]).abs().argmin(dim=1)
    return centres, assignment


KMEANS_MISTAKES = [
    Mistake("the centres never moved: after assigning, set each centre to the mean of its values, and repeat.",
            output=lambda values, k, iterations: _lloyd(values, k, 0)),
    Mistake("a cluster without values gave a NaN centre (the mean of nothing): leave such a centre where it is.",
            output=lambda values, k, iterations: _lloyd(values, k, iterations, keep_empty=False)),
    Mistake("start the centres at the quantiles (i + 0.5)/k of the values (torch.quantile), not at i/k.",
            output=lambda values, k, iterations: _lloyd(values, k, iterations, start=0.0)),
    Mistake("start the centres at the quantiles of the values (torch.quantile), not evenly spread between the "
            "minimum and the maximum.",
            output=lambda values, k, iterations: _lloyd(values, k, iterations, spread="linear")),
    Mistake("move each centre to the *mean* of its values (k-means), not the median (k-medians).",
            output=lambda values, k, iterations: _lloyd(values, k, iterations, centre="median")),
]


def check_kmeans(student):
    """Exercise 0.3: ``kmeans(values, k, iterations) -> (centres (k,), assignment (N,) int64)``."""
    g = _generator()
    cases = []
    for n, k in [(60, 2), (200, 3), (501, 4)]:
        means = torch.linspace(0.1, 0.9, k)
        values = (means[torch.randint(0, k, (n,), generator=g)] + 0.03 * torch.randn(n, generator=g)).clamp(0, 1)
        cases.append(Case(f"{n} values, k = {k}", (values, k, 20), kmeans(values, k, 20), atol=1e-4))
    values = torch.rand(300, generator=g) ** 2
    cases.append(Case("300 skewed values, k = 3, 5 iterations", (values, 3, 5), kmeans(values, 3, 5), atol=1e-4))
    values = torch.cat([torch.zeros(60), 0.5 + 0.5 * torch.rand(40, generator=g)])
    cases.append(Case("60 equal values and 40 others, k = 3 (a cluster starts empty)", (values, 3, 10),
                      kmeans(values, 3, 10), atol=1e-4))
    return run_check("Exercise 0.3 — k-means on intensities", student, cases, mistakes=KMEANS_MISTAKES,
                     names=("values", "k", "iterations"), forbid=(kmeans,))


check_kmeans.mistakes = KMEANS_MISTAKES


# ---------------------------------------------------------------- Exercise 0.4


def objective(fixed, moving, displacement, lam):
    """Reference: ``O = C(T(M), F) + λ R(u)`` with ``C = mse(F, warp(M, u))`` and ``R = diffusion(u)``.

    Example:
        >>> f = torch.zeros(1, 1, 4, 4); m = torch.ones(1, 1, 4, 4)
        >>> objective(f, m, torch.zeros(1, 2, 4, 4), lam=0.1)
        tensor(1.)
    """
    warped = warping.warp(moving, displacement)
    return similarity.mse(fixed, warped) + lam * regularization.diffusion(displacement)


OBJECTIVE_MISTAKES = [
    Mistake("C must compare F with the *warped* moving image T(M) = warp(moving, u), not with M itself.",
            output=lambda f, m, u, lam: similarity.mse(f, m) + lam * regularization.diffusion(u)),
    Mistake("you warped the fixed image: the moving image is the one that moves, warp(moving, u).",
            output=lambda f, m, u, lam: similarity.mse(warping.warp(f, u), m) + lam * regularization.diffusion(u)),
    Mistake("the regularization term is missing: add lam * R(u) (reglab.regularization.diffusion).",
            output=lambda f, m, u, lam: similarity.mse(f, warping.warp(m, u))),
    Mistake("C should be the mean squared difference (reglab.similarity.mse), not the sum (ssd).",
            output=lambda f, m, u, lam: similarity.ssd(f, warping.warp(m, u)) + lam * regularization.diffusion(u)),
    Mistake("the weight λ multiplies the regularizer only: O = C + λ R, not λ C + R or (C + R) λ.",
            output=lambda f, m, u, lam: lam * similarity.mse(f, warping.warp(m, u)) + regularization.diffusion(u)),
    Mistake("the regularizer is *added*: O = C + λ R (minimising C − λ R would reward rough fields).",
            output=lambda f, m, u, lam: similarity.mse(f, warping.warp(m, u)) - lam * regularization.diffusion(u)),
]


def check_objective(student):
    """Exercise 0.4: ``objective(fixed, moving, displacement, lam) -> scalar tensor``, differentiable in u."""
    g = _generator()
    cases = []
    for batch, *size in [(1, 12, 10), (2, 9, 9), (1, 7, 8, 6), (2, 5, 6, 7)]:
        ndim = len(size)
        mode = "bilinear" if ndim == 2 else "trilinear"
        fixed = F.interpolate(torch.rand(batch, 1, *[4] * ndim, generator=g), size=size, mode=mode, align_corners=True)
        moving = F.interpolate(torch.rand(batch, 1, *[4] * ndim, generator=g), size=size, mode=mode,
                               align_corners=True)
        u = F.interpolate(torch.randn(batch, ndim, *[3] * ndim, generator=g), size=size, mode=mode, align_corners=True)
        for lam in (0.0, 0.5):
            cases.append(Case(f"{ndim}D, {' × '.join(map(str, size))}, batch of {batch}, λ = {lam}",
                              (fixed, moving, u, lam), objective(fixed, moving, u, lam)))
    return run_check("Exercise 0.4 — the registration objective O = C + λR", student, cases,
                     mistakes=OBJECTIVE_MISTAKES, reference=objective, gradient=("displacement",))


check_objective.mistakes = OBJECTIVE_MISTAKES


# ---------------------------------------------------------------- Questions: predict and interpret

from reglab.course.checks import questions  # noqa: E402  (kept with the question checkers it serves)

WHICH_WAY = {"a": "to the right", "b": "to the left", "c": "down", "d": "up"}
"""Exercise 0.5's choices: where the brain appears in ``warp(M, u)`` for ``u = +10`` voxels along the columns."""


def check_which_way(student):
    """Exercise 0.5 (predict, then run): ``student()`` returns the key of :data:`WHICH_WAY`; the answer is "b"."""
    return questions.check_choice(
        "Exercise 0.5 — predict: which way does the brain move?", student, "b", options=WHICH_WAY,
        hints={"a": "warp pulls: warped(x) = M(x + u(x)). The value drawn at column j comes from column j + 10 of M, "
                    "so what sat 10 columns further right is now drawn at j.",
               "c": "channel 1 of u moves along spatial axis 1, the columns (left–right on screen), not the rows.",
               "d": "channel 1 of u is the column axis (left–right); and the content moves against u, not with it."},
        why="backward warping draws at x what M has at x + u(x): the content moves by −u.")


SAME_PENALTY = {"a": "R only looks at the squared derivatives of u, and −u has the same squared derivatives",
                "b": "warping by −u undoes warping by u, so both must cost the same",
                "c": "a coincidence of this pair and this λ",
                "d": "the MSE is symmetric in F and M"}
"""Exercise 0.6's choices: why λR is the same for ``u`` and ``−u`` in the table of candidates."""


def check_same_penalty(student):
    """Exercise 0.6 (interpret a table): ``student()`` returns the key of :data:`SAME_PENALTY`; the answer is "a"."""
    return questions.check_choice(
        "Exercise 0.6 — interpret: why do u and −u get the same λR?", student, "a", options=SAME_PENALTY,
        hints={"b": "−u is not the inverse of u (the inverse v solves v(x) = −u(x + v(x))), and R never warps anything.",
               "c": "try it: R(−u) = Σ mean(∂(−u_j)/∂x_k)² for any u. No coincidence is needed.",
               "d": "the MSE is C, not R: and C differs a lot between u and −u (0.0003 vs 0.0195)."},
        why="R(−u) = R(u) for every quadratic regularizer: R alone cannot tell the right direction, only C can.")
