"""Checkers for Lab 08 — Evaluation.

Every function takes the student's function, runs it on several cases (2D and
3D, batches, odd and non-square sizes, anisotropic spacing, asymmetric pairs)
and compares with reglab's own implementation (:mod:`reglab.evaluation`). When
an answer is wrong, the typical mistakes of that measure name what went wrong.

It is longer than ~300 lines because it is one thing, this lab's checkers: the cases and the typical
mistakes of its four exercises, then its two question checkers. It reads top to bottom, exercise by
exercise (one ``# ---- Exercise 8.N`` section each), the questions last.
"""

import torch
import torch.nn.functional as F

from reglab import evaluation
from reglab.course.checks.core import Case, Mistake, run_check
from reglab.course.checks.questions import ask, choice
from reglab.evaluation import surface_distance
from reglab.warping import warp_points


def _generator():
    return torch.Generator().manual_seed(8)


def _smooth_field(batch, size, magnitude, generator):
    """A smooth random displacement ``(B, ndim, *size)``: coarse noise upsampled."""
    ndim = len(size)
    coarse = torch.randn(batch, ndim, *[3] * ndim, generator=generator) * magnitude
    return F.interpolate(coarse, size=size, mode="bilinear" if ndim == 2 else "trilinear", align_corners=True)


def _label_map(batch, size, labels, generator):
    """Smooth random label maps ``(B, 1, *size)`` with values ``0 … labels``."""
    ndim = len(size)
    coarse = torch.rand(batch, 1, *[4] * ndim, generator=generator)
    smooth = F.interpolate(coarse, size=size, mode="bilinear" if ndim == 2 else "trilinear", align_corners=True)
    edges = torch.linspace(0.3, 0.75, labels)
    return torch.bucketize(smooth, edges).long()


def _describe(size, batch=1, extra=""):
    return f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}{extra}"


# ---------------------------------------------------------------- Exercise 8.1


def _dice(fixed, moving, labels, *, measure="dice", empty=1.0, pooled=False):
    """Dice per label written out, and its slips: IoU, no factor 2, the batch pooled, another value when empty."""
    scores = []
    for label in labels:
        f, m = (fixed == label).flatten(1), (moving == label).flatten(1)
        if pooled:
            f, m = f.reshape(1, -1).expand(fixed.shape[0], -1), m.reshape(1, -1).expand(fixed.shape[0], -1)
        both = (f & m).sum(1).float()
        total = (f.sum(1) + m.sum(1)).float()
        union = (f | m).sum(1).float()
        value = {"dice": 2 * both / total, "iou": both / union, "half": both / total}[measure]
        scores.append(torch.where(total > 0, value, torch.full_like(total, empty)))
    return torch.stack(scores, dim=1)


DICE_MISTAKES = [
    Mistake("this is IoU, |F ∩ M| / |F ∪ M|. Dice divides 2 |F ∩ M| by |F| + |M| (DSC = 2 IoU / (1 + IoU)).",
            output=lambda f, m, labels: _dice(f, m, labels, measure="iou")),
    Mistake("each value is half the right one: Dice has a factor 2 in the numerator.",
            output=lambda f, m, labels: _dice(f, m, labels, measure="half")),
    Mistake("you compared the whole foreground (label > 0) once; compare each label l separately: (fixed == l), "
            "(moving == l).", output=lambda f, m, labels: _dice(f > 0, m > 0, [True]).expand(-1, len(labels))),
    Mistake("a label absent from both maps gives 0 / 0 = NaN; the contract says return 1 there (torch.where).",
            output=lambda f, m, labels: _dice(f, m, labels, empty=float("nan"))),
    Mistake("a label in neither map scores 1, not 0: two empty sets agree (torch.where(total > 0, …, 1)).",
            output=lambda f, m, labels: _dice(f, m, labels, empty=0.0)),
    Mistake("the counts were summed over the whole batch: count per sample, .flatten(1).sum(1), one row per sample.",
            output=lambda f, m, labels: _dice(f, m, labels, pooled=True)),
    Mistake("the result is (len(labels), B): stack the labels' scores along dim=1, one row per sample.",
            derive=lambda e: e.T),
]


