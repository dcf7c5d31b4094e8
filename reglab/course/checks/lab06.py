"""Checkers for Lab 06 — Learning-based registration.

Every function takes the student's function (or layer), runs it on several
cases (2D and 3D, batches, odd and non-square sizes) and compares with
reglab's own implementation (:mod:`reglab.warping`, :mod:`reglab.training.losses`).
"""

import torch
import torch.nn.functional as F

from reglab import grid, regularization, warping
from reglab.course.checks.core import Case, run_check, same
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


def check_spatial_transformer(layer):
    """Exercise 6.1: a spatial-transformer layer ``layer(moving, displacement) -> moving(x + u(x))`` (linear, zeros)."""
    g = _generator()
    cases = []
    for batch, size in SIZES:
        moving = _smooth(batch, 1, size, 1.0, g)
        u = _smooth(batch, len(size), size, 2.0, g)
        cases.append(Case(_describe(batch, size), (moving, u), warping.warp(moving, u)))

    def other_way(answer, case):
        if same(answer, warping.warp(case.args[0], -case.args[1])):
            return "the image moved the other way: sample at x + u(x), not x − u(x)."

    def not_flipped(answer, case):
        moving, u = case.args
        coordinates = grid.voxel_to_normalized((grid.identity_grid(moving.shape[2:]) + u).movedim(1, -1), moving.shape[2:])
        if same(answer, F.grid_sample(moving, coordinates, align_corners=True)):
            return "grid_sample wants (x, y[, z]) = (column, row[, slice]) in the last axis: flip it with .flip(-1)."

    def corners(answer, case):
        moving, u = case.args
        if same(answer, F.grid_sample(moving, grid.to_grid_sample(grid.identity_grid(moving.shape[2:]) + u,
                                                                    moving.shape[2:]), align_corners=False)):
            return "half a voxel off: pass align_corners=True to grid_sample (reglab's convention)."

    return run_check("Exercise 6.1 — spatial transformer", layer, cases, diagnose=[other_way, not_flipped, corners])


# ---------------------------------------------------------------- Exercise 6.2


def check_supervised_loss(supervised_loss):
    """Exercise 6.2: ``supervised_loss(u, u_true) = mean_x ‖u(x) − u*(x)‖²``."""
    g = _generator()
    cases = []
    for batch, size in SIZES:
        u = _smooth(batch, len(size), size, 2.0, g)
        truth = _smooth(batch, len(size), size, 2.0, g)
        cases.append(Case(_describe(batch, size), (u, truth), losses.supervised_loss(u, truth)))

    def averaged_components(answer, case):
        u, truth = case.args
        if same(answer, (u - truth).pow(2).mean()):
            return "you also averaged over the vector components: sum the squares over the channel axis (dim=1) first."

    def norm_not_squared(answer, case):
        u, truth = case.args
        if same(answer, (u - truth).norm(dim=1).mean()):
            return "that is the mean endpoint error; the loss is its *squared* version: ‖u − u*‖²."

    return run_check("Exercise 6.2 — supervised loss", supervised_loss, cases,
                     diagnose=[averaged_components, norm_not_squared])


# ---------------------------------------------------------------- Exercise 6.3


def check_unsupervised_loss(unsupervised_loss):
    """Exercise 6.3: ``unsupervised_loss(fixed, warped, u, weight) = MSE(F, W) + weight · diffusion(u)``."""
    g = _generator()
    cases = []
    for (batch, size), weight in zip(SIZES, (0.1, 1.0, 0.5, 2.0)):
        fixed, warped = _smooth(batch, 1, size, 1.0, g), _smooth(batch, 1, size, 1.0, g)
        u = _smooth(batch, len(size), size, 1.5, g)
        expected = losses.unsupervised_loss(fixed, warped, u, similarity="mse", weight=weight)
        cases.append(Case(f"{_describe(batch, size)}, λ = {weight}", (fixed, warped, u, weight), expected))

    def no_weight(answer, case):
        fixed, warped, u, weight = case.args
        if same(answer, (fixed - warped).pow(2).mean() + regularization.diffusion(u)):
            return "the regularization term is missing its weight λ."

    def wrong_sign(answer, case):
        fixed, warped, u, weight = case.args
        if same(answer, (fixed - warped).pow(2).mean() - weight * regularization.diffusion(u)):
            return "the penalty must be *added*: minimising −λR would reward rough fields."

    def only_similarity(answer, case):
        fixed, warped, u, weight = case.args
        if same(answer, (fixed - warped).pow(2).mean()):
            return "this is only the similarity term; add λ · diffusion(u)."

    return run_check("Exercise 6.3 — unsupervised loss", unsupervised_loss, cases,
                     diagnose=[no_weight, wrong_sign, only_similarity])


# ---------------------------------------------------------------- Exercise 6.4


def check_discriminator_loss(discriminator_loss):
    """Exercise 6.4: BCE with logits, reference pairs → 0.9 (one-sided smoothing), registered pairs → 0."""
    g = _generator()
    cases = []
    for batch, size in [(1, (2, 2)), (3, (4, 3)), (2, (2, 3, 2))]:
        real = 2.0 * torch.randn(batch, 1, *size, generator=g)
        fake = 2.0 * torch.randn(batch, 1, *size, generator=g)
        cases.append(Case(f"logits {batch} × 1 × {' × '.join(map(str, size))}", (real, fake),
                          losses.discriminator_loss(real, fake, smoothing=0.1)))

    def no_smoothing(answer, case):
        if same(answer, losses.discriminator_loss(*case.args, smoothing=0.0)):
            return "use one-sided label smoothing: the target of a reference pair is 0.9, not 1."

    def swapped(answer, case):
        real, fake = case.args
        if same(answer, losses.discriminator_loss(fake, real, smoothing=0.1)):
            return "the labels are swapped: reference (aligned) pairs are 'real' (0.9), registered pairs 'fake' (0)."

    def probabilities(answer, case):
        real, fake = case.args
        if same(answer, F.binary_cross_entropy(real.sigmoid(), torch.full_like(real, 0.9))
                + F.binary_cross_entropy(fake.sigmoid(), torch.zeros_like(fake))):
            return "right value, but use binary_cross_entropy_with_logits: it is the numerically stable form."

    return run_check("Exercise 6.4 — discriminator loss", discriminator_loss, cases,
                     diagnose=[no_smoothing, swapped, probabilities])


# ---------------------------------------------------------------- Questions (issue 18): predict, interpret, tune, debug

from reglab.course.checks.lab05 import ask, choice, number_in  # noqa: E402  (appended section: questions)


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
