"""Intensity measures: SSD, MSE, SAD and global NCC, voxel by voxel over the whole image.

=======  =============================================  ===========  ======
measure  formula (per channel, averaged over channels)  range        better
=======  =============================================  ===========  ======
``ssd``  ``Σ (F - M)²``                                 ``[0, ∞)``   lower
``mse``  ``1/N Σ (F - M)²``                             ``[0, ∞)``   lower
``sad``  ``1/N Σ |F - M|`` (the lecture's SAD)          ``[0, ∞)``   lower
``ncc``  Pearson correlation of all voxels              ``[-1, 1]``  higher
=======  =============================================  ===========  ======

The measures of unimodal registration (the lecture's equations 2.17-2.19); NCC
also tolerates a linear intensity change. Lab 03, exercises 3.1 and 3.2.

References:
    Szeliski 2010 (SSD, SAD, NCC).
"""

import torch

from reglab.similarity._reduction import _check_pair, _correlation, _reduce, _weighted_mean


# ----------------------------------------------------------------------------- intensity differences


def ssd(fixed, warped, *, mask=None, reduction="mean"):
    """Sum of squared differences ``SSD = Σ_i (F(x_i) - M(x_i))²``; lower is better.

    Args:
        fixed: ``(B, C, *spatial)`` fixed image.
        warped: the moving image warped onto the fixed grid, same shape.
        mask: optional ``(B|1, 1|C, *spatial)`` region (bool or weights); voxels outside do not count.
        reduction: ``"mean"`` | ``"sum"`` over the batch, or ``"none"`` for ``(B,)``.

    Returns:
        Tensor, ``>= 0``, in squared intensity units; it grows with the number of
        voxels (use :func:`mse` for a size-independent value). Channels are averaged.

    Raises:
        ValueError, TypeError: see :mod:`reglab.validation`.

    Example:
        >>> f = torch.zeros(1, 1, 2, 2); w = torch.ones(1, 1, 2, 2)
        >>> ssd(f, w)
        tensor(4.)

    Lab 03, exercise 3.1.
    """
    _, weights = _check_pair("ssd", fixed, warped, mask, reduction)
    squared = (fixed - warped) ** 2
    if weights is not None:
        squared = squared * weights
    return _reduce(squared.flatten(2).sum(dim=2), reduction)


def mse(fixed, warped, *, mask=None, reduction="mean"):
    """Mean squared error ``MSE = 1/N Σ_i (F(x_i) - M(x_i))²``; lower is better.

    The lecture's "SSD (MSE)": the SSD divided by the number of voxels ``N`` (with
    a mask: the weighted mean over the mask). It equals SimpleITK's
    ``MeanSquares`` metric.

    Args and Returns: as :func:`ssd`; the value is ``>= 0`` in squared intensity units.

    Example:
        >>> f = torch.zeros(1, 1, 2, 2); w = torch.tensor([[[[0., 1.], [2., 3.]]]])
        >>> mse(f, w)
        tensor(3.5000)
    """
    _, weights = _check_pair("mse", fixed, warped, mask, reduction)
    return _reduce(_weighted_mean((fixed - warped) ** 2, weights), reduction)


def sad(fixed, warped, *, mask=None, reduction="mean"):
    """Mean absolute difference ``SAD = 1/N Σ_i |F(x_i) - M(x_i)|``; lower is better.

    The lecture's SAD divides by ``N`` (so "sum" of absolute differences is, as
    there, a mean). Less sensitive to outliers than :func:`mse`.

    Args and Returns: as :func:`ssd`; the value is ``>= 0`` in intensity units.

    Example:
        >>> f = torch.zeros(1, 1, 2, 2); w = torch.tensor([[[[0., -1.], [2., 3.]]]])
        >>> sad(f, w)
        tensor(1.5000)
    """
    _, weights = _check_pair("sad", fixed, warped, mask, reduction)
    return _reduce(_weighted_mean((fixed - warped).abs(), weights), reduction)


# ----------------------------------------------------------------------------- correlation


def _rounding_level(image):
    """``(B, C)`` float rounding level of an image's values: a smaller standard deviation means "constant"."""
    largest = image.detach().flatten(2).abs().amax(dim=2)
    return 64 * torch.finfo(image.dtype).eps * largest


def ncc(fixed, warped, *, mask=None, reduction="mean"):
    """Global normalized cross-correlation (Pearson's r); higher is better.

    ``NCC = 1/N Σ_i (F(x_i) - μ_F)(M(x_i) - μ_M) / (σ_F σ_M)`` over all voxels
    (with a mask: weighted means, variances and covariance over the mask).
    Invariant to ``a·M + b`` for ``a > 0`` (and flips sign for ``a < 0``).

    Args:
        fixed, warped, mask, reduction: as :func:`ssd`.

    An image whose standard deviation is at float rounding level (below
    ``64 · machine-eps · max|I|``) counts as constant, and NCC with a constant
    image is defined as 0. No ε enters the value of any other image pair.

    Returns:
        Tensor in ``[-1, 1]``: 1 for ``M = a F + b`` with ``a > 0``, -1 for ``a < 0``,
        0 for unrelated images.

    Example:
        >>> f = torch.arange(4.0).reshape(1, 1, 2, 2)
        >>> ncc(f, 3 * f + 1), ncc(f, -f)
        (tensor(1.), tensor(-1.))

    Lab 03, exercise 3.2.
    """
    _, weights = _check_pair("ncc", fixed, warped, mask, reduction)
    mean_f, mean_m = _weighted_mean(fixed, weights), _weighted_mean(warped, weights)            # (B, C)
    centred_f = fixed - mean_f.reshape(mean_f.shape + (1,) * (fixed.dim() - 2))
    centred_m = warped - mean_m.reshape(mean_m.shape + (1,) * (fixed.dim() - 2))
    var_f = _weighted_mean(centred_f**2, weights)
    var_m = _weighted_mean(centred_m**2, weights)
    covariance = _weighted_mean(centred_f * centred_m, weights)
    flat_f = _rounding_level(fixed) ** 2
    flat_m = _rounding_level(warped) ** 2
    return _reduce(_correlation(covariance, var_f, var_m, flat_f, flat_m, squared=False), reduction)
