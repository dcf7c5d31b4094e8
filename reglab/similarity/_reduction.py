"""The contract every measure shares: input checks, masks as weights, reductions, the guarded correlation.

Private: the measures of this package call these helpers, students call the measures.

* ``_check_pair`` validates ``fixed``, ``warped``, ``mask`` and ``reduction`` and turns the mask
  into float weights;
* ``_weighted_mean`` averages over the spatial axes inside the mask (an empty mask gives 0);
* ``_reduce`` averages over channels, then reduces over the batch (``"mean"``, ``"sum"``, ``"none"``);
* ``_correlation`` is the quotient ``cov / sqrt(var_F var_M)`` shared by :func:`ncc` and
  :func:`local_ncc`, 0 where either image is flat.
"""

import torch

from reglab.validation import check_choice, check_image, check_tensor

REDUCTIONS = ("mean", "sum", "none")


def _check_pair(fn, fixed, warped, mask, reduction):
    """Validate the common contract; return ``ndim`` and the mask as float weights ``(B|1, C|1, *spatial)`` or None."""
    ndim = check_image(fn, "fixed", fixed)
    check_image(fn, "warped", warped)
    if fixed.shape != warped.shape:
        raise ValueError(
            f"{fn}(): expected `fixed` and `warped` of the same shape, got {tuple(fixed.shape)} and "
            f"{tuple(warped.shape)}. Hint: warp the moving image onto the fixed grid first (reglab.warp)."
        )
    check_choice(fn, "reduction", reduction, REDUCTIONS)
    if mask is None:
        return ndim, None
    check_tensor(fn, "mask", mask)
    batch, channels = fixed.shape[:2]
    if (
        mask.dim() != fixed.dim()
        or mask.shape[2:] != fixed.shape[2:]
        or mask.shape[0] not in (1, batch)
        or mask.shape[1] not in (1, channels)
    ):
        raise ValueError(
            f"{fn}(): expected `mask` of shape (B or 1, 1 or C, *spatial) = ({batch} or 1, 1 or {channels}, "
            f"{', '.join(map(str, fixed.shape[2:]))}), got {tuple(mask.shape)}. Hint: add axes with mask[None, None]."
        )
    weights = mask.to(fixed.dtype)
    if not torch.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"{fn}(): expected `mask` with finite values >= 0 (bool or weights), got negative or NaN values.")
    return ndim, weights


def _reduce(values, reduction):
    """Per-(sample, channel) values ``(B, C)`` → averaged over channels, then reduced over the batch."""
    per_sample = values.mean(dim=1)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def _weighted_mean(values, weights):
    """Mean over the spatial axes of ``(B, C, *spatial)``, weighted by ``weights`` (or plain); ``(B, C)``.

    An empty mask gives 0.
    """
    if weights is None:
        return values.flatten(2).mean(dim=2)
    weights = weights.expand_as(values).flatten(2)
    total = weights.sum(dim=2)
    summed = (values.flatten(2) * weights).sum(dim=2)
    return torch.where(total > 0, summed / total.clamp_min(torch.finfo(values.dtype).tiny), torch.zeros_like(summed))


def _correlation(covariance, variance_fixed, variance_warped, flat_fixed, flat_warped, squared):
    """``cov / sqrt(var_F var_M)`` (or its square) where both are non-flat, 0 elsewhere; clamped to [-1, 1]."""
    valid = (variance_fixed > flat_fixed) & (variance_warped > flat_warped)
    product = torch.where(valid, variance_fixed * variance_warped, torch.ones_like(covariance))   # no 1/0, even in gradients
    if squared:
        value = covariance**2 / product
        return torch.where(valid, value.clamp(0, 1), torch.zeros_like(value))
    value = covariance * product.rsqrt()
    return torch.where(valid, value.clamp(-1, 1), torch.zeros_like(value))
