"""Checkers for Lab 06 — Learning-based registration.

Every function takes the student's function (or layer), runs it on several
cases (2D and 3D, batches, odd and non-square sizes) and compares with
reglab's own implementation (:mod:`reglab.warping`, :mod:`reglab.training.losses`).
The losses and the layer are trained through, so their gradients are checked too.
"""

import torch
import torch.nn.functional as F

from reglab import regularization, warping
from reglab.course.checks.core import Case, Mistake, run_check
from reglab.course.checks.lab01 import _positions, _sampled
from reglab.course.checks.questions import ask, choice, number_in
from reglab.training import losses


def _generator():
    return torch.Generator().manual_seed(6)


def _smooth(batch, channels, size, magnitude, generator):
    """A smooth random tensor ``(batch, channels, *size)``: coarse noise upsampled linearly."""
    coarse = torch.randn(batch, channels, *[3] * len(size), generator=generator) * magnitude
    return F.interpolate(coarse, size=size, mode="bilinear" if len(size) == 2 else "trilinear", align_corners=True)


SIZES = [(1, (9, 9)), (2, (7, 12)), (1, (5, 6, 7)), (2, (4, 7, 5))]


def _describe(batch, size):
    return f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}"


# ---------------------------------------------------------------- Exercise 6.1


def _warp_in_layer(moving, displacement):
    """reglab's warp with the layer's argument names (the reference of the gradient check)."""
    return warping.warp(moving, displacement)


TRANSFORMER_MISTAKES = [
    Mistake("the image moved the other way: sample at x + u(x), not x − u(x).",
            output=lambda m, u: _sampled(m, _positions(m, -u))),
    Mistake("grid_sample wants (x, y[, z]) = (column, row[, slice]) in the last axis: flip it with .flip(-1) "
            "(grid.to_grid_sample does).", output=lambda m, u: _sampled(m, _positions(m, u), flip=False)),
    Mistake("half a voxel off: pass align_corners=True to grid_sample (reglab's convention).",
            output=lambda m, u: _sampled(m, _positions(m, u), align_corners=False)),
    Mistake("you sampled at u(x), not at x + u(x): add the identity grid to the displacement.",
            output=lambda m, u: _sampled(m, u)),
    Mistake("outside the image the warped image is 0: padding_mode='zeros', not 'border'.",
            output=lambda m, u: _sampled(m, _positions(m, u), padding_mode="border")),
    Mistake("interpolate linearly (mode='bilinear'): the nearest voxel is piecewise constant in u, so no gradient "
            "reaches the network.", output=lambda m, u: _sampled(m, _positions(m, u), mode="nearest")),
]


def check_spatial_transformer(layer):
    """Exercise 6.1: a spatial-transformer layer ``layer(moving, displacement) -> moving(x + u(x))`` (linear, zeros),
    differentiable in both inputs."""
    g = _generator()
    cases = []
    for (batch, size), channels in zip(SIZES + [(3, (8, 5))], (1, 1, 1, 2, 2)):
        moving = _smooth(batch, channels, size, 1.0, g)
        u = _smooth(batch, len(size), size, 2.5, g)
        cases.append(Case(f"{_describe(batch, size)}, {channels} channel(s)", (moving, u), warping.warp(moving, u)))
    return run_check("Exercise 6.1 — spatial transformer", layer, cases, mistakes=TRANSFORMER_MISTAKES,
                     reference=_warp_in_layer, gradient=("moving", "displacement"), forbid=(warping.warp,))


check_spatial_transformer.mistakes = TRANSFORMER_MISTAKES


# ---------------------------------------------------------------- Exercise 6.2


SUPERVISED_MISTAKES = [
    Mistake("you also averaged over the vector components: sum the squares over the channel axis (dim=1) first, "
            "then average over voxels and batch.", output=lambda u, t: (u - t).pow(2).mean()),
    Mistake("that is the mean endpoint error ‖u − u*‖; the loss is its *square*, ‖u − u*‖².",
            output=lambda u, t: (u - t).norm(dim=1).mean()),
    Mistake("this is the sum over voxels: average them (mean), so the loss does not grow with the image size.",
            output=lambda u, t: (u - t).pow(2).sum()),
    Mistake("this is the root of the loss: return mean ‖u − u*‖² itself, without the square root.",
            output=lambda u, t: (u - t).pow(2).sum(dim=1).mean().sqrt()),
    Mistake("these are absolute differences (L1); the loss squares them: (u − u*)².",
            output=lambda u, t: (u - t).abs().sum(dim=1).mean()),
    Mistake("return one number: average over the batch too (a scalar, not one loss per sample).",
            output=lambda u, t: (u - t).pow(2).sum(dim=1).flatten(1).mean(1)),
]


