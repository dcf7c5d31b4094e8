"""Lab 04's checkers: right answers and other right formulations pass; at least five realistic wrong answers per
exercise fail with the one hint that names their mistake."""

import torch
import torch.nn.functional as F

from reglab import regularization
from reglab.course.checks import lab04
from tests.course.checks.helpers import detached, in_place, own, run, table_tests

CHECKS = [lab04.check_diffusion, lab04.check_curvature, lab04.check_smooth_field, lab04.check_jacobian_2d]
bending_energy = own(regularization.bending_energy)


def diffusion_by_hand(u):
    return sum(u.diff(dim=k + 2).pow(2).sum(1).flatten(1).mean(1) for k in range(u.dim() - 2)).mean()


def curvature_by_laplacian_kernel(u):
    """Another right answer: a 3-point (5-point in 2D, 7-point in 3D) Laplacian by convolution without padding."""
    ndim = u.dim() - 2
    kernel = torch.zeros([3] * ndim)
    centre = tuple([1] * ndim)
    kernel[centre] = -2.0 * ndim
    for axis in range(ndim):
        for side in (0, 2):
            index = list(centre)
            index[axis] = side
            kernel[tuple(index)] = 1.0
    convolve = F.conv2d if ndim == 2 else F.conv3d
    laplacian = convolve(u.reshape(-1, 1, *u.shape[2:]), kernel[None, None]).reshape(*u.shape[:2], -1)
    return laplacian.pow(2).sum(1).mean(1).mean()


def smooth_one_conv(u, sigma):
    """Another right answer: one full (non-separable) kernel, the outer product of the 1D ones."""
    radius = int(3 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=u.dtype)
    k1 = torch.exp(-x**2 / (2 * sigma**2))
    k1 = k1 / k1.sum()
    ndim = u.dim() - 2
    kernel = k1
    for _ in range(ndim - 1):
        kernel = kernel[..., None] * k1
    padded = F.pad(u.reshape(-1, 1, *u.shape[2:]), [radius] * (2 * ndim), mode="replicate")
    return (F.conv2d if ndim == 2 else F.conv3d)(padded, kernel[None, None]).reshape(u.shape)


def jacobian_by_padding(u):
    d0 = F.pad(u.diff(dim=2), (0, 0, 0, 1))
    d1 = F.pad(u.diff(dim=3), (0, 1))
    return (1 + d0[:, 0]) * (1 + d1[:, 1]) - d1[:, 0] * d0[:, 1]


RIGHT = [(lab04.check_diffusion, diffusion_by_hand), (lab04.check_diffusion, lambda u: lab04._diffusion(u)),
         (lab04.check_curvature, curvature_by_laplacian_kernel), (lab04.check_curvature, lambda u: lab04._curvature(u)),
         (lab04.check_smooth_field, lambda u, s: lab04._smooth(u, s)), (lab04.check_smooth_field, smooth_one_conv),
         (lab04.check_jacobian_2d, jacobian_by_padding), (lab04.check_jacobian_2d, lambda u: lab04._jacobian_2d(u))]


def _smooth_2d_only(u, sigma):
    radius = int(3 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=u.dtype)
    k = torch.exp(-x**2 / (2 * sigma**2))
    k = k / k.sum()
    out = u.reshape(-1, 1, *u.shape[2:])
    out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="replicate"), k.reshape(1, 1, -1, 1))
    out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="replicate"), k.reshape(1, 1, 1, -1))
    return out.reshape(u.shape)


WRONG = [
    (lab04.check_diffusion, lambda u: lab04._diffusion(u, total=True), "summed over the voxels"),
    (lab04.check_diffusion, lambda u: lab04._diffusion(u, reduce_axes="mean"), "Σ_j Σ_k"),
    (lab04.check_diffusion, lambda u: lab04._diffusion(u, stencil="central"), "central differences"),
    (lab04.check_diffusion, lambda u: lab04._diffusion(u, components="mean"), "Σ_j Σ_k"),
    (lab04.check_diffusion, lambda u: lab04._diffusion(u, power=1), "square the differences"),
    (lab04.check_diffusion, lambda u: diffusion_by_hand(u).item(), "not a float"),
    (lab04.check_diffusion, detached(diffusion_by_hand), "must be differentiable"),
    (lab04.check_diffusion, lambda u: regularization.diffusion(u), "this calls reglab.regularization.diffusion"),
    (lab04.check_curvature, bending_energy, "bending energy"),
    (lab04.check_curvature, lambda u: lab04._curvature(u, square_each=True), "add them first"),
    (lab04.check_curvature, lambda u: lab04._curvature(u, padding="zeros"), "inner voxels only"),
    (lab04.check_curvature, lambda u: lab04._curvature(u, components="mean"), "sum (Δu_j)²"),
    (lab04.check_curvature, lambda u: lab04._curvature(u, power=1), "square the Laplacian"),
    (lab04.check_curvature, in_place(lambda u: lab04._curvature(u)), "work on a copy"),
    (lab04.check_smooth_field, lambda u, s: lab04._smooth(u, s, padding="zeros"), "mode='replicate'"),
    (lab04.check_smooth_field, lambda u, s: lab04._smooth(u, s, normalize=False), "sum to 1"),
    (lab04.check_smooth_field, lambda u, s: lab04._smooth(u, s, radius=int(3 * s)), "int(3σ + 0.5)"),
    (lab04.check_smooth_field, lambda u, s: lab04._smooth(u, s, variance=True), "standard deviation"),
    (lab04.check_smooth_field, lambda u, s: lab04._smooth(u, s, axes=(0,)), "every spatial axis"),
    (lab04.check_smooth_field, _smooth_2d_only, "works in 2D but raised NotImplementedError on a 3D case"),
    (lab04.check_jacobian_2d, lambda u: lab04._jacobian_2d(u, identity=False), "det(∇u)"),
    (lab04.check_jacobian_2d, lambda u: lab04._jacobian_2d(u.flip(1)), "check the pairing"),
    (lab04.check_jacobian_2d, lambda u: lab04._jacobian_2d(u, stencil="central"), "uses forward ones"),
    (lab04.check_jacobian_2d, lambda u: lab04._jacobian_2d(u, wrap=True), "torch.roll wraps"),
    (lab04.check_jacobian_2d, lambda u: lab04._jacobian_2d(u, sign=1.0), "subtracts the cross term"),
    (lab04.check_jacobian_2d, lambda u: lab04._jacobian_2d(u)[:, None], "without a channel axis"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)


def test_a_wrong_smoothing_with_an_empty_inside_gets_no_border_hint():
    """The old border hint compared the inner region, empty for small grids, and fired for any wrong answer."""
    result, out = run(lab04.check_smooth_field, lambda u, s: lab04._smooth(u, s) * 1.01 + 0.01)
    assert not result.ok and result.hints == []