def check_dice(dice):
    """Exercise 8.1: ``dice(fixed, moving, labels) -> (B, L)``: ``2 |F ∩ M| / (|F| + |M|)`` per label, 1 if absent."""
    g = _generator()
    cases = []
    for batch, size, count, labels in [(1, (9, 11), 3, [1, 2, 3]), (2, (6, 7, 5), 2, [1, 2]),
                                       (3, (13, 4), 3, [2, 3]), (1, (8, 8), 2, [1, 2, 5]),
                                       (2, (10, 7), 3, [1, 2, 3, 7])]:
        fixed, moving = _label_map(batch, size, count, g), _label_map(batch, size, count, g)
        if batch == 2 and len(size) == 2:
            moving[1][moving[1] == 3] = 0                        # a label in one sample only
        extra = "".join(f", label {n} in neither map" for n in labels if n > count)
        cases.append(Case(_describe(size, batch, extra), (fixed, moving, labels),
                          evaluation.dice(fixed, moving, labels=labels)))
    return run_check("Exercise 8.1 — Dice per label", dice, cases, mistakes=DICE_MISTAKES,
                     names=("fixed", "moving", "labels"), forbid=(evaluation.dice,))


check_dice.mistakes = DICE_MISTAKES


# ---------------------------------------------------------------- Exercise 8.2


def _box(size, start, stop):
    mask = torch.zeros(size, dtype=torch.bool)
    mask[tuple(slice(a, b) for a, b in zip(start, stop))] = True
    return mask


def _ellipsoid(size, centre, radii):
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in size], indexing="ij")
    return sum(((a - c) / r) ** 2 for a, c, r in zip(axes, centre, radii)) <= 1


def _hd95_reference(fixed, moving, spacing, **options):
    return evaluation.hausdorff(fixed[None, None], moving[None, None], spacing=spacing, **options)[0, 0]


def _directed(fixed, moving, spacing, *, surface=True):
    """The two directed distance sets ``(F → M, M → F)`` in mm, between boundaries (or all voxels)."""
    scale = torch.tensor(spacing, dtype=torch.float32)
    points = []
    for mask in (fixed, moving):
        chosen = (evaluation.surface_voxels(mask[None, None])[0, 0] & mask) if surface else mask
        points.append(chosen.nonzero().float() * scale)
    distances = torch.cdist(*points)
    return distances.amin(1), distances.amin(0)


def _hd95(fixed, moving, spacing, *, combine="max", q=0.95, surface=True):
    there, back = _directed(fixed, moving, spacing, surface=surface)
    if combine == "pooled":
        return torch.quantile(torch.cat([there, back]), q)
    first, second = torch.quantile(there, q), torch.quantile(back, q)
    return {"max": torch.maximum(first, second), "there": first, "back": second, "mean": (first + second) / 2}[combine]


HD95_MISTAKES = [
    Mistake("you took one percentile of both distance sets pooled together (medpy's variant); HD95 is the larger "
            "of the two directed 95th percentiles: max(d95(F → M), d95(M → F)).",
            output=lambda f, m, s: _hd95(f, m, s, combine="pooled")),
    Mistake("this is the Hausdorff distance (the maximum); take the 95th percentile of each direction instead.",
            output=lambda f, m, s: _hd95(f, m, s, q=1.0)),
    Mistake("this is in voxels: multiply the voxel coordinates by the spacing before measuring distances.",
            output=lambda f, m, s: _hd95(f, m, (1.0,) * len(s))),
    Mistake("the spacing is applied in reversed order: spacing[i] belongs to tensor axis i (not SimpleITK's x, y, z).",
            output=lambda f, m, s: _hd95(f, m, tuple(s)[::-1])),
    Mistake("this is only d95(F → M), the fixed boundary's distances to the moving one; HD95 is symmetric: the max "
            "of d95(F → M) and d95(M → F).", output=lambda f, m, s: _hd95(f, m, s, combine="there")),
    Mistake("this is only d95(M → F), the moving boundary's distances to the fixed one; HD95 is symmetric: the max "
            "of d95(F → M) and d95(M → F).", output=lambda f, m, s: _hd95(f, m, s, combine="back")),
    Mistake("you averaged the two directions; HD95 takes the larger one: max(d95(F → M), d95(M → F)).",
            output=lambda f, m, s: _hd95(f, m, s, combine="mean")),
    Mistake("you used all voxels of the masks; HD95 measures between the boundaries (surface_voxels).",
            output=lambda f, m, s: _hd95(f, m, s, surface=False)),
]


