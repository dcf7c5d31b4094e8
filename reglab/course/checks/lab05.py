"""Checkers for Lab 05 — Classical registration.

The exercises build a rigid 2D registration by hand: parameters → matrix →
displacement → warp → loss → step, then a pyramid level. Each checker compares
with reglab's own functions (:mod:`reglab.transforms`, :mod:`reglab.warping`,
:mod:`reglab.registration`) on several cases.

It is longer than ~300 lines because it is one thing, this lab's checkers: the cases and the typical
mistakes of its four exercises, then its four question checkers. It reads top to bottom, exercise by
exercise (one ``# ---- Exercise 5.N`` section each), the questions last.
"""

import math

import torch
import torch.nn.functional as F

from reglab.course.checks.core import Case, Mistake, run_check
from reglab.course.checks.questions import ask, choice
from reglab.fields import affine_to_displacement
from reglab.grid import ALIGN_CORNERS
from reglab.registration import downsample
from reglab.regularization import gaussian_smoothing
from reglab.transforms import rotation_matrix_2d
from reglab.transforms.base import about_center
from reglab.warping import warp


def reference_displacement(angle, translation, size):
    """The rigid displacement about the image centre: ``u = R (x - c) + c + t - x``, ``c = (n - 1) / 2``."""
    center = torch.tensor([(n - 1) / 2 for n in size], dtype=angle.dtype)
    return affine_to_displacement(about_center(rotation_matrix_2d(angle), translation, center), size)


def reference_loss(fixed, moving, angle, translation):
    """``mean((F - M(x + u(x)))²)`` for the rigid displacement."""
    return ((fixed - warp(moving, reference_displacement(angle, translation, fixed.shape[2:]))) ** 2).mean()


def blobs(size, generator):
    """A smooth test image ``(1, 1, *size)``: a few Gaussian blobs of different sizes and brightness."""
    image = torch.zeros(1, 1, *size)
    rows, columns = torch.meshgrid(torch.arange(size[0], dtype=torch.float32),
                                   torch.arange(size[1], dtype=torch.float32), indexing="ij")
    for _ in range(5):
        centre = torch.rand(2, generator=generator) * 0.5 + 0.25
        width = 2.0 + 3.0 * torch.rand((), generator=generator)
        distance = (rows - centre[0] * (size[0] - 1)) ** 2 + (columns - centre[1] * (size[1] - 1)) ** 2
        image[0, 0] += (0.5 + torch.rand((), generator=generator)) * torch.exp(-distance / (2 * width**2))
    return image


# ---------------------------------------------------------------- Exercise 5.1


def _rigid_u(angle, translation, size, *, sign=1.0, centre="middle", positions=False, reverse=False):
    """``R(x − c) + c + t − x`` written out, and its slips: −θ, c at 0 or n/2, y instead of u, x in (x, y) order."""
    cos, sin = torch.cos(sign * angle), torch.sin(sign * angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)        # (B, 2, 2)
    offsets = {"middle": [(n - 1) / 2 for n in size], "half": [n / 2 for n in size], "origin": [0.0, 0.0]}[centre]
    c = torch.tensor(offsets, dtype=angle.dtype)[:, None]
    axes = [torch.arange(n, dtype=angle.dtype) for n in size]
    x = torch.stack(torch.meshgrid(*axes, indexing="ij")).flatten(1)                     # (2, H·W)
    if reverse:
        x = x.flip(0)
    y = rotation @ (x - c) + c + translation[..., None]
    return (y if positions else y - x).reshape(-1, 2, *size)


DISPLACEMENT_MISTAKES = [
    Mistake("this rotates about voxel (0, 0): rotate about the centre c = ((H-1)/2, (W-1)/2), y = R(x - c) + c + t.",
            output=lambda a, t, size: _rigid_u(a, t, size, centre="origin")),
    Mistake("this is the map y(x); the displacement is u(x) = y(x) − x.",
            output=lambda a, t, size: _rigid_u(a, t, size, positions=True)),
    Mistake("the rotation turns the wrong way: R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]].",
            output=lambda a, t, size: _rigid_u(a, t, size, sign=-1.0)),
    Mistake("the centre of n voxels 0 … n − 1 is (n − 1)/2, not n/2.",
            output=lambda a, t, size: _rigid_u(a, t, size, centre="half")),
    Mistake("x must be in axis order (row, column), as meshgrid(indexing='ij') gives it, channel 0 along the rows.",
            output=lambda a, t, size: _rigid_u(a, t, size, reverse=True)),
]


