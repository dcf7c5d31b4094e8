"""Checkers for Lab 07 — Architectures.

Every function takes the student's function, runs it on several cases (2D and
3D, batches, odd and non-square sizes, different factors per axis) and compares
with reglab's own implementation (:mod:`reglab.fields`, :mod:`reglab.networks`,
:mod:`reglab.evaluation`).
"""

import torch
import torch.nn.functional as F

from reglab import evaluation, fields, warping
from reglab.course.checks.core import Case, Mistake, run_check
from reglab.course.checks.questions import ask, choice
from reglab.networks.transmorph import window_partition


def _generator():
    return torch.Generator().manual_seed(7)


def _smooth(batch, channels, size, magnitude, generator):
    coarse = torch.randn(batch, channels, *[3] * len(size), generator=generator) * magnitude
    return F.interpolate(coarse, size=size, mode="bilinear" if len(size) == 2 else "trilinear", align_corners=True)


def _describe(batch, size):
    return f"{len(size)}D, {' × '.join(map(str, size))}, batch of {batch}"


# ---------------------------------------------------------------- Exercise 7.2


def _upsampled(u, size, *, factors="right", align_corners=True):
    """Linear interpolation onto ``size``, then component i times a factor, and the slips of the factor."""
    ndim = u.shape[1]
    resized = F.interpolate(u, size=tuple(size), mode="bilinear" if ndim == 2 else "trilinear",
                            align_corners=align_corners)
    right = [(n - 1) / (m - 1) for n, m in zip(size, u.shape[2:])]
    chosen = {"right": right, "none": [1.0] * ndim, "two": [2.0] * ndim, "first": [right[0]] * ndim,
              "reversed": right[::-1], "ratio": [n / m for n, m in zip(size, u.shape[2:])]}[factors]
    return resized * torch.tensor(chosen, dtype=u.dtype).reshape(1, ndim, *[1] * ndim)


UPSAMPLE_MISTAKES = [
    Mistake("the field is interpolated but its vectors still count coarse voxels: multiply component i by "
            "(new_n_i − 1) / (old_n_i − 1).", output=lambda u, size: _upsampled(u, size, factors="none")),
    Mistake("interpolate with align_corners=True, reglab's convention (first and last voxel centres stay put).",
            output=lambda u, size: _upsampled(u, size, align_corners=False)),
    Mistake("the factor is not always 2: compute it per axis from the sizes, (new_n_i − 1) / (old_n_i − 1).",
            output=lambda u, size: _upsampled(u, size, factors="two")),
    Mistake("every component got axis 0's factor: component i moves along axis i, so it takes axis i's own factor "
            "(new_n_i − 1) / (old_n_i − 1).", output=lambda u, size: _upsampled(u, size, factors="first")),
    Mistake("the factors are in reversed order: component i belongs to tensor axis i (not (x, y[, z]) order).",
            output=lambda u, size: _upsampled(u, size, factors="reversed")),
    Mistake("with align_corners=True the voxel spacing scales by (new_n − 1) / (old_n − 1), not new_n / old_n.",
            output=lambda u, size: _upsampled(u, size, factors="ratio")),
]


def check_upsample_field(upsample_field):
    """Exercise 7.2: LapIRN's ``upsample_field(u, size)``: interpolate linearly *and* rescale the vectors per axis."""
    g = _generator()
    cases = []
    for batch, coarse, fine in [(1, (8, 8), (15, 15)), (2, (5, 7), (9, 19)), (1, (4, 5, 6), (10, 9, 16)),
                                (2, (3, 4, 3), (5, 10, 9)), (1, (6, 4), (11, 13))]:
        u = _smooth(batch, len(coarse), coarse, 1.5, g)
        factors = ", ".join(f"{(n - 1) / (m - 1):g}" for n, m in zip(fine, coarse))
        cases.append(Case(f"{_describe(batch, coarse)} → {' × '.join(map(str, fine))} (factors {factors})",
                          (u, fine), fields.resize_displacement(u, fine)))
    return run_check("Exercise 7.2 — upsampling a coarse field", upsample_field, cases, mistakes=UPSAMPLE_MISTAKES,
                     names=("displacement", "size"), forbid=(fields.resize_displacement,))


check_upsample_field.mistakes = UPSAMPLE_MISTAKES


# ---------------------------------------------------------------- Exercise 7.3