def check_hd95(hd95):
    """Exercise 8.2: ``hd95(fixed, moving, spacing) -> ()``: max of the two directed 95th percentiles, in mm."""
    outlier = _box((20, 24), (6, 6), (14, 16))
    moving_outlier = torch.roll(outlier, 1, dims=1)
    moving_outlier[0, 18:24] = True
    masks = [
        ("2D squares 2 columns apart", _box((12, 15), (3, 3), (9, 9)), _box((12, 15), (3, 5), (9, 11)), (1.0, 1.0)),
        ("2D, a stray strip far away in the moving mask (M → F is the larger)", outlier, moving_outlier, (1.0, 1.0)),
        ("2D, a stray strip far away in the fixed mask (F → M is the larger)", moving_outlier, outlier, (1.0, 1.0)),
        ("2D, small inside large, anisotropic spacing (2.0, 0.5) mm", _box((17, 30), (6, 10), (10, 16)),
         _ellipsoid((17, 30), (8, 14), (7, 13)), (2.0, 0.5)),
        ("2D, anisotropic spacing (2.0, 0.5) mm", _ellipsoid((17, 30), (8, 14), (6, 11)),
         _ellipsoid((17, 30), (9, 16), (5, 9)), (2.0, 0.5)),
        ("3D ellipsoids, spacing (1.5, 1.0, 0.7) mm", _ellipsoid((11, 14, 13), (5, 7, 6), (4, 5, 5)),
         _ellipsoid((11, 14, 13), (6, 7, 7), (3, 5, 4)), (1.5, 1.0, 0.7)),
    ]
    cases = [Case(name, (f, m, spacing), _hd95_reference(f, m, spacing, percentile=95))
             for name, f, m, spacing in masks]
    return run_check("Exercise 8.2 — HD95", hd95, cases, mistakes=HD95_MISTAKES, names=("fixed", "moving", "spacing"),
                     forbid=(evaluation.hausdorff, surface_distance.hd95))


check_hd95.mistakes = HD95_MISTAKES


# ---------------------------------------------------------------- Exercise 8.3


def _jacobian(u, *, padding="replicate", stencil="central", identity=True, halve=True, flip=False, keep=False):
    """det(I + ∇u) written out, and its slips: other borders, forward differences, no I, no ½, reversed channels."""
    ndim = u.shape[1]
    if flip:
        u = u.flip(1)
    size = u.shape[2:]
    columns = []
    for j in range(ndim):
        if padding == "numpy":
            columns.append(torch.gradient(u, dim=2 + j)[0])
            continue
        if padding == "roll":
            ahead, behind = u.roll(-1, 2 + j), u.roll(1, 2 + j)
        else:
            padded = F.pad(u, (1, 1) * ndim, mode=padding) if padding == "replicate" else F.pad(u, (1, 1) * ndim)
            inner = [slice(1, n + 1) for n in size]
            a, b = list(inner), list(inner)
            a[j], b[j] = slice(2, size[j] + 2), slice(0, size[j])
            ahead, behind = padded[(..., *a)], padded[(..., *b)]
        if stencil == "forward":
            behind = u
        difference = ahead - behind
        columns.append(difference / 2 if halve and stencil == "central" else difference)
    matrix = torch.stack(columns, dim=-1).movedim(1, -2)                       # (B, *size, i, j)
    if identity:
        matrix = matrix + torch.eye(ndim, dtype=u.dtype)
    det = torch.linalg.det(matrix)
    return det[:, None] if keep else det


