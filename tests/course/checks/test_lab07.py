"""Lab 07's checkers: right answers and other right formulations pass; at least five realistic wrong answers per
exercise fail with the one hint that names their mistake (factors that differ per axis, non-square windows)."""

import torch
import torch.nn.functional as F

from reglab import evaluation, fields, warping
from reglab.course.checks import lab07
from reglab.networks import transmorph
from tests.course.checks.helpers import in_place, own, run, table_tests

CHECKS = [lab07.check_pad_to_multiple, lab07.check_upsample_field, lab07.check_window_partition,
          lab07.check_dice_before_after]
warp = own(warping.warp)


def pad_to_multiple(image, multiple):
    padding = []
    for n in reversed(image.shape[2:]):
        padding += [0, (-n) % multiple]
    return F.pad(image, padding)


def pad_into_zeros(image, multiple):
    """Another right answer: a zero tensor of the padded size, the image copied into its start."""
    size = [-(-n // multiple) * multiple for n in image.shape[2:]]
    padded = image.new_zeros(*image.shape[:2], *size)
    padded[(..., *[slice(0, n) for n in image.shape[2:]])] = image
    return padded


def upsample_field(u, size):
    ndim = u.shape[1]
    resized = F.interpolate(u, size=tuple(size), mode="bilinear" if ndim == 2 else "trilinear", align_corners=True)
    factors = [(n - 1) / (m - 1) for n, m in zip(size, u.shape[2:])]
    return resized * torch.tensor(factors, dtype=u.dtype).reshape(1, ndim, *[1] * ndim)


def upsample_per_component(u, size):
    """Another right answer: one component at a time."""
    ndim = u.shape[1]
    mode = "bilinear" if ndim == 2 else "trilinear"
    parts = [F.interpolate(u[:, i:i + 1], size=tuple(size), mode=mode, align_corners=True)
             * (size[i] - 1) / (u.shape[2 + i] - 1) for i in range(ndim)]
    return torch.cat(parts, dim=1)


def window_partition(x, window):
    return lab07._partition(x, window)


def window_partition_unfold(x, window):
    """Another right answer: view the windows with unfold along each axis, then flatten."""
    batch, *size, channels = x.shape
    blocks = x
    for axis, w in enumerate(window):
        blocks = blocks.unfold(1 + axis, w, w)                   # (B, n0/w0, ..., C, w0, ...)
    d = len(size)
    blocks = blocks.permute(0, *range(1, d + 1), *range(d + 2, 2 * d + 2), d + 1)
    return blocks.reshape(-1, int(torch.tensor(window).prod()), channels)


def dice_before_after(fixed, moving, u):
    warped = warping.warp(moving, u, mode="nearest")
    return torch.stack([evaluation.dice(fixed, moving).mean(), evaluation.dice(fixed, warped).mean()])


def dice_before_after_one_hot(fixed, moving, u):
    """Another right answer: warp each label's indicator with nearest, Dice written out over the present labels."""
    labels = [int(v) for v in torch.cat([fixed.unique(), moving.unique()]).unique() if v > 0]
    warped = warp(moving, u, mode="nearest")
    present = [int(v) for v in torch.cat([fixed.unique(), warped.unique()]).unique() if v > 0]

    def mean_dice(f, m, chosen):
        scores = []
        for label in chosen:
            a, b = (f == label).flatten(1), (m == label).flatten(1)
            total = (a.sum(1) + b.sum(1)).float()
            scores.append(torch.where(total > 0, 2 * (a & b).sum(1) / total.clamp_min(1), torch.ones_like(total)))
        return torch.stack(scores, 1).mean()

    return torch.stack([mean_dice(fixed, moving, labels), mean_dice(fixed, warped, present)])


RIGHT = [(lab07.check_pad_to_multiple, pad_to_multiple), (lab07.check_pad_to_multiple, pad_into_zeros),
         (lab07.check_upsample_field, upsample_field), (lab07.check_upsample_field, upsample_per_component),
         (lab07.check_window_partition, window_partition), (lab07.check_window_partition, window_partition_unfold),
         (lab07.check_dice_before_after, dice_before_after),
         (lab07.check_dice_before_after, dice_before_after_one_hot)]

WRONG = [
    (lab07.check_pad_to_multiple, lambda i, k: lab07._padded(i, k, order="given"), "F.pad lists the *last*"),
    (lab07.check_pad_to_multiple, lambda i, k: lab07._padded(i, k, where="both"), "pad only at the end"),
    (lab07.check_pad_to_multiple, lambda i, k: lab07._padded(i, k, where="start"), "pads at the start"),
    (lab07.check_pad_to_multiple, lambda i, k: lab07._padded(i, k, always=True), "(−n) % multiple"),
    (lab07.check_pad_to_multiple, lambda i, k: lab07._padded(i, k, mode="replicate"), "zero-pad"),
    (lab07.check_pad_to_multiple, lambda i, k: F.pad(i, [0, (-i.shape[-1]) % k, 0, (-i.shape[-2]) % k]),
     "only the last two axes"),
    (lab07.check_pad_to_multiple, in_place(pad_to_multiple), "work on a copy"),
    (lab07.check_upsample_field, lambda u, s: lab07._upsampled(u, s, factors="none"), "still count coarse voxels"),
    (lab07.check_upsample_field, lambda u, s: lab07._upsampled(u, s, align_corners=False), "align_corners=True"),
    (lab07.check_upsample_field, lambda u, s: F.interpolate(u, size=s, mode="bilinear" if len(s) == 2 else "trilinear",
                                                            align_corners=True) * 2, "not always 2"),
    (lab07.check_upsample_field, lambda u, s: lab07._upsampled(u, s, factors="first"), "axis 0's factor"),
    (lab07.check_upsample_field, lambda u, s: lab07._upsampled(u, s, factors="reversed"), "reversed order"),
    (lab07.check_upsample_field, lambda u, s: lab07._upsampled(u, s, factors="ratio"), "not new_n / old_n"),
    (lab07.check_upsample_field, lambda u, s: fields.resize_displacement(u, s), "this calls reglab.fields"),
    (lab07.check_window_partition, lambda x, w: x.reshape(-1, int(torch.tensor(w).prod()), x.shape[-1]),
     "plain reshape"),
    (lab07.check_window_partition, lambda x, w: lab07._partition(x, w, order="inside_first"), "grid axes first"),
    (lab07.check_window_partition, lambda x, w: lab07._partition(x, w, order="column_major"), "column-major"),
    (lab07.check_window_partition, lambda x, w: lab07._partition(x, w, order="grid_reversed"), "last axis first"),
    (lab07.check_window_partition, lambda x, w: lab07._partition(x, w, order="batch_inside"), "interleaved"),
    (lab07.check_window_partition, lambda x, w: lab07._partition(x, tuple(w)[::-1]), "not the reversed window"),
    (lab07.check_window_partition, lambda x, w: transmorph.window_partition(x, w), "this calls reglab.networks"),
    (lab07.check_dice_before_after, lambda f, m, u: torch.stack([
        evaluation.dice(f, m).mean(), evaluation.dice(f, warp(m.float(), u).round().long()).mean()]), "mode='nearest'"),
    (lab07.check_dice_before_after, lambda f, m, u: dice_before_after(f, m, u).flip(0), "(before, after)"),
    (lab07.check_dice_before_after, lambda f, m, u: dice_before_after(f, m, -u), "the other way"),
    (lab07.check_dice_before_after, lambda f, m, u: lab07._before_after(f, m, u, warp_fixed=True),
     "warp the MOVING labels"),
    (lab07.check_dice_before_after, lambda f, m, u: lab07._before_after(f, m, u, background=True), "label 0"),
    (lab07.check_dice_before_after, lambda f, m, u: lab07._before_after(f, m, u, per_sample=True), "*and* the batch"),
    (lab07.check_dice_before_after, lambda f, m, u: tuple(dice_before_after(f, m, u)),
     "return a torch.Tensor, not a tuple"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)


def test_a_hard_coded_factor_of_two_fails_where_the_factors_differ():
    result, out = run(lab07.check_upsample_field, lambda u, s: lab07._upsampled(u, s, factors="two"))
    assert result.passed == 1 and "factors 2, 2)" in out, out
