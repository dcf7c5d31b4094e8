"""Lab 08's checkers: right answers and other right formulations pass; at least five realistic wrong answers per
exercise fail with the one hint that names their mistake (HD95 pairs where either direction is the larger one)."""

import pytest
import torch
import torch.nn.functional as F

from reglab import evaluation
from reglab.course.checks import lab08
from reglab.warping import warp_points
from tests.course.checks.helpers import in_place, noisy, run, table_tests

CHECKS = [lab08.check_dice, lab08.check_hd95, lab08.check_jacobian_determinant, lab08.check_tre]


def dice(fixed, moving, labels):
    scores = []
    for label in labels:
        f, m = fixed == label, moving == label
        both = (f & m).flatten(1).sum(1).float()
        total = (f.flatten(1).sum(1) + m.flatten(1).sum(1)).float()
        scores.append(torch.where(total > 0, 2 * both / total.clamp_min(1), torch.ones_like(total)))
    return torch.stack(scores, dim=1)


def dice_by_iou(fixed, moving, labels):
    """Another right answer: DSC = 2 IoU / (1 + IoU), with nan_to_num for absent labels."""
    columns = []
    for label in labels:
        f, m = (fixed == label).flatten(1), (moving == label).flatten(1)
        iou = (f & m).sum(1) / (f | m).sum(1)
        columns.append((2 * iou / (1 + iou)).nan_to_num(1.0))
    return torch.stack(columns, 1)


def hd95(fixed, moving, spacing):
    scale = torch.tensor(spacing)
    a = (evaluation.surface_voxels(fixed[None, None])[0, 0] & fixed).nonzero().float() * scale
    b = (evaluation.surface_voxels(moving[None, None])[0, 0] & moving).nonzero().float() * scale
    distances = torch.cdist(a, b)
    return torch.maximum(torch.quantile(distances.amin(1), 0.95), torch.quantile(distances.amin(0), 0.95))


def hd95_by_sorting(fixed, moving, spacing):
    """Another right answer: boundaries by erosion (min-pooling with a cross), percentiles by sorting."""
    def boundary(mask):
        padded = F.pad(mask[None, None].float(), (1, 1) * mask.dim(), value=0.0)
        inside = mask.clone()
        for axis in range(mask.dim()):
            for step in (0, 2):
                index = [slice(1, -1)] * mask.dim()
                index[axis] = slice(step, step + mask.shape[axis])
                inside &= padded[0, 0][tuple(index)] > 0
        return (mask & ~inside).nonzero().float() * torch.tensor(spacing)

    def percentile(values):
        ordered = values.sort().values
        position = 0.95 * (len(ordered) - 1)
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (position - low) * (ordered[high] - ordered[low])

    distances = torch.cdist(boundary(fixed), boundary(moving))
    return torch.maximum(percentile(distances.amin(1)), percentile(distances.amin(0)))


def jacobian_determinant(u):
    return lab08._jacobian(u)


def jacobian_2d_3d_by_hand(u):
    """Another right answer: the 2 × 2 and 3 × 3 determinants written out (the rule of Sarrus)."""
    ndim = u.shape[1]
    padded = F.pad(u, (1, 1) * ndim, mode="replicate")
    d = [[None] * ndim for _ in range(ndim)]
    for j in range(ndim):
        ahead, behind = [slice(1, -1)] * ndim, [slice(1, -1)] * ndim
        ahead[j], behind[j] = slice(2, None), slice(0, -2)
        difference = (padded[(..., *ahead)] - padded[(..., *behind)]) / 2
        for i in range(ndim):
            d[i][j] = difference[:, i] + (1.0 if i == j else 0.0)
    if ndim == 2:
        return d[0][0] * d[1][1] - d[0][1] * d[1][0]
    return (d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1]) - d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0])
            + d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0]))


def tre(p, q, u, spacing):
    return ((warp_points(p, u) - q) * torch.tensor(spacing)).norm(dim=-1)


def tre_by_hand(p, q, u, spacing):
    """Another right answer: u sampled at p with grid_sample, lengths as sqrt of summed squares."""
    size = u.shape[2:]
    ndim = len(size)
    normalized = (2 * p / torch.tensor([n - 1.0 for n in size]) - 1).flip(-1)         # (B, N, ndim), (x, y[, z])
    sampling = normalized.reshape(p.shape[0], p.shape[1], *[1] * (ndim - 1), ndim)
    values = F.grid_sample(u, sampling, align_corners=True).reshape(p.shape[0], ndim, -1).transpose(1, 2)
    return (((p + values - q) * torch.tensor(spacing)) ** 2).sum(-1).sqrt()


RIGHT = [(lab08.check_dice, dice), (lab08.check_dice, dice_by_iou),
         (lab08.check_hd95, hd95), (lab08.check_hd95, hd95_by_sorting),
         (lab08.check_jacobian_determinant, jacobian_determinant),
         (lab08.check_jacobian_determinant, jacobian_2d_3d_by_hand),
         (lab08.check_tre, tre), (lab08.check_tre, tre_by_hand)]

