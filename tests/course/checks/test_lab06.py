"""Lab 06's checkers: right answers and other right formulations pass; at least five realistic wrong answers per
exercise fail with the one hint that names their mistake (a detached grid and losses through .item() included)."""

import torch
import torch.nn.functional as F
from torch import nn

from reglab import grid, regularization, warping
from reglab.course.checks import lab06
from reglab.training import losses
from tests.course.checks.helpers import in_place, own, run, table_tests

CHECKS = [lab06.check_spatial_transformer, lab06.check_supervised_loss, lab06.check_unsupervised_loss,
          lab06.check_discriminator_loss]
warp = own(warping.warp)
diffusion = regularization.diffusion


class Layer(nn.Module):
    """A spatial transformer from a function ``(moving, displacement) -> warped``."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, moving, displacement):
        return self.function(moving, displacement)


def transformer(moving, displacement):
    size = moving.shape[2:]
    positions = grid.identity_grid(size, device=displacement.device, dtype=displacement.dtype) + displacement
    return F.grid_sample(moving, grid.to_grid_sample(positions, size), mode="bilinear", padding_mode="zeros",
                         align_corners=True)


def transformer_by_hand(moving, displacement):
    """Another right answer: the normalization 2x/(n − 1) − 1 and the flip written out."""
    size = moving.shape[2:]
    axes = [torch.arange(n, dtype=displacement.dtype) for n in size]
    positions = torch.stack(torch.meshgrid(*axes, indexing="ij"))[None] + displacement
    scale = torch.tensor([2.0 / (n - 1) for n in size]).reshape(1, -1, *[1] * len(size))
    return F.grid_sample(moving, (positions * scale - 1).movedim(1, -1).flip(-1), align_corners=True)


def transformer_detached(moving, displacement):
    """A detached sampling grid: the values are right, no gradient reaches the displacement."""
    size = moving.shape[2:]
    positions = (grid.identity_grid(size) + displacement).detach()
    return F.grid_sample(moving, grid.to_grid_sample(positions, size), align_corners=True)


def _sampled(m, u, **options):
    return lab06._sampled(m, lab06._positions(m, u), **options)


def supervised(u, t):
    return (u - t).pow(2).sum(dim=1).mean()


def unsupervised(f, w, u, lam):
    return (f - w).pow(2).mean() + lam * diffusion(u)


def discriminator(r, f):
    return (F.binary_cross_entropy_with_logits(r, torch.full_like(r, 0.9))
            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))


def discriminator_by_formula(r, f):
    """Another right answer: BCE with logits written with softplus, −t·z + log(1 + e^z)."""
    return (F.softplus(r) - 0.9 * r).mean() + F.softplus(f).mean()


RIGHT = [(lab06.check_spatial_transformer, Layer(transformer)),
         (lab06.check_spatial_transformer, Layer(transformer_by_hand)),
         (lab06.check_supervised_loss, supervised),
         (lab06.check_supervised_loss, lambda u, t: F.mse_loss(u, t, reduction="none").sum(1).mean()),
         (lab06.check_unsupervised_loss, unsupervised),
         (lab06.check_unsupervised_loss, lambda f, w, u, lam: F.mse_loss(w, f) + lam * diffusion(u)),
         (lab06.check_discriminator_loss, discriminator),
         (lab06.check_discriminator_loss, discriminator_by_formula)]

WRONG = [
    (lab06.check_spatial_transformer, Layer(lambda m, u: warp(m, -u)), "not x − u(x)"),
    (lab06.check_spatial_transformer, Layer(lambda m, u: _sampled(m, u, flip=False)), "flip it"),
    (lab06.check_spatial_transformer, Layer(lambda m, u: _sampled(m, u, align_corners=False)), "half a voxel"),
    (lab06.check_spatial_transformer, Layer(lambda m, u: lab06._sampled(m, u)), "add the identity grid"),
    (lab06.check_spatial_transformer, Layer(lambda m, u: warp(m, u, padding="border")), "padding_mode='zeros'"),
    (lab06.check_spatial_transformer, Layer(lambda m, u: warp(m, u, mode="nearest")), "interpolate linearly"),
    (lab06.check_spatial_transformer, Layer(transformer_detached), "`displacement`: the result must be differentiable"),
    (lab06.check_spatial_transformer, Layer(lambda m, u: warping.warp(m, u)), "this calls reglab.warp"),
    (lab06.check_spatial_transformer, Layer(in_place(transformer, 1)), "work on a copy"),
    (lab06.check_supervised_loss, lambda u, t: (u - t).pow(2).mean(), "averaged over the vector components"),
    (lab06.check_supervised_loss, lambda u, t: (u - t).norm(dim=1).mean(), "mean endpoint error"),
    (lab06.check_supervised_loss, lambda u, t: (u - t).pow(2).sum(), "the sum over voxels"),
    (lab06.check_supervised_loss, lambda u, t: supervised(u, t).sqrt(), "without the square root"),
    (lab06.check_supervised_loss, lambda u, t: (u - t).abs().sum(1).mean(), "absolute differences (L1)"),
    (lab06.check_supervised_loss, lambda u, t: (u - t).pow(2).sum(1).flatten(1).mean(1), "average over the batch"),
    (lab06.check_supervised_loss, lambda u, t: supervised(u, t).item(), "return a torch.Tensor, not a float"),
    (lab06.check_supervised_loss, lambda u, t: torch.tensor(supervised(u, t).item()),
     "the result must be differentiable"),
    (lab06.check_supervised_loss, lambda u, t: losses.supervised_loss(u, t), "this calls reglab.training"),
    (lab06.check_unsupervised_loss, lambda f, w, u, lam: (f - w).pow(2).mean() + diffusion(u), "missing its weight"),
    (lab06.check_unsupervised_loss, lambda f, w, u, lam: (f - w).pow(2).mean() - lam * diffusion(u), "*added*"),
    (lab06.check_unsupervised_loss, lambda f, w, u, lam: (f - w).pow(2).mean(), "only the similarity term"),
    (lab06.check_unsupervised_loss, lambda f, w, u, lam: lam * (f - w).pow(2).mean() + diffusion(u),
     "not the similarity"),
    (lab06.check_unsupervised_loss, lambda f, w, u, lam: (f - w).pow(2).sum() + lam * diffusion(u), "(SSD)"),
    (lab06.check_unsupervised_loss, lambda f, w, u, lam: (f - w).abs().mean() + lam * diffusion(u), "(MAE)"),
    (lab06.check_unsupervised_loss, lambda f, w, u, lam: unsupervised(f, w, u.detach(), lam),
     "`displacement`: the result must be differentiable"),
    (lab06.check_unsupervised_loss, lambda f, w, u, lam: losses.unsupervised_loss(f, w, u, similarity="mse",
                                                                                   weight=lam), "this calls reglab"),
    (lab06.check_discriminator_loss, lambda r, f: lab06._discriminator(r, f, real_target=1.0), "not 1"),
    (lab06.check_discriminator_loss, lambda r, f: discriminator(f, r), "the labels are swapped"),
    (lab06.check_discriminator_loss, lambda r, f: F.binary_cross_entropy(r.sigmoid(), torch.full_like(r, 0.9))
     + F.binary_cross_entropy(f.sigmoid(), torch.zeros_like(f)), "binary_cross_entropy_with_logits"),
    (lab06.check_discriminator_loss, lambda r, f: lab06._discriminator(r, f, fake_target=0.1), "is one-sided"),
    (lab06.check_discriminator_loss, lambda r, f: discriminator(r, f) / 2, "you averaged them"),
    (lab06.check_discriminator_loss, lambda r, f: lab06._discriminator(r, f, reduction="sum"), "not the sum"),
    (lab06.check_discriminator_loss, lambda r, f: discriminator(r.detach(), f),
     "`real_logits`: the result must be differentiable"),
    (lab06.check_discriminator_loss, lambda r, f: losses.discriminator_loss(r, f), "this calls reglab"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)


def test_a_2d_only_transformer_is_told_so():
    """'bilinear' on a volume raises torch's NotImplementedError: a failure with its message, not a stub."""
    def bilinear_only(moving, u):
        smooth = F.interpolate(moving, size=moving.shape[2:], mode="bilinear", align_corners=True)
        return transformer(smooth, u)

    result, out = run(lab06.check_spatial_transformer, Layer(bilinear_only))
    assert result.implemented and "not implemented yet" not in out, out
    assert "works in 2D but raised NotImplementedError on a 3D case" in out, out


def test_the_confident_case_separates_sigmoid_bce_from_bce_with_logits():
    result, out = run(lab06.check_discriminator_loss, lambda r, f: lab06._discriminator(r, f, probabilities=True))
    assert result.passed == result.total - 1 and "confident: values differ" in out, out