JACOBIAN_MISTAKES = [
    Mistake("this is det(∇u); the transformation is y(x) = x + u(x), so take det(I + ∇u): add 1 on the diagonal.",
            output=lambda u: _jacobian(u, identity=False)),
    Mistake("the inside is right, the border is not: ITK (and this exercise) repeats the border value, so the "
            "border difference is (u[1] − u[0]) / 2, not np.gradient's one-sided u[1] − u[0]. Pad with "
            "F.pad(u, (1, 1) * ndim, mode='replicate').", output=lambda u: _jacobian(u, padding="numpy")),
    Mistake("these are forward differences u[i+1] − u[i]; use central ones: (u[i+1] − u[i−1]) / 2.",
            output=lambda u: _jacobian(u, stencil="forward")),
    Mistake("channel i of u moves along tensor axis i; you paired the channels with the axes in reverse (x, y) order.",
            output=lambda u: _jacobian(u, flip=True)),
    Mistake("the border is padded with zeros: repeat the border value instead, F.pad(u, (1, 1) * ndim, "
            "mode='replicate') (a displacement does not drop to 0 outside the image).",
            output=lambda u: _jacobian(u, padding="zeros")),
    Mistake("a central difference spans two voxels: divide u[i+1] − u[i−1] by 2.",
            output=lambda u: _jacobian(u, halve=False)),
    Mistake("torch.roll wraps around: the first voxel's neighbour became the last voxel. Pad with mode='replicate' "
            "instead.", output=lambda u: _jacobian(u, padding="roll")),
    Mistake("return (B, *spatial): the determinant has no channel axis (drop the 1).",
            output=lambda u: _jacobian(u, keep=True)),
]


def check_jacobian_determinant(jacobian_determinant):
    """Exercise 8.3: ``jacobian_determinant(u) -> (B, *spatial)``: det(I + ∇u), central differences, border repeated."""
    g = _generator()
    cases = []
    for batch, size, magnitude in [(1, (7, 9), 1.0), (2, (5, 6, 7), 0.8), (3, (11, 5), 2.5), (1, (4, 4, 4), 1.5)]:
        u = _smooth_field(batch, size, magnitude, g)
        folds = evaluation.folding_fraction(u).max().item() > 0
        cases.append(Case(_describe(size, batch, ", with folding" if folds else ""), (u,),
                          evaluation.jacobian_determinant(u)))
    return run_check("Exercise 8.3 — Jacobian determinant", jacobian_determinant, cases, mistakes=JACOBIAN_MISTAKES,
                     names=("u",), forbid=(evaluation.jacobian_determinant,))


check_jacobian_determinant.mistakes = JACOBIAN_MISTAKES


# ---------------------------------------------------------------- Exercise 8.4


def _tre(p, q, u, spacing, *, carry="fixed", sign=1.0, use_u=True, power=1, nearest=False, reduce=False):
    """``|(p + u(p)) − q|`` in mm, and its slips."""
    start, target = (p, q) if carry == "fixed" else (q, p)
    if not use_u:
        mapped = start
    elif nearest:
        index = start.round().long()
        for axis, n in enumerate(u.shape[2:]):
            index[..., axis] = index[..., axis].clamp(0, n - 1)
        rows = []
        for b in range(u.shape[0]):
            rows.append(u[b][(slice(None), *index[b].unbind(-1))].T)             # (N, ndim)
        mapped = start + sign * torch.stack(rows)
    else:
        mapped = warp_points(start, sign * u)
    difference = (mapped - target) * torch.tensor(spacing, dtype=p.dtype)
    value = difference.pow(2).sum(-1) if power == 2 else difference.norm(dim=-1)
    return value.mean(1) if reduce else value