WRONG = [
    (lab08.check_dice, lambda f, m, labels: lab08._dice(f, m, labels, measure="iou"), "this is IoU"),
    (lab08.check_dice, lambda f, m, labels: lab08._dice(f, m, labels, measure="half"), "factor 2"),
    (lab08.check_dice, lambda f, m, labels: dice(f > 0, m > 0, [True]).expand(-1, len(labels)), "whole foreground"),
    (lab08.check_dice, lambda f, m, labels: torch.stack([
        2 * ((f == k) & (m == k)).flatten(1).sum(1) / ((f == k).flatten(1).sum(1) + (m == k).flatten(1).sum(1))
        for k in labels], 1), "0 / 0 = NaN"),
    (lab08.check_dice, lambda f, m, labels: lab08._dice(f, m, labels, empty=0.0), "scores 1, not 0"),
    (lab08.check_dice, lambda f, m, labels: lab08._dice(f, m, labels, pooled=True), "over the whole batch"),
    (lab08.check_dice, lambda f, m, labels: dice(f, m, labels).T, "is (len(labels), B)"),
    (lab08.check_dice, noisy(dice, dtype=torch.float64), "keep the input's dtype"),
    (lab08.check_dice, lambda f, m, labels: evaluation.dice(f, m, labels=labels), "this calls reglab.evaluation.dice"),
    (lab08.check_hd95, lambda f, m, s: lab08._hd95(f, m, s, combine="pooled"), "pooled together"),
    (lab08.check_hd95, lambda f, m, s: lab08._hd95(f, m, s, q=1.0), "the Hausdorff distance (the maximum)"),
    (lab08.check_hd95, lambda f, m, s: hd95(f, m, (1.0,) * f.dim()), "this is in voxels"),
    (lab08.check_hd95, lambda f, m, s: hd95(f, m, tuple(s)[::-1]), "reversed order"),
    (lab08.check_hd95, lambda f, m, s: lab08._hd95(f, m, s, combine="there"), "only d95(F → M)"),
    (lab08.check_hd95, lambda f, m, s: lab08._hd95(f, m, s, combine="back"), "only d95(M → F)"),
    (lab08.check_hd95, lambda f, m, s: lab08._hd95(f, m, s, combine="mean"), "you averaged the two"),
    (lab08.check_hd95, lambda f, m, s: lab08._hd95(f, m, s, surface=False), "all voxels"),
    (lab08.check_hd95, lambda f, m, s: hd95(f, m, s).item(), "return a torch.Tensor, not a float"),
    (lab08.check_hd95, lambda f, m, s: evaluation.hd95(f[None, None], m[None, None], spacing=s)[0, 0],
     "this calls reglab.evaluation.hd95"),
    (lab08.check_jacobian_determinant, lambda u: lab08._jacobian(u, identity=False), "det(∇u)"),
    (lab08.check_jacobian_determinant, lambda u: lab08._jacobian(u, padding="numpy"), "np.gradient"),
    (lab08.check_jacobian_determinant, lambda u: lab08._jacobian(u, stencil="forward"), "forward differences"),
    (lab08.check_jacobian_determinant, lambda u: jacobian_determinant(u.flip(1)), "reverse (x, y) order"),
    (lab08.check_jacobian_determinant, lambda u: lab08._jacobian(u, padding="zeros"), "padded with zeros"),
    (lab08.check_jacobian_determinant, lambda u: lab08._jacobian(u, halve=False), "divide u[i+1] − u[i−1] by 2"),
    (lab08.check_jacobian_determinant, lambda u: lab08._jacobian(u, padding="roll"), "torch.roll wraps around"),
    (lab08.check_jacobian_determinant, lambda u: jacobian_determinant(u)[:, None], "no channel axis"),
    (lab08.check_jacobian_determinant, in_place(jacobian_determinant), "work on a copy"),
    (lab08.check_jacobian_determinant, lambda u: evaluation.jacobian_determinant(u), "this calls reglab.evaluation"),
    (lab08.check_tre, lambda p, q, u, s: tre(p, q, u, s).mean(1), "mean per sample"),
    (lab08.check_tre, lambda p, q, u, s: tre(q, p, u, s), "q + u(q) has no meaning"),
    (lab08.check_tre, lambda p, q, u, s: tre(p, q, -u, s), "not p − u(p)"),
    (lab08.check_tre, lambda p, q, u, s: (warp_points(p, u) - q).norm(dim=-1), "this is in voxels"),
    (lab08.check_tre, lambda p, q, u, s: tre(p, q, u, tuple(s)[::-1]), "reversed order"),
    (lab08.check_tre, lambda p, q, u, s: ((p - q) * torch.tensor(s)).norm(dim=-1), "before registration"),
    (lab08.check_tre, lambda p, q, u, s: ((warp_points(p, u) - q) * torch.tensor(s)).pow(2).sum(-1),
     "the squared distance"),
    (lab08.check_tre, lambda p, q, u, s: lab08._tre(p, q, u, s, nearest=True), "the nearest voxel"),
    (lab08.check_tre, lambda p, q, u, s: evaluation.tre(p, q, u, spacing=s), "this calls reglab.evaluation.tre"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)


@pytest.mark.parametrize("direction", ["there", "back"])
def test_each_single_direction_of_hd95_fails_on_some_case(direction):
    """In one case F → M is the larger direction, in another M → F: either one alone fails somewhere."""
    result, out = run(lab08.check_hd95, lambda f, m, s: lab08._hd95(f, m, s, combine=direction))
    assert 0 < result.passed < result.total, out
