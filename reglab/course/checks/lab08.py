"""Checkers for Lab 08 — Evaluation.

Every function takes the student's function, runs it on several cases (2D and
3D, batches, odd and non-square sizes, anisotropic spacing) and compares with
reglab's own implementation (:mod:`reglab.evaluation`). When an answer is
wrong, the diagnose functions recognise the usual mistakes of that measure.
"""

import torch
import torch.nn.functional as F

from reglab import evaluation
from reglab.course.checks.core import Case, run_check, same
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


def check_dice(dice):
    """Exercise 8.1: ``dice(fixed, moving, labels) -> (B, L)``: ``2 |F ∩ M| / (|F| + |M|)`` per label, 1 if absent."""
    g = _generator()
    cases = []
    for batch, size, count, labels in [(1, (9, 11), 3, [1, 2, 3]), (2, (6, 7, 5), 2, [1, 2]),
                                       (3, (13, 4), 3, [2, 3]), (1, (8, 8), 2, [1, 2, 5])]:
        fixed, moving = _label_map(batch, size, count, g), _label_map(batch, size, count, g)
        extra = ", label 5 in neither map" if 5 in labels else ""
        cases.append(Case(_describe(size, batch, extra), (fixed, moving, labels),
                          evaluation.dice(fixed, moving, labels=labels)))

    def is_iou(answer, case):
        fixed, moving, labels = case.args
        if same(answer, evaluation.iou(fixed, moving, labels=labels)):
            return "this is IoU, |F ∩ M| / |F ∪ M|. Dice divides 2 |F ∩ M| by |F| + |M| (DSC = 2 IoU / (1 + IoU))."

    def half(answer, case):
        if same(answer, case.expected / 2):
            return "each value is half the right one: Dice has a factor 2 in the numerator."

    def foreground(answer, case):
        fixed, moving, labels = case.args
        binary = evaluation.dice(fixed > 0, moving > 0).expand(-1, len(labels))
        if same(answer, binary):
            return "you compared the whole foreground (label > 0) once; compare each label l separately: (fixed == l), (moving == l)."

    def empty(answer, case):
        if isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape and answer.isnan().any():
            return "a label absent from both maps gives 0 / 0 = NaN; the contract says return 1 there (torch.where)."

    return run_check("Exercise 8.1 — Dice per label", dice, cases, diagnose=[is_iou, half, foreground, empty])


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


def check_hd95(hd95):
    """Exercise 8.2: ``hd95(fixed, moving, spacing) -> ()``: max of the two directed 95th percentiles, in mm."""
    outlier = _box((20, 24), (6, 6), (14, 16))
    moving_outlier = torch.roll(outlier, 1, dims=1)
    moving_outlier[0, 23] = True
    masks = [
        ("2D squares 2 columns apart", _box((12, 15), (3, 3), (9, 9)), _box((12, 15), (3, 5), (9, 11)), (1.0, 1.0)),
        ("2D, one stray voxel far away", outlier, moving_outlier, (1.0, 1.0)),
        ("2D, anisotropic spacing (2.0, 0.5) mm", _ellipsoid((17, 30), (8, 14), (6, 11)),
         _ellipsoid((17, 30), (9, 16), (5, 9)), (2.0, 0.5)),
        ("3D ellipsoids, spacing (1.5, 1.0, 0.7) mm", _ellipsoid((11, 14, 13), (5, 7, 6), (4, 5, 5)),
         _ellipsoid((11, 14, 13), (6, 7, 7), (3, 5, 4)), (1.5, 1.0, 0.7)),
    ]
    cases = [Case(name, (f, m, spacing), _hd95_reference(f, m, spacing, percentile=95)) for name, f, m, spacing in masks]

    def pooled(answer, case):
        f, m, spacing = case.args
        if same(answer, _hd95_reference(f, m, spacing, percentile=95, pooled=True)):
            return ("you took one percentile of both distance sets pooled together (medpy's variant); HD95 is the larger "
                    "of the two directed 95th percentiles: max(d95(F → M), d95(M → F)).")

    def maximum(answer, case):
        f, m, spacing = case.args
        if same(answer, _hd95_reference(f, m, spacing)):
            return "this is the Hausdorff distance (the maximum); take the 95th percentile of each direction instead."

    def voxels(answer, case):
        f, m, spacing = case.args
        if same(answer, _hd95_reference(f, m, None, percentile=95)):
            return "this is in voxels: multiply the voxel coordinates by the spacing before measuring distances."

    def reversed_spacing(answer, case):
        f, m, spacing = case.args
        if same(answer, _hd95_reference(f, m, spacing[::-1], percentile=95)):
            return "the spacing is applied in reversed order: spacing[i] belongs to tensor axis i (not SimpleITK's x, y, z)."

    def one_direction(answer, case):
        f, m, spacing = case.args
        scale = torch.tensor(spacing)
        a = (evaluation.surface_voxels(f[None, None])[0, 0] & f).nonzero().float() * scale
        b = (evaluation.surface_voxels(m[None, None])[0, 0] & m).nonzero().float() * scale
        distances = torch.cdist(a, b)
        for directed in (distances.amin(1), distances.amin(0)):
            if same(answer, evaluation._percentile(directed, 95)):
                return "this is only one direction; HD95 is symmetric: the max of d95(F → M) and d95(M → F)."

    def all_voxels(answer, case):
        f, m, spacing = case.args
        scale = torch.tensor(spacing)
        a, b = f.nonzero().float() * scale, m.nonzero().float() * scale
        distances = torch.cdist(a, b)
        both = torch.maximum(evaluation._percentile(distances.amin(1), 95), evaluation._percentile(distances.amin(0), 95))
        if same(answer, both):
            return "you used all voxels of the masks; HD95 measures between the boundaries (surface_voxels)."

    return run_check("Exercise 8.2 — HD95", hd95, cases,
                     diagnose=[pooled, maximum, voxels, all_voxels, reversed_spacing, one_direction])


