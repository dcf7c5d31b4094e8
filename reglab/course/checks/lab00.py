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
"""

import torch
import torch.nn.functional as F

from reglab import evaluation, regularization, similarity, warping
from reglab.course.checks.core import Case, run_check, same


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


def check_bounding_box(student):
    """Exercise 0.1: ``bounding_box(mask) -> (B, ndim, 2)`` inclusive [first, last] index per axis."""
    g = _generator()
    shapes = [(1, 9, 9), (2, 7, 12), (1, 6, 5, 8), (3, 5, 9, 4)]
    cases = []
    for batch, *size in shapes:
        mask = _random_blob(batch, size, g)
        cases.append(Case(f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}", (mask,), bounding_box(mask)))

    def exclusive(answer, case):
        expected = case.expected.clone()
        expected[..., 1] += 1
        if same(answer, expected):
            return "your upper ends are one too far: return the index of the last voxel inside (inclusive), not last + 1."

    def no_batch(answer, case):
        if isinstance(answer, torch.Tensor) and case.expected.shape[0] == 1 and same(answer, case.expected[0]):
            return "almost: keep the batch axis, the result is (B, ndim, 2)."

    def transposed(answer, case):
        if same(answer, case.expected.transpose(1, 2)):
            return "your result is (B, 2, ndim): put the axes first, [first, last] last: (B, ndim, 2)."

    return run_check("Exercise 0.1 — bounding box / cuboid", student, cases,
                     diagnose=[exclusive, no_batch, transposed])


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


def _boundary(mask, *, cube, edge_outside):
    """Variants for the hints: any outside neighbour in the full cube (or faces only), the grid's edge outside or not."""
    ndim = mask.dim() - 2
    outside = F.pad((~mask).float(), [1, 1] * ndim, value=1.0 if edge_outside else 0.0)
    if cube:
        pool = F.max_pool2d if ndim == 2 else F.max_pool3d
        return mask & (pool(outside, 3, stride=1) > 0)
    found = torch.zeros_like(mask)
    for axis in range(ndim):
        for shift in (0, 2):
            index = [slice(1, -1)] * ndim
            index[axis] = slice(shift, shift + mask.shape[axis + 2])
            found = found | (outside[(slice(None), slice(None), *index)] > 0)
    return mask & found


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

    def cube(answer, case):
        if same(answer, _boundary(case.args[0], cube=True, edge_outside=True)):
            return ("you counted diagonal neighbours too; a point of the surface has a *face* neighbour outside "
                    "(4 neighbours in 2D, 6 in 3D).")

    def outer(answer, case):
        mask = case.args[0]
        if same(answer, evaluation.surface_voxels(mask.long()) & ~mask):
            return "these are the background voxels next to the mask; return the mask's own voxels that touch the outside."

    def edge(answer, case):
        if same(answer, _boundary(case.args[0], cube=False, edge_outside=False)):
            return "voxels on the edge of the grid are on the surface too: treat everything outside the grid as outside the mask."

    return run_check("Exercise 0.2 — a point cloud: the surface of a mask", student, cases,
                     diagnose=[cube, outer, edge])


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
    probabilities = (torch.arange(k, dtype=values.dtype, device=values.device) + 0.5) / k
    centres = torch.quantile(values, probabilities)
    for _ in range(iterations):
        assignment = (values[:, None] - centres[None]).abs().argmin(dim=1)
        sums = torch.zeros_like(centres).index_add(0, assignment, values)
        counts = torch.zeros_like(centres).index_add(0, assignment, torch.ones_like(values))
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
    centres, order = centres.sort()
    assignment = (values[:, None] - centres[None]).abs().argmin(dim=1)
    return centres, assignment


def check_kmeans(student):
    """Exercise 0.3: ``kmeans(values, k, iterations) -> (centres (k,), assignment (N,))``."""
    g = _generator()
    cases = []
    for n, k in [(60, 2), (200, 3), (501, 4)]:
        means = torch.linspace(0.1, 0.9, k)
        values = (means[torch.randint(0, k, (n,), generator=g)] + 0.03 * torch.randn(n, generator=g)).clamp(0, 1)
        cases.append(Case(f"{n} values, k = {k}", (values, k, 20), kmeans(values, k, 20), atol=1e-4))
    values = torch.rand(300, generator=g) ** 2
    cases.append(Case("300 skewed values, k = 3, 5 iterations", (values, 3, 5), kmeans(values, 3, 5), atol=1e-4))

    def unsorted(answer, case):
        if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], torch.Tensor):
            centres = answer[0]
            if centres.shape == case.expected[0].shape and same(centres.sort().values, case.expected[0]) \
                    and not same(centres, case.expected[0]):
                return "right centres, wrong order: sort them ascending (and number the clusters in that order)."

    def not_updated(answer, case):
        values, k, _ = case.args
        start = torch.quantile(values, (torch.arange(k, dtype=values.dtype) + 0.5) / k)
        if isinstance(answer, tuple) and isinstance(answer[0], torch.Tensor) and same(answer[0], start):
            return "the centres never moved: after assigning, set each centre to the mean of its values, and repeat."

    return run_check("Exercise 0.3 — k-means on intensities", student, cases, diagnose=[unsorted, not_updated])


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


def check_objective(student):
    """Exercise 0.4: ``objective(fixed, moving, displacement, lam) -> scalar tensor``."""
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

    def no_warp(answer, case):
        fixed, moving, u, lam = case.args
        if same(answer, similarity.mse(fixed, moving) + lam * regularization.diffusion(u)):
            return "C must compare F with the *warped* moving image T(M) = warp(moving, u), not with M itself."

    def warped_fixed(answer, case):
        fixed, moving, u, lam = case.args
        if same(answer, similarity.mse(warping.warp(fixed, u), moving) + lam * regularization.diffusion(u)):
            return "you warped the fixed image: the moving image is the one that moves, warp(moving, u)."

    def no_regularization(answer, case):
        fixed, moving, u, lam = case.args
        if lam and same(answer, similarity.mse(fixed, warping.warp(moving, u))):
            return "the regularization term is missing: add lam * R(u) (reglab.regularization.diffusion)."

    def summed(answer, case):
        fixed, moving, u, lam = case.args
        if same(answer, similarity.ssd(fixed, warping.warp(moving, u)) + lam * regularization.diffusion(u)):
            return "C should be the mean squared difference (reglab.similarity.mse), not the sum (ssd)."

    return run_check("Exercise 0.4 — the registration objective O = C + λR", student, cases,
                     diagnose=[no_warp, warped_fixed, no_regularization, summed])