def check_rigid_displacement(student):
    """Exercise 5.1: ``rigid_displacement(angle (B,), translation (B, 2), size) -> (B, 2, *size)`` about the centre,
    differentiable in the angle and the translation."""
    g = torch.Generator().manual_seed(51)
    cases = []
    for batch, size in [(1, (9, 9)), (1, (12, 7)), (3, (16, 20)), (2, (5, 11))]:
        angle = (torch.rand(batch, generator=g) - 0.5) * 1.2
        translation = 3.0 * torch.randn(batch, 2, generator=g)
        cases.append(Case(f"batch of {batch}, size {size}", (angle, translation, size),
                          reference_displacement(angle, translation, size)))
    return run_check("Exercise 5.1 — parameters → displacement", student, cases, mistakes=DISPLACEMENT_MISTAKES,
                     reference=reference_displacement, gradient=("angle", "translation"),
                     forbid=(reference_displacement, about_center, rotation_matrix_2d, affine_to_displacement))


check_rigid_displacement.mistakes = DISPLACEMENT_MISTAKES


# ---------------------------------------------------------------- Exercise 5.2


def _loss(fixed, moving, angle, translation, *, swap=False, total=False, centre="middle", sign=1.0, root=False):
    """The rigid MSE and its slips: fixed warped, the sum, rotation about (0, 0), M(x − u), the root."""
    if swap:
        fixed, moving = moving, fixed
    u = _rigid_u(angle, translation, fixed.shape[2:], centre=centre)
    squared = (fixed - warp(moving, sign * u)) ** 2
    value = squared.sum() if total else squared.mean()
    return value.sqrt() if root else value


LOSS_MISTAKES = [
    Mistake("you warped the fixed image: warp the MOVING image onto the fixed grid, M(x + u(x)).",
            output=lambda f, m, a, t: _loss(f, m, a, t, swap=True)),
    Mistake("this is the sum of squared differences: take the mean (MSE), so the step size does not depend on the "
            "image size.", output=lambda f, m, a, t: _loss(f, m, a, t, total=True)),
    Mistake("this rotates about voxel (0, 0): use your rigid_displacement, which rotates about the image centre.",
            output=lambda f, m, a, t: _loss(f, m, a, t, centre="origin")),
    Mistake("the moving image is sampled at x + u(x): warp(moving, u), not warp(moving, −u).",
            output=lambda f, m, a, t: _loss(f, m, a, t, sign=-1.0)),
    Mistake("this is the root of the MSE (RMSE): return the mean squared difference itself.",
            output=lambda f, m, a, t: _loss(f, m, a, t, root=True)),
]


def check_rigid_loss(student):
    """Exercise 5.2: ``rigid_loss(fixed, moving, angle, translation) -> 0-d`` MSE of fixed and the warped moving image,
    differentiable in the angle and the translation."""
    g = torch.Generator().manual_seed(52)
    cases = []
    for size in [(24, 24), (20, 28)]:
        fixed, moving = blobs(size, g), blobs(size, g)
        for angle, translation in [(0.0, (0.0, 0.0)), (0.2, (1.5, -2.0))]:
            a, t = torch.tensor([angle]), torch.tensor([translation])
            cases.append(Case(f"{size}, θ = {angle}, t = {translation}", (fixed, moving, a, t),
                              reference_loss(fixed, moving, a, t)))
    return run_check("Exercise 5.2 — the loss of a rigid transformation", student, cases, mistakes=LOSS_MISTAKES,
                     reference=reference_loss, gradient=("angle", "translation"),
                     forbid=(reference_loss, reference_displacement))


check_rigid_loss.mistakes = LOSS_MISTAKES


# ---------------------------------------------------------------- Exercise 5.3


def _inverse(displacement):
    """The displacement of the inverse of an affine map, fitted to ``displacement (1, 2, H, W)`` by least squares."""
    size = displacement.shape[2:]
    axes = [torch.arange(n, dtype=torch.float64) for n in size]
    x = torch.stack(torch.meshgrid(*axes, indexing="ij")).flatten(1).T                      # (N, 2)
    y = x + displacement[0].flatten(1).T.to(torch.float64)
    points = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    matrix = torch.linalg.lstsq(points, y).solution.T                                       # (2, 3)
    full = torch.cat([matrix, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)])
    inverse = torch.linalg.inv(full)[:2]
    return affine_to_displacement(inverse[None].to(displacement.dtype), size)


def _positions(displacement):
    """``x + u(x)``."""
    axes = [torch.arange(n, dtype=displacement.dtype) for n in displacement.shape[2:]]
    return displacement + torch.stack(torch.meshgrid(*axes, indexing="ij"))[None]