# ---------------------------------------------------------------- Exercise 8.3


def _numpy_style(u):
    """det(I + ∇u) with torch.gradient: central inside, full one-sided differences at the border."""
    ndim = u.shape[1]
    rows = [torch.stack(torch.gradient(u[:, i], dim=tuple(range(1, ndim + 1))), dim=1) for i in range(ndim)]
    matrix = torch.stack(rows, dim=1) + torch.eye(ndim).reshape(1, ndim, ndim, *[1] * ndim)
    return torch.linalg.det(matrix.movedim(1, -1).movedim(1, -1))


def check_jacobian_determinant(jacobian_determinant):
    """Exercise 8.3: ``jacobian_determinant(u) -> (B, *spatial)``: det(I + ∇u), central differences, border repeated."""
    g = _generator()
    cases = []
    for batch, size, magnitude in [(1, (7, 9), 1.0), (2, (5, 6, 7), 0.8), (3, (11, 5), 2.5), (1, (4, 4, 4), 1.5)]:
        u = _smooth_field(batch, size, magnitude, g)
        folds = evaluation.folding_fraction(u).max().item() > 0
        cases.append(Case(_describe(size, batch, ", with folding" if folds else ""), (u,),
                          evaluation.jacobian_determinant(u)))

    def no_identity(answer, case):
        u = case.args[0]
        ndim = u.shape[1]
        gradient = evaluation._derivatives(u, "central")                           # [j] -> ∂u/∂x_j
        entries = [[gradient[j][:, i] for j in range(ndim)] for i in range(ndim)]
        if same(answer, evaluation._determinant(entries)):
            return "this is det(∇u); the transformation is y(x) = x + u(x), so take det(I + ∇u): add 1 on the diagonal."

    def border(answer, case):
        u = case.args[0]
        if same(answer, _numpy_style(u)):
            return ("the inside is right, the border is not: ITK (and this exercise) repeats the border value, so the "
                    "border difference is (u[1] − u[0]) / 2, not np.gradient's one-sided u[1] − u[0]. Pad with "
                    "F.pad(u, (1, 1) * ndim, mode='replicate').")

    def forward(answer, case):
        u = case.args[0]
        if same(answer, evaluation.jacobian_determinant(u, stencil="forward")):
            return "these are forward differences u[i+1] − u[i]; use central ones: (u[i+1] − u[i−1]) / 2."

    def channels(answer, case):
        u = case.args[0]
        if same(answer, evaluation.jacobian_determinant(u.flip(1))):
            return "channel i of u moves along tensor axis i; you paired the channels with the axes in reverse (x, y) order."

    return run_check("Exercise 8.3 — Jacobian determinant", jacobian_determinant, cases,
                     diagnose=[no_identity, border, forward, channels])


# ---------------------------------------------------------------- Exercise 8.4


def check_tre(tre):
    """Exercise 8.4: ``tre(fixed_points, moving_points, displacement, spacing) -> (B, N)`` in mm."""
    g = _generator()
    cases = []
    for batch, size, count, spacing in [(1, (20, 24), 5, (1.0, 1.0)), (2, (12, 10, 14), 4, (2.0, 1.0, 1.5)),
                                        (1, (15, 9), 6, (0.5, 2.0))]:
        u = _smooth_field(batch, size, 2.0, g)
        limits = torch.tensor(size, dtype=torch.float32) - 1
        fixed_points = torch.rand(batch, count, len(size), generator=g) * limits
        moving_points = warp_points(fixed_points, u) + 0.7 * torch.randn(batch, count, len(size), generator=g)
        description = _describe(size, batch, f", spacing {spacing} mm")
        cases.append(Case(description, (fixed_points, moving_points, u, spacing),
                          evaluation.tre(fixed_points, moving_points, u, spacing=spacing)))

    def mean(answer, case):
        if same(answer, case.expected.mean(dim=1)):
            return "you returned the mean per sample; return every landmark's error, shape (B, N)."

    def wrong_direction(answer, case):
        p, q, u, spacing = case.args
        if same(answer, evaluation.tre(q, p, u, spacing=spacing)) or same(
                answer, evaluation.tre(p, q, -u, spacing=spacing)):
            return ("wrong direction: u lives on the fixed grid, so carry the FIXED landmarks p to p + u(p) "
                    "(reglab.warp_points) and compare them with the moving landmarks q.")

    def voxels(answer, case):
        p, q, u, spacing = case.args
        if same(answer, evaluation.tre(p, q, u)):
            return "this is in voxels: multiply each coordinate difference by the spacing before taking the length."

    def reversed_spacing(answer, case):
        p, q, u, spacing = case.args
        if same(answer, evaluation.tre(p, q, u, spacing=spacing[::-1])):
            return "the spacing is applied in reversed order: spacing[i] belongs to coordinate i (tensor axis order)."

    def before(answer, case):
        p, q, u, spacing = case.args
        if same(answer, evaluation.tre(p, q, spacing=spacing)):
            return "this is the error before registration: the displacement was not used (p ↦ p + u(p))."

    return run_check("Exercise 8.4 — target registration error", tre, cases,
                     diagnose=[mean, wrong_direction, voxels, reversed_spacing, before])


# ---------------------------------------------------------------- Questions (issue 18): predict, interpret, tune, debug

from reglab.course.checks.lab05 import ask, choice  # noqa: E402  (appended section: questions)


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