TRE_MISTAKES = [
    Mistake("you returned the mean per sample; return every landmark's error, shape (B, N).",
            output=lambda p, q, u, s: _tre(p, q, u, s, reduce=True)),
    Mistake("wrong direction: u lives on the fixed grid, so carry the FIXED landmarks p to p + u(p) "
            "(reglab.warp_points) and compare them with the moving landmarks q; q + u(q) has no meaning.",
            output=lambda p, q, u, s: _tre(p, q, u, s, carry="moving")),
    Mistake("the fixed landmark goes to p + u(p), not p − u(p): warp_points(p, u), the displacement added.",
            output=lambda p, q, u, s: _tre(p, q, u, s, sign=-1.0)),
    Mistake("this is in voxels: multiply each coordinate difference by the spacing before taking the length.",
            output=lambda p, q, u, s: _tre(p, q, u, (1.0,) * len(s))),
    Mistake("the spacing is applied in reversed order: spacing[i] belongs to coordinate i (tensor axis order).",
            output=lambda p, q, u, s: _tre(p, q, u, tuple(s)[::-1])),
    Mistake("this is the error before registration: the displacement was not used (p ↦ p + u(p)).",
            output=lambda p, q, u, s: _tre(p, q, u, s, use_u=False)),
    Mistake("this is the squared distance: take the length, .norm(dim=-1) (the square root of the sum of squares).",
            output=lambda p, q, u, s: _tre(p, q, u, s, power=2)),
    Mistake("u was read at the nearest voxel: landmarks lie between voxels, interpolate u linearly there "
            "(reglab.warp_points).", output=lambda p, q, u, s: _tre(p, q, u, s, nearest=True)),
]


def check_tre(tre):
    """Exercise 8.4: ``tre(fixed_points, moving_points, displacement, spacing) -> (B, N)`` in mm."""
    g = _generator()
    cases = []
    for batch, size, count, spacing in [(1, (20, 24), 5, (1.0, 1.0)), (2, (12, 10, 14), 4, (2.0, 1.0, 1.5)),
                                        (1, (15, 9), 6, (0.5, 2.0)), (3, (11, 16), 3, (1.2, 0.8))]:
        u = _smooth_field(batch, size, 2.0, g)
        limits = torch.tensor(size, dtype=torch.float32) - 1
        fixed_points = torch.rand(batch, count, len(size), generator=g) * limits
        moving_points = warp_points(fixed_points, u) + 0.7 * torch.randn(batch, count, len(size), generator=g)
        description = _describe(size, batch, f", spacing {spacing} mm")
        cases.append(Case(description, (fixed_points, moving_points, u, spacing),
                          evaluation.tre(fixed_points, moving_points, u, spacing=spacing)))
    return run_check("Exercise 8.4 — target registration error", tre, cases, mistakes=TRE_MISTAKES,
                     names=("fixed_points", "moving_points", "displacement", "spacing"), forbid=(evaluation.tre,))


check_tre.mistakes = TRE_MISTAKES


# ---------------------------------------------------------------- Questions predict, interpret, tune, debug


def check_fre_prediction(student):
    """Exercise 8.5 (predict): the FRE of an affine fit to exactly 3 fiducials in 2D."""
    judge = choice({
        "a": "count: a 2D affine map has 6 parameters, and 3 point pairs give 6 equations. How much residual can "
             "a fit with as many unknowns as equations leave?",
        "b": "",
        "c": "more fiducials average the localisation noise out, but they also leave residuals: with 3 there is "
             "nothing left to average.",
    }, "b", "6 equations, 6 unknowns: the affine map passes through every (noisy) fiducial exactly, FRE = 0, and the "
            "fit has absorbed all the localisation error, which it now spreads to every target: a large TRE.")
    return ask("Exercise 8.5 — predict: the FRE of an exact fit", student, judge)


def check_tre_direction_bug(student):
    """Exercise 8.6 (debug): a TRE that carries the moving landmarks through the displacement."""
    judge = choice({
        "a": "the slice has 1 mm voxels: spacing changes nothing here. Look at which landmarks go through u.",
        "b": "",
        "c": "both landmark sets are (row, column), the order of u's channels; reversing them would break the "
             "'before' row too, and that row is right.",
    }, "b", "u lives on the fixed grid: u(p) is defined at fixed points, and p + u(p) is p's position in the moving "
            "image. Carry the fixed landmarks p and compare with their partners q; q + u(q) has no meaning.")
    return ask("Exercise 8.6 — debug a TRE", student, judge)
