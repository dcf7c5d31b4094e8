"""Checkers for Lab 07 — Architectures.

Every function takes the student's function, runs it on several cases (2D and
3D, batches, odd and non-square sizes) and compares with reglab's own
implementation (:mod:`reglab.fields`, :mod:`reglab.networks`, :mod:`reglab.evaluation`).
"""

import torch
import torch.nn.functional as F

from reglab import evaluation, fields, warping
from reglab.course.checks.core import Case, run_check, same
from reglab.networks.transmorph import window_partition


def _generator():
    return torch.Generator().manual_seed(7)


def _smooth(batch, channels, size, magnitude, generator):
    coarse = torch.randn(batch, channels, *[3] * len(size), generator=generator) * magnitude
    return F.interpolate(coarse, size=size, mode="bilinear" if len(size) == 2 else "trilinear", align_corners=True)


def _describe(batch, size):
    return f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}"


# ---------------------------------------------------------------- Exercise 7.2


def check_upsample_field(upsample_field):
    """Exercise 7.2: LapIRN's ``upsample_field(u, size)``: interpolate linearly *and* rescale the vectors."""
    g = _generator()
    cases = []
    for batch, coarse, fine in [(1, (8, 8), (15, 15)), (2, (5, 7), (9, 13)), (1, (4, 5, 6), (7, 9, 11)),
                                (2, (3, 4, 3), (5, 7, 5))]:
        u = _smooth(batch, len(coarse), coarse, 1.5, g)
        cases.append(Case(f"{_describe(batch, coarse)} → {' × '.join(map(str, fine))}", (u, fine),
                          fields.resize_displacement(u, fine)))

    def not_scaled(answer, case):
        u, size = case.args
        mode = "bilinear" if len(size) == 2 else "trilinear"
        if same(answer, F.interpolate(u, size=size, mode=mode, align_corners=True)):
            return ("the field is interpolated but its vectors still count coarse voxels: multiply component i by "
                    "(new_n_i − 1) / (old_n_i − 1).")

    def corners(answer, case):
        u, size = case.args
        mode = "bilinear" if len(size) == 2 else "trilinear"
        scale = torch.tensor([(n - 1) / (m - 1) for n, m in zip(size, u.shape[2:])]).reshape(1, -1, *[1] * len(size))
        if same(answer, F.interpolate(u, size=size, mode=mode, align_corners=False) * scale):
            return "interpolate with align_corners=True, reglab's convention (first and last voxel centres stay put)."

    return run_check("Exercise 7.2 — upsampling a coarse field", upsample_field, cases, diagnose=[not_scaled, corners])


# ---------------------------------------------------------------- Exercise 7.3


def check_window_partition(partition):
    """Exercise 7.3: Swin's ``window_partition(x, window)``: ``(B, *S, C) → (B · nW, prod(window), C)``."""
    g = _generator()
    cases = []
    for batch, size, window, channels in [(1, (4, 4), (2, 2), 3), (2, (6, 4), (3, 2), 5), (1, (4, 6, 2), (2, 3, 2), 2),
                                          (2, (2, 4, 4), (2, 2, 2), 4)]:
        x = torch.randn(batch, *size, channels, generator=g)
        cases.append(Case(f"{_describe(batch, size)}, window {' × '.join(map(str, window))}, {channels} channels",
                          (x, window), window_partition(x, window)))

    def plain_reshape(answer, case):
        x, window = case.args
        if isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape and same(
                answer, x.reshape(case.expected.shape)):
            return ("a plain reshape mixes voxels of different windows: split every axis into (n/w, w), then permute "
                    "so the window-grid axes come first and the within-window axes last.")

    return run_check("Exercise 7.3 — Swin window partition", partition, cases, diagnose=[plain_reshape])


# ---------------------------------------------------------------- Exercise 7.1


