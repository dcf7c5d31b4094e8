"""Checks of label maps shared by :mod:`~reglab.evaluation.overlap` and :mod:`~reglab.evaluation.surface_distance`.

Label maps are ``(B, 1, *spatial)`` tensors of non-negative integers (bool,
integer, or floating point holding whole numbers); 0 is the background.
Errors name the public function that was called (``fn``).
"""

import torch

from reglab.validation import check_image


def _label_map(fn, name, labels):
    """Check a label map ``(B, 1, *spatial)``; return its number of spatial axes and its largest label (an int).

    The smallest and the largest label come from one pass (``aminmax``); a bool
    mask is not scanned (its largest label is taken as 1).
    """
    ndim = check_image(fn, name, labels, allow_integer=True)
    if labels.shape[1] != 1:
        raise ValueError(
            f"{fn}(): expected `{name}` as a label map of shape (B, 1, *spatial), got {tuple(labels.shape)}. "
            "Hint: turn a one-hot or probability tensor into a label map with x.argmax(1, keepdim=True)."
        )
    if labels.is_floating_point() and not torch.equal(labels, labels.round()):
        raise ValueError(
            f"{fn}(): expected `{name}` to hold whole label numbers, got fractional values. "
            "Hint: threshold probabilities (p > 0.5) or warp label maps with mode='nearest' or mode='label'."
        )
    if labels.dtype == torch.bool or not labels.numel():
        return ndim, 1
    smallest, largest = labels.aminmax()
    if smallest < 0:
        raise ValueError(f"{fn}(): expected non-negative labels in `{name}`, got {smallest.item()}.")
    return ndim, int(largest)


def _pair(fn, fixed, moving):
    """Check two label maps of the same shape; return the number of spatial axes and the largest label of both."""
    ndim, largest_fixed = _label_map(fn, "fixed", fixed)
    _, largest_moving = _label_map(fn, "moving", moving)
    if fixed.shape != moving.shape:
        raise ValueError(
            f"{fn}(): expected `fixed` and `moving` of the same shape, got {tuple(fixed.shape)} and "
            f"{tuple(moving.shape)}. Hint: warp the moving labels onto the fixed grid first."
        )
    return ndim, max(largest_fixed, largest_moving)