def _near(answer, other, tolerance=0.5):
    return (isinstance(answer, torch.Tensor) and answer.shape == other.shape
            and (answer.detach() - other).abs().max() <= tolerance)


REGISTER_MISTAKES = [
    Mistake("the displacement is (almost) zero: did the parameters get gradients (requires_grad) and an optimizer "
            "step?", test=lambda answer, case: _near(answer, torch.zeros_like(case.expected), 0.05)),
    Mistake("this is the map y(x) = x + u(x); return the displacement u(x).",
            test=lambda answer, case: _near(answer, _positions(case.expected))),
    Mistake("this is the inverse transformation: you registered the fixed image to the moving one. The loss warps "
            "the MOVING image, rigid_loss(fixed, moving, ...).",
            test=lambda answer, case: _near(answer, _inverse(case.expected))),
    Mistake("it moved the wrong way or too far: step AGAINST the gradient (optimizer.step() does), and keep the "
            "angle's step small (it is in radians: 0.01 rad moves the border by ~0.2 voxel).",
            test=lambda answer, case: isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape
            and (answer.detach() - case.expected).abs().max() > case.expected.abs().max()
            and not _near(answer, _inverse(case.expected)) and not _near(answer, _positions(case.expected))),
]


def check_register_rigid(student):
    """Exercise 5.3: ``register_rigid(fixed, moving) -> (1, 2, H, W)`` the found displacement (detached), within
    0.5 voxel of the truth."""
    g = torch.Generator().manual_seed(53)
    cases = []
    for size, angle, translation in [((32, 32), 6.0, (2.0, -1.5)), ((36, 30), -5.0, (-1.0, 2.5))]:
        fixed = blobs(size, g)
        a, t = torch.tensor([math.radians(angle)]), torch.tensor([translation])
        truth = reference_displacement(a, t, size)
        moving = _moving_for(fixed, a, t)
        cases.append(Case(f"{size}, θ = {angle}°, t = {translation} voxels", (fixed, moving), truth, atol=0.5, rtol=0.0))
    return run_check("Exercise 5.3 — a rigid registration loop", student, cases, mistakes=REGISTER_MISTAKES,
                     names=("fixed", "moving"), detached=True)


check_register_rigid.mistakes = REGISTER_MISTAKES


def _moving_for(fixed, angle, translation):
    """A moving image such that ``warp(moving, u) ≈ fixed`` for the rigid ``u``: warp by the inverse map."""
    size = fixed.shape[2:]
    center = torch.tensor([(n - 1) / 2 for n in size])
    rotation = rotation_matrix_2d(angle)
    inverse = rotation.transpose(1, 2)
    offset = center - (inverse @ (center + translation[0])[:, None])[..., 0]            # x = R⁻¹ (y - c - t) + c
    matrix = torch.cat([inverse, offset[..., None]], dim=-1)
    return warp(fixed, affine_to_displacement(matrix, size))


# ---------------------------------------------------------------- Exercise 5.4


def _downsample(image, size, sigma, *, align_corners=ALIGN_CORNERS, smooth="before", mode="linear", halve=False):
    """One pyramid level and its slips: align_corners=False, no smoothing or smoothing after, nearest, ×½ always."""
    linear = "bilinear" if image.dim() == 4 else "trilinear"
    if smooth == "before":
        image = gaussian_smoothing(image, sigma)
    options = {"scale_factor": 0.5} if halve else {"size": tuple(size)}
    if mode == "nearest":
        resized = F.interpolate(image, mode="nearest", **options)
    else:
        resized = F.interpolate(image, mode=linear, align_corners=align_corners, **options)
    return gaussian_smoothing(resized, sigma) if smooth == "after" else resized


DOWNSAMPLE_MISTAKES = [
    Mistake(f"use align_corners={ALIGN_CORNERS}: reglab keeps the first and last voxel centres in place.",
            output=lambda image, size, sigma: _downsample(image, size, sigma, align_corners=not ALIGN_CORNERS)),
    Mistake("smooth first (reglab.regularization.gaussian_smoothing), or the coarse level aliases fine detail.",
            output=lambda image, size, sigma: _downsample(image, size, sigma, smooth="none")),
    Mistake("smooth BEFORE resampling: smoothing the coarse image cannot undo the aliasing.",
            output=lambda image, size, sigma: _downsample(image, size, sigma, smooth="after")),
    Mistake("resample onto the given size (F.interpolate(..., size=size)): halving with scale_factor=0.5 is right "
            "only when every axis is even and the size asks for half.",
            output=lambda image, size, sigma: _downsample(image, size, sigma, halve=True)),
    Mistake("resample linearly (mode='bilinear' in 2D, 'trilinear' in 3D), not with the nearest voxel.",
            output=lambda image, size, sigma: _downsample(image, size, sigma, mode="nearest")),
]


