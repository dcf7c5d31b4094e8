"""Lab 05's checkers: right answers and other right formulations pass; at least five realistic wrong answers per
exercise fail with the one hint that names their mistake (the registration loop included)."""

import torch
import torch.nn.functional as F

from reglab import registration, warping
from reglab.course.checks import lab05
from reglab.grid import identity_grid
from reglab.regularization import gaussian_smoothing
from tests.course.checks.helpers import detached, own, table_tests

CHECKS = [lab05.check_rigid_displacement, lab05.check_rigid_loss, lab05.check_register_rigid, lab05.check_downsample]
warp = own(warping.warp)


def rigid_displacement(angle, translation, size):
    return lab05._rigid_u(angle, translation, size)


def rigid_displacement_homogeneous(angle, translation, size):
    """Another right answer: a batch of 2 × 3 matrices applied to the identity grid with einsum."""
    c = torch.tensor([(n - 1) / 2 for n in size])
    cos, sin = angle.cos(), angle.sin()
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    offset = c + translation - (rotation @ c[:, None])[..., 0]
    x = identity_grid(size)[0]
    y = torch.einsum("bij,j...->bi...", rotation, x) + offset[:, :, None, None]
    return y - x


def rigid_loss(fixed, moving, angle, translation):
    return ((fixed - warp(moving, rigid_displacement(angle, translation, fixed.shape[2:]))) ** 2).mean()


def register(fixed, moving, iterations=200, *, maximize=False, attached=False):
    angle = torch.zeros(1, requires_grad=True)
    translation = torch.zeros(1, 2, requires_grad=True)
    optimizer = torch.optim.Adam([{"params": [angle], "lr": 0.005}, {"params": [translation], "lr": 0.1}],
                                 maximize=maximize)
    for _ in range(iterations):
        optimizer.zero_grad()
        rigid_loss(fixed, moving, angle, translation).backward()
        optimizer.step()
    u = rigid_displacement(angle, translation, fixed.shape[2:])
    return u if attached else u.detach()


def downsample(image, size, sigma):
    mode = "bilinear" if image.dim() == 4 else "trilinear"
    return F.interpolate(gaussian_smoothing(image, sigma), size=tuple(size), mode=mode, align_corners=True)


RIGHT = [(lab05.check_rigid_displacement, rigid_displacement),
         (lab05.check_rigid_displacement, rigid_displacement_homogeneous),
         (lab05.check_rigid_loss, rigid_loss),
         (lab05.check_rigid_loss, lambda f, m, a, t: F.mse_loss(warp(m, rigid_displacement_homogeneous(
             a, t, f.shape[2:])), f)),
         (lab05.check_register_rigid, register),
         (lab05.check_downsample, downsample),
         (lab05.check_downsample, lambda image, size, sigma: lab05._downsample(image, size, sigma))]

WRONG = [
    (lab05.check_rigid_displacement, lambda a, t, s: lab05._rigid_u(a, t, s, centre="origin"), "about voxel (0, 0)"),
    (lab05.check_rigid_displacement, lambda a, t, s: lab05._rigid_u(a, t, s, positions=True), "the map y(x)"),
    (lab05.check_rigid_displacement, lambda a, t, s: lab05._rigid_u(a, t, s, sign=-1.0), "wrong way"),
    (lab05.check_rigid_displacement, lambda a, t, s: lab05._rigid_u(a, t, s, centre="half"), "not n/2"),
    (lab05.check_rigid_displacement, lambda a, t, s: lab05._rigid_u(a, t, s, reverse=True), "in axis order"),
    (lab05.check_rigid_displacement, detached(rigid_displacement), "must be differentiable"),
    (lab05.check_rigid_displacement, lambda a, t, s: lab05.reference_displacement(a, t, s), "this calls reglab"),
    (lab05.check_rigid_loss, lambda f, m, a, t: lab05._loss(f, m, a, t, swap=True), "you warped the fixed image"),
    (lab05.check_rigid_loss, lambda f, m, a, t: lab05._loss(f, m, a, t, total=True), "the sum of squared"),
    (lab05.check_rigid_loss, lambda f, m, a, t: lab05._loss(f, m, a, t, centre="origin"), "use your rigid_disp"),
    (lab05.check_rigid_loss, lambda f, m, a, t: lab05._loss(f, m, a, t, sign=-1.0), "not warp(moving, −u)"),
    (lab05.check_rigid_loss, lambda f, m, a, t: lab05._loss(f, m, a, t, root=True), "(RMSE)"),
    (lab05.check_rigid_loss, lambda f, m, a, t: torch.tensor(rigid_loss(f, m, a, t).item()), "must be differentiable"),
    (lab05.check_register_rigid, lambda f, m: register(f, m, iterations=0), "(almost) zero"),
    (lab05.check_register_rigid, lambda f, m: register(f, m, maximize=True), "moved the wrong way"),
    (lab05.check_register_rigid, lambda f, m: register(f, m) + identity_grid(f.shape[2:]), "this is the map y(x)"),
    (lab05.check_register_rigid, lambda f, m: register(m, f), "the inverse transformation"),
    (lab05.check_register_rigid, lambda f, m: register(f, m, attached=True), "return the displacement detached"),
    (lab05.check_downsample, lambda i, s, σ: lab05._downsample(i, s, σ, align_corners=False), "align_corners=True"),
    (lab05.check_downsample, lambda i, s, σ: lab05._downsample(i, s, σ, smooth="none"), "smooth first"),
    (lab05.check_downsample, lambda i, s, σ: lab05._downsample(i, s, σ, smooth="after"), "smooth BEFORE"),
    (lab05.check_downsample, lambda i, s, σ: lab05._downsample(i, s, σ, halve=True), "scale_factor=0.5"),
    (lab05.check_downsample, lambda i, s, σ: lab05._downsample(i, s, σ, mode="nearest"), "resample linearly"),
    (lab05.check_downsample, lambda i, s, σ: registration.downsample(i, s, sigma=σ), "this calls reglab"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)