def _partition(x, window, *, order="right"):
    """Swin's window partition and its slips: a plain reshape, the axes of the permutation in other orders."""
    batch, *size, channels = x.shape
    d = len(size)
    tokens = 1
    for w in window:
        tokens *= w
    if order == "reshape":
        return x.reshape(-1, tokens, channels)
    split = [batch]
    for n, w in zip(size, window):
        split += [n // w, w]
    blocks = x.reshape(*split, channels)
    grid_axes, inside_axes = [1 + 2 * i for i in range(d)], [2 + 2 * i for i in range(d)]
    axes = {"right": [0, *grid_axes, *inside_axes], "inside_first": [0, *inside_axes, *grid_axes],
            "column_major": [0, *grid_axes, *inside_axes[::-1]], "grid_reversed": [0, *grid_axes[::-1], *inside_axes],
            "batch_inside": [*grid_axes, 0, *inside_axes]}[order]
    return blocks.permute(*axes, 2 * d + 1).reshape(-1, tokens, channels)


PARTITION_MISTAKES = [
    Mistake("a plain reshape mixes voxels of different windows: split every axis into (n/w, w), then permute "
            "so the window-grid axes come first and the within-window axes last.",
            output=lambda x, window: _partition(x, window, order="reshape")),
    Mistake("the within-window axes came before the window-grid axes: permute to (B, n_0/w_0, n_1/w_1, …, w_0, w_1, "
            "…, C), grid axes first.", output=lambda x, window: _partition(x, window, order="inside_first")),
    Mistake("the tokens inside each window are in column-major order: keep the within-window axes in order "
            "(w_0, w_1[, w_2]), row-major.", output=lambda x, window: _partition(x, window, order="column_major")),
    Mistake("the windows are ordered along the last axis first: keep the window-grid axes in order (axis 0, 1[, 2]).",
            output=lambda x, window: _partition(x, window, order="grid_reversed")),
    Mistake("the windows of the batch are interleaved: keep the batch axis first in the permutation, so each "
            "sample's windows stay together.", output=lambda x, window: _partition(x, window, order="batch_inside")),
    Mistake("window[i] belongs to spatial axis i: split axis i into (n_i / window[i], window[i]), not the reversed "
            "window.", output=lambda x, window: _partition(x, tuple(window)[::-1])),
]


def check_window_partition(partition):
    """Exercise 7.3: Swin's ``window_partition(x, window)``: ``(B, *S, C) → (B · nW, prod(window), C)``."""
    g = _generator()
    cases = []
    for batch, size, window, channels in [(1, (4, 4), (2, 2), 3), (2, (6, 4), (3, 2), 5), (2, (6, 6), (3, 2), 2),
                                          (1, (4, 6, 2), (2, 3, 1), 2), (2, (6, 4, 6), (3, 2, 1), 3)]:
        x = torch.randn(batch, *size, channels, generator=g)
        cases.append(Case(f"{_describe(batch, size)}, window {' × '.join(map(str, window))}, {channels} channels",
                          (x, window), window_partition(x, window)))
    return run_check("Exercise 7.3 — Swin window partition", partition, cases, mistakes=PARTITION_MISTAKES,
                     names=("x", "window"), forbid=(window_partition,))


check_window_partition.mistakes = PARTITION_MISTAKES


# ---------------------------------------------------------------- Exercise 7.1


def _padded(image, multiple, *, where="end", order="right", mode="constant", always=False, axes=None):
    """Padding up to a multiple, and its slips: both sides or the start, F.pad's axis order, replicate, +multiple."""
    size = image.shape[2:]
    extra = [multiple - n % multiple if always else (-n) % multiple for n in size]
    if axes is not None:
        extra = [0] * (len(size) - axes) + extra[-axes:]
    pairs = {"end": [(0, e) for e in extra], "start": [(e, 0) for e in extra],
             "both": [(e // 2, e - e // 2) for e in extra]}[where]
    ordered = pairs[::-1] if order == "right" else pairs
    flat = [p for pair in ordered for p in pair]
    if axes is not None:
        flat = flat[:2 * axes]
    return F.pad(image, flat, mode=mode)


PAD_MISTAKES = [
    Mistake("F.pad lists the *last* axis first: build the padding from reversed(sizes).",
            output=lambda image, multiple: _padded(image, multiple, order="given")),
    Mistake("pad only at the end of each axis, so voxel (0, 0) stays at (0, 0) and the network's field can be "
            "cropped back with [..., :H, :W].", output=lambda image, multiple: _padded(image, multiple, where="both")),
    Mistake("this pads at the start of each axis: F.pad takes (before, after) pairs, so the padding goes second, "
            "(0, amount).", output=lambda image, multiple: _padded(image, multiple, where="start")),
    Mistake("an axis that already is a multiple stays as it is: the amount is (−n) % multiple, not "
            "multiple − n % multiple.", output=lambda image, multiple: _padded(image, multiple, always=True)),
    Mistake("zero-pad (F.pad's default mode='constant'): the network sees the padding as empty background.",
            output=lambda image, multiple: _padded(image, multiple, mode="replicate")),
    Mistake("only the last two axes were padded: a volume has three spatial axes, pad every one of them.",
            output=lambda image, multiple: _padded(image, multiple, axes=2)),
]


def check_pad_to_multiple(pad_to_multiple):
    """Exercise 7.1: zero-pad every spatial axis *at its end* up to a multiple of ``multiple``."""
    g = _generator()
    cases = []
    for batch, channels, size, multiple in [(1, 1, (13, 16), 8), (2, 1, (7, 9), 4), (1, 2, (5, 6, 7), 4),
                                            (2, 1, (9, 8, 3), 2), (1, 1, (10, 3, 12), 4)]:
        image = torch.rand(batch, channels, *size, generator=g) + 0.5
        padded = torch.zeros(batch, channels, *[-(-n // multiple) * multiple for n in size])
        padded[(..., *[slice(0, n) for n in size])] = image
        cases.append(Case(f"{_describe(batch, size)}, {channels} channel(s), multiple of {multiple}", (image, multiple),
                          padded))
    return run_check("Exercise 7.1 — padding for downsampling", pad_to_multiple, cases, mistakes=PAD_MISTAKES,
                     names=("image", "multiple"))


check_pad_to_multiple.mistakes = PAD_MISTAKES


# ---------------------------------------------------------------- Exercise 7.4


def _before_after(fixed, moving, u, *, mode="nearest", sign=1.0, warp_fixed=False, background=False, per_sample=False):
    """``tensor([mean Dice before, after])`` and its slips."""
    if mode == "nearest":
        warped = warping.warp(fixed if warp_fixed else moving, sign * u, mode="nearest")
    else:
        warped = warping.warp(moving.float(), sign * u).round().long()
    labels = None
    if background:
        labels = list(range(int(torch.maximum(fixed.max(), moving.max())) + 1))
    reference, other = (moving, warped) if warp_fixed else (fixed, warped)
    before = evaluation.dice(fixed, moving, labels=labels)
    after = evaluation.dice(reference, other, labels=labels)
    if per_sample:
        return torch.stack([before.mean(1), after.mean(1)])
    return torch.stack([before.mean(), after.mean()])


DICE_MISTAKES = [
    Mistake("warp label maps with mode='nearest': linear interpolation invents in-between labels.",
            output=lambda f, m, u: _before_after(f, m, u, mode="linear")),
    Mistake("the order is (before, after).", derive=lambda e: e.flip(0)),
    Mistake("the labels moved the other way: warp(moving, u) samples at x + u(x), not x − u(x).",
            output=lambda f, m, u: _before_after(f, m, u, sign=-1.0)),
    Mistake("warp the MOVING labels onto the fixed grid and compare with the fixed labels: u lives on the fixed "
            "grid.", output=lambda f, m, u: _before_after(f, m, u, warp_fixed=True)),
    Mistake("the background (label 0) was scored too: evaluation.dice(fixed, moving) scores the non-zero labels.",
            output=lambda f, m, u: _before_after(f, m, u, background=True)),
    Mistake("return two numbers: average over the labels *and* the batch, .mean() of the (B, L) Dice.",
            output=lambda f, m, u: _before_after(f, m, u, per_sample=True)),
]


def check_dice_before_after(dice_before_after):
    """Exercise 7.4: ``tensor([mean Dice before, mean Dice after])`` with nearest-neighbour label warping."""
    g = _generator()
    cases = []
    for batch, size in [(1, (16, 16)), (2, (12, 15)), (1, (8, 9, 10)), (2, (7, 8, 6))]:
        labels = (_smooth(batch, 1, size, 1.0, g) * 2).round().clamp(0, 3).long()
        moving = warping.warp(labels, _smooth(batch, len(size), size, 1.5, g), mode="nearest")
        u = _smooth(batch, len(size), size, 1.0, g)
        cases.append(Case(_describe(batch, size), (labels, moving, u), _before_after(labels, moving, u)))
    return run_check("Exercise 7.4 — Dice before and after", dice_before_after, cases, mistakes=DICE_MISTAKES,
                     names=("fixed_labels", "moving_labels", "displacement"))


check_dice_before_after.mistakes = DICE_MISTAKES


# ---------------------------------------------------------------- Questions predict, interpret, tune, debug


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