def check_pad_to_multiple(pad_to_multiple):
    """Exercise 7.1: zero-pad every spatial axis *at its end* up to a multiple of ``multiple``."""
    g = _generator()
    cases = []
    for batch, size, multiple in [(1, (13, 16), 8), (2, (7, 9), 4), (1, (5, 6, 7), 4), (2, (9, 8, 3), 2)]:
        image = torch.rand(batch, 1, *size, generator=g)
        padded = torch.zeros(batch, 1, *[-(-n // multiple) * multiple for n in size])
        padded[(..., *[slice(0, n) for n in size])] = image
        cases.append(Case(f"{_describe(batch, size)}, multiple of {multiple}", (image, multiple), padded))

    def reversed_order(answer, case):
        image, multiple = case.args
        extra = [(-n) % multiple for n in image.shape[2:]]
        if same(answer, F.pad(image, [p for e in extra for p in (0, e)])):
            return "F.pad lists the *last* axis first: build the padding from reversed(sizes)."

    def both_sides(answer, case):
        if isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape:
            return ("pad only at the end of each axis, so voxel (0, 0) stays at (0, 0) and the network's field can be "
                    "cropped back with [..., :H, :W].")

    return run_check("Exercise 7.1 — padding for downsampling", pad_to_multiple, cases,
                     diagnose=[reversed_order, both_sides])


# ---------------------------------------------------------------- Exercise 7.4


def check_dice_before_after(dice_before_after):
    """Exercise 7.4: ``tensor([mean Dice before, mean Dice after])`` with nearest-neighbour label warping."""
    g = _generator()
    cases = []
    for batch, size in [(1, (16, 16)), (2, (12, 15)), (1, (8, 9, 10)), (2, (7, 8, 6))]:
        labels = (_smooth(batch, 1, size, 1.0, g) * 2).round().clamp(0, 3).long()
        moving = warping.warp(labels, _smooth(batch, len(size), size, 1.5, g), mode="nearest")
        u = _smooth(batch, len(size), size, 1.0, g)
        before = evaluation.dice(labels, moving).mean()
        after = evaluation.dice(labels, warping.warp(moving, u, mode="nearest")).mean()
        cases.append(Case(_describe(batch, size), (labels, moving, u), torch.stack([before, after])))

    def linear(answer, case):
        fixed, moving, u = case.args
        warped = warping.warp(moving.float(), u).round().long()
        expected = torch.stack([evaluation.dice(fixed, moving).mean(), evaluation.dice(fixed, warped).mean()])
        if same(answer, expected):
            return "warp label maps with mode='nearest': linear interpolation invents in-between labels."

    def swapped(answer, case):
        if same(answer, case.expected.flip(0)):
            return "the order is (before, after)."

    return run_check("Exercise 7.4 — Dice before and after", dice_before_after, cases, diagnose=[linear, swapped])


# ---------------------------------------------------------------- Questions (issue 18): predict, interpret, tune, debug

from reglab.course.checks.lab05 import ask, choice  # noqa: E402  (appended section: questions)


def check_inverse_consistency_question(student):
    """Exercise 7.5 (interpret): why is SymNet inverse-consistent to a few thousandths of a voxel?"""
    judge = choice({
        "a": "compare the Dice column of section 6: SymNet registers *worse* than VoxelMorph, yet it is 100× more "
             "inverse-consistent. Training quality does not explain it.",
        "b": "",
        "c": "its fields are about 30 % smaller, not 100×: a smaller field explains a little, not two orders of "
             "magnitude.",
    }, "b", "v(F, M) = (g(F, M) − g(M, F)) / 2 changes sign when F and M swap, and exp(−v) inverts exp(v): the "
            "property holds for any weights, even untrained ones. What is left is interpolation error.")
    return ask("Exercise 7.5 — interpret: inverse consistency", student, judge)


def check_comparison_question(student):
    """Exercise 7.6 (interpret): what does the architecture table say about TransMorph against VoxelMorph?"""
    judge = choice({
        "a": "every network had the same small budget on the same 64 synthetic 64² pairs; a transformer needs more "
             "data and steps than a small CNN before attention pays. A design comparison needs each trained to "
             "convergence on real data.",
        "b": "",
        "c": "held-out pairs come from the same generator as the training pairs, and nothing in the table compares "
             "training with validation scores: it cannot show overfitting.",
    }, "b", "the table compares 0.06-0.18 M-parameter networks after 400 steps on 64 synthetic pairs: it ranks how fast "
            "each learns on a tiny budget, not what each design can reach. It says nothing about real anatomy.")
    return ask("Exercise 7.6 — interpret: what the comparison can say", student, judge)