def check_supervised_loss(supervised_loss):
    """Exercise 6.2: ``supervised_loss(u, u_true) = mean_x ‖u(x) − u*(x)‖²``, a differentiable 0-d tensor."""
    g = _generator()
    cases = []
    for batch, size in SIZES:
        u = _smooth(batch, len(size), size, 2.0, g)
        truth = _smooth(batch, len(size), size, 2.0, g)
        cases.append(Case(_describe(batch, size), (u, truth), losses.supervised_loss(u, truth)))
    return run_check("Exercise 6.2 — supervised loss", supervised_loss, cases, mistakes=SUPERVISED_MISTAKES,
                     reference=losses.supervised_loss, gradient=("displacement",), forbid=(losses.supervised_loss,))


check_supervised_loss.mistakes = SUPERVISED_MISTAKES


# ---------------------------------------------------------------- Exercise 6.3


def _unsupervised(fixed, warped, displacement, weight):
    """``MSE(F, W) + weight · diffusion(u)`` (the reference, with the exercise's argument names)."""
    return losses.unsupervised_loss(fixed, warped, displacement, similarity="mse", weight=weight)


UNSUPERVISED_MISTAKES = [
    Mistake("the regularization term is missing its weight λ: + weight * diffusion(u).",
            output=lambda f, w, u, lam: (f - w).pow(2).mean() + regularization.diffusion(u)),
    Mistake("the penalty must be *added*: minimising −λR would reward rough fields.",
            output=lambda f, w, u, lam: (f - w).pow(2).mean() - lam * regularization.diffusion(u)),
    Mistake("this is only the similarity term; add λ · diffusion(u).",
            output=lambda f, w, u, lam: (f - w).pow(2).mean()),
    Mistake("λ weighs the regularization, not the similarity: MSE + λ · diffusion(u).",
            output=lambda f, w, u, lam: lam * (f - w).pow(2).mean() + regularization.diffusion(u)),
    Mistake("this is the sum of squared differences (SSD): take the mean (MSE), or the balance with λ depends on "
            "the image size.", output=lambda f, w, u, lam: (f - w).pow(2).sum() + lam * regularization.diffusion(u)),
    Mistake("these are absolute differences (MAE); the similarity here is the mean *squared* difference.",
            output=lambda f, w, u, lam: (f - w).abs().mean() + lam * regularization.diffusion(u)),
]


def check_unsupervised_loss(unsupervised_loss):
    """Exercise 6.3: ``unsupervised_loss(fixed, warped, u, weight) = MSE(F, W) + weight · diffusion(u)``, a
    differentiable 0-d tensor."""
    g = _generator()
    cases = []
    for (batch, size), weight in zip(SIZES, (0.1, 1.0, 0.5, 2.0)):
        fixed, warped = _smooth(batch, 1, size, 1.0, g), _smooth(batch, 1, size, 1.0, g)
        u = _smooth(batch, len(size), size, 1.5, g)
        cases.append(Case(f"{_describe(batch, size)}, λ = {weight}", (fixed, warped, u, weight),
                          _unsupervised(fixed, warped, u, weight)))
    return run_check("Exercise 6.3 — unsupervised loss", unsupervised_loss, cases, mistakes=UNSUPERVISED_MISTAKES,
                     reference=_unsupervised, gradient=("warped", "displacement"),
                     forbid=(losses.unsupervised_loss,))


check_unsupervised_loss.mistakes = UNSUPERVISED_MISTAKES


# ---------------------------------------------------------------- Exercise 6.4


def _bce(logits, target, *, probabilities=False, reduction="mean"):
    if probabilities:
        return F.binary_cross_entropy(logits.sigmoid(), torch.full_like(logits, target), reduction=reduction)
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction=reduction)


def _discriminator(real, fake, *, real_target=0.9, fake_target=0.0, **options):
    return _bce(real, real_target, **options) + _bce(fake, fake_target, **options)


def _discriminator_reference(real_logits, fake_logits):
    return losses.discriminator_loss(real_logits, fake_logits, smoothing=0.1)


DISCRIMINATOR_MISTAKES = [
    Mistake("use one-sided label smoothing: the target of a reference pair is 0.9, not 1.",
            output=lambda r, f: _discriminator(r, f, real_target=1.0)),
    Mistake("the labels are swapped: reference (aligned) pairs are 'real' (0.9), registered pairs 'fake' (0).",
            output=lambda r, f: _discriminator(f, r)),
    Mistake("sigmoid then binary_cross_entropy saturates: for a confident logit sigmoid gives exactly 1.0, log 0 is "
            "clamped to −100 and the loss is wrong. Use binary_cross_entropy_with_logits on the logits.",
            output=lambda r, f: _discriminator(r, f, probabilities=True)),
    Mistake("the smoothing is one-sided: only the reference pairs' target becomes 0.9, the registered pairs' stays 0.",
            output=lambda r, f: _discriminator(r, f, fake_target=0.1)),
    Mistake("add the two terms, BCE(real, 0.9) + BCE(fake, 0); you averaged them.",
            output=lambda r, f: _discriminator(r, f) / 2),
    Mistake("each term is the *mean* binary cross-entropy over the logits (reduction='mean'), not the sum.",
            output=lambda r, f: _discriminator(r, f, reduction="sum")),
]