def check_downsample(student):
    """Exercise 5.4: ``downsample(image, size, sigma) -> (B, C, *size)`` Gaussian smoothing then linear resampling."""
    g = torch.Generator().manual_seed(54)
    cases = []
    for text, shape, size, sigma in [("2D 32 × 32 → 16 × 16, σ = 1", (1, 1, 32, 32), (16, 16), 1.0),
                                     ("2D batch of 2, 21 × 30 → 11 × 15, σ = 1", (2, 1, 21, 30), (11, 15), 1.0),
                                     ("2D 24 × 18 → 9 × 13, σ = 1.5", (1, 2, 24, 18), (9, 13), 1.5),
                                     ("3D 16 × 12 × 20 → 8 × 6 × 10, σ = 2", (1, 1, 16, 12, 20), (8, 6, 10), 2.0),
                                     ("3D 15 × 12 × 10 → 8 × 5 × 7, σ = 1", (2, 1, 15, 12, 10), (8, 5, 7), 1.0)]:
        image = torch.rand(*shape, generator=g)
        cases.append(Case(text, (image, size, sigma), downsample(image, size, sigma=sigma)))
    return run_check("Exercise 5.4 — one pyramid level", student, cases, mistakes=DOWNSAMPLE_MISTAKES,
                     names=("image", "size", "sigma"), forbid=(downsample,))


check_downsample.mistakes = DOWNSAMPLE_MISTAKES


# ---------------------------------------------------------------- Questions predict, interpret, tune, debug


def check_landscape_question(student):
    """Exercise 5.5 (interpret): where does gradient descent on θ alone stop when started at θ − θ_true = 2.5 rad?"""
    judge = choice({
        "a": "follow the rotation curve from 2.5 rad: which way does it slope there, and which valley is nearer?",
        "b": "",
        "c": "at 2.5 rad the curve is not flat: it still slopes, down towards π. The flat shoulder is near ±1.4 rad.",
    }, "b", "the curve slopes down from 2.5 rad towards the second valley at π (the slice turned upside down "
            "still overlaps well): a local minimum. Only a start inside the central valley reaches θ_true.")
    return ask("Exercise 5.5 — interpret the landscape", student, judge)


def check_initialization_prediction(student):
    """Exercise 5.6 (predict): does a 3-level rigid registration started at the identity recover a 110° turn?"""
    judge = choice({
        "a": "the pyramid widens the capture range for shifts, but a 110° turn is far outside the central valley of "
             "the rotation curve (Exercise 5.5): run the next cell and compare the error.",
        "b": "",
    }, "b", "110° lies beyond the flat shoulder of the rotation curve; the pyramid smooths the images, not the "
            "symmetry of the head. A starting point is needed: the centre of mass and a coarse search over angles.")
    return ask("Exercise 5.6 — predict: start at the identity", student, judge)


def check_multimodal_bug(student):
    """Exercise 5.7 (debug): why does the T1/T2 registration with MSE fail?"""
    judge = choice({
        "a": "more iterations only descend further into the same wrong minimum: the loss itself rewards the wrong "
             "alignment. Look at the intensities of the two images.",
        "b": "",
        "c": "fixed = T1 and moving = T2 is the intended direction (the displacement lives on the fixed grid); "
             "swapping them would fail the same way.",
        "d": "the run already uses 3 levels; a coarser level does not change what the loss compares.",
    }, "b", "MSE assumes that the same tissue has the same intensity in both images. In T2, CSF is bright and white "
            "matter dark: the minimum of MSE is not the alignment. Mutual information only asks that one image's "
            "intensities predict the other's.")
    return ask("Exercise 5.7 — debug a multimodal registration", student, judge)


def check_penalty_question(student):
    """Exercise 5.8 (interpret): is the TRE on the landmarks that the penalty used a measure of accuracy?"""
    judge = choice({
        "a": "those landmarks were part of the objective (μ P): the optimiser was paid to put them on their partners. "
             "Their error says that it did so, not how well the rest of the image is aligned.",
        "b": "",
        "c": "check the folding printed above: 0 % at every μ. The problem is what the landmarks can tell, not the field.",
    }, "b", "the landmarks of P were fitted: their residual is a fiducial registration error (FRE, Lab 08), not a TRE. "
            "Judge the result by what the optimiser did not see: EPE against the true field here, held-out landmarks "
            "or labels on real data.")
    return ask("Exercise 5.8 — interpret: landmarks in the objective", student, judge)