def check_discriminator_loss(discriminator_loss):
    """Exercise 6.4: BCE with logits, reference pairs → 0.9 (one-sided smoothing), registered pairs → 0; a
    differentiable 0-d tensor, right for a confident discriminator too."""
    g = _generator()
    cases = []
    for batch, size, scale in [(1, (2, 2), 2.0), (3, (4, 3), 2.0), (2, (2, 3, 2), 2.0), (2, (3, 4), 30.0)]:
        real = scale * torch.randn(batch, 1, *size, generator=g)
        fake = scale * torch.randn(batch, 1, *size, generator=g)
        if scale > 10:                                       # confident: sigmoid(logit) rounds to exactly 1 or 0
            real, fake = real.abs() + 20.0, -fake.abs() - 20.0
            fake.view(-1)[0] = 25.0                          # and once confidently wrong
        description = f"logits {batch} × 1 × {' × '.join(map(str, size))}" + (", confident" if scale > 10 else "")
        cases.append(Case(description, (real, fake), _discriminator_reference(real, fake)))
    return run_check("Exercise 6.4 — discriminator loss", discriminator_loss, cases, mistakes=DISCRIMINATOR_MISTAKES,
                     reference=_discriminator_reference, gradient=("real_logits", "fake_logits"),
                     forbid=(losses.discriminator_loss,))


check_discriminator_loss.mistakes = DISCRIMINATOR_MISTAKES


# ---------------------------------------------------------------- Questions predict, interpret, tune, debug


def check_contrast_prediction(student):
    """Exercise 6.5 (predict): networks trained on one contrast, tested on T2-like moving images."""
    judge = choice({
        "a": "a network learns what its training pairs look like, not what alignment means: run the table and look "
             "at the T2 columns.",
        "b": "",
        "c": "local NCC is a loss used in training only; at test time the network sees nothing but the two images, "
             "and no loss is computed.",
    }, "b", "all three learned the T1 appearance of the training pairs; on T2 they produce fields that are worse than "
            "no registration at all. Training on random contrasts (SynthMorph) is the usual cure.")
    return ask("Exercise 6.5 — predict: an unseen contrast", student, judge)


def _hypermorph_scores(lam):
    """Validation Dice (the lab's 8 pairs, seed 2) and the mean diffusion of the field of its first pair, at ``lam``."""
    from reglab import regularization
    from reglab.networks import load_pretrained
    from reglab.training import evaluate, make_pairs, predict

    validation = make_pairs(8, seed=2)
    hyper = load_pretrained("hypermorph")
    batch = validation.batch([0])                                   # the pair the lab shows
    with torch.no_grad():
        u = predict(hyper, batch["fixed"], batch["moving"], lam=lam)
    return evaluate(hyper, validation, lam=lam)["dice"], regularization.diffusion(u).item()


def check_hypermorph_tuning(student, *, dice_target=0.67, diffusion_limit=0.04):
    """Exercise 6.7 (tune): a λ for which HyperMorph keeps Dice ≥ 0.67 with a mean diffusion ≤ 0.04."""
    def judge(answer):
        if isinstance(answer, torch.Tensor) and answer.numel() == 1:
            answer = answer.item()
        if not isinstance(answer, (int, float)) or isinstance(answer, bool) or not 0.0 <= answer <= 1.0:
            return False, f"your answer {answer!r}", "HyperMorph was trained with λ in [0, 1]: answer with one number there."
        dice, smoothness = _hypermorph_scores(float(answer))
        line = f"λ = {answer:g}: validation Dice {dice:.3f}, mean diffusion {smoothness:.4f}"
        if dice < dice_target:
            return False, line, f"Dice is below {dice_target}: λ is too large, the field is too stiff to register."
        if smoothness > diffusion_limit:
            return False, line, f"the diffusion is above {diffusion_limit}: λ is too small, the field is too rough."
        return True, line + f" (targets: Dice ≥ {dice_target}, diffusion ≤ {diffusion_limit})", None
    return ask("Exercise 6.7 — tune λ after training", student, judge)


def check_weak_supervision_bug(student):
    """Exercise 6.6 (debug): why does a Dice term on nearest-neighbour warped labels not train the network?"""
    judge = choice({
        "a": "the weight only scales the gradient; a gradient of exactly zero stays zero at any weight. Print "
             "`u.grad` after the Dice term alone.",
        "b": "",
        "c": "argmax labels are fine for scoring; the problem is how the labels are warped: a staircase function of the "
             "positions has derivative 0 almost everywhere.",
    }, "b", "nearest-neighbour sampling is piecewise constant in u: its gradient is zero. Warp one-hot indicators with "
            "linear interpolation (a soft label map), as `Unsupervised(dice_weight=...)` does.")
    return ask("Exercise 6.6 — debug a weakly supervised loss", student, judge)
