"""Local (windowed) NCC and the box filter that computes its window means.

=============  =============================================  ===========  ======
measure        formula (per channel, averaged over channels)  range        better
=============  =============================================  ===========  ======
``local_ncc``  mean Pearson correlation of windows            ``[-1, 1]``  higher
=============  =============================================  ===========  ======

:func:`box_mean` is the separable, border-exact window mean (a custom autograd
function, so its backward pass is one more box sum); :func:`local_ncc` builds the
windows' means, variances and covariance from it. Local NCC is the usual loss of
learning-based registration. Lab 03 (local vs global NCC under a bias field);
Lab 06 trains networks with it.

References:
    Szeliski 2010 (NCC).
"""

import torch
import torch.nn.functional as F

from reglab.similarity._reduction import _check_pair, _correlation, _reduce, _weighted_mean


def box_mean(image, window):
    """Mean over a ``window``-sized box around every voxel, counting only voxels inside the image.

    Separable: the image is zero-padded once, then summed along one axis after
    the other with a 1D moving sum built from block sums of 1, 2, 4, 8, … voxels
    (``log2(window)`` additions per voxel), and finally divided by the number of
    in-image voxels that each box holds. At the borders the box is cut by the
    image edge and the mean is taken over the voxels that remain (no zero
    padding in the statistics): a constant image stays exactly constant.

    Args:
        image: ``(B, C, *spatial)``.
        window: odd window size in voxels, an int or one per axis.

    Returns:
        Tensor shaped like ``image``, same dtype.

    Example:
        >>> box_mean(torch.tensor([[[[0., 3., 6., 9.]]]]), 3)
        tensor([[[[1.5000, 3.0000, 6.0000, 7.5000]]]])
    """
    ndim = image.dim() - 2
    radii = tuple(size // 2 for size in _window_sizes("box_mean", window, ndim))
    return _BoxMean.apply(image, radii)


def _moving_sum(image, dim, width):
    """``out[i] = sum(image[i … i + width - 1])`` along ``dim`` (only full windows: ``width - 1`` fewer values).

    By doubling: block sums of 1, 2, 4, 8, … voxels, and the window as the sum
    of the blocks of its binary digits, e.g. 9 = 1 + 8. That is about
    ``log2(width)`` additions per voxel, each of them a plain sum of few values
    (no cumulative-sum drift).
    """
    n = image.shape[dim] - width + 1
    result, offset, size, block = None, 0, 1, image                     # block[i] sums `size` voxels from i
    while size <= width:
        if width & size:
            part = block.narrow(dim, offset, n)
            result = part if result is None else result + part
            offset += size
        if 2 * size <= width:
            length = block.shape[dim] - size
            block = block.narrow(dim, 0, length) + block.narrow(dim, size, length)
        size *= 2
    return result


def _box_sum(image, radii):
    """Sum over the box ``x ± radii`` around every voxel, zero outside the image; shaped like ``image``."""
    block = F.pad(image, [r for radius in reversed(radii) for r in (radius, radius)])   # F.pad: last axis first
    for axis, radius in enumerate(radii):
        block = _moving_sum(block, axis + 2, 2 * radius + 1)
    return block


def _inverse_count(size, radii, like):
    """``(*size)``: 1 / (number of in-image voxels in the box around each voxel), a product over the axes."""
    inverse = torch.ones((), device=like.device, dtype=like.dtype)
    for axis, (n, r) in enumerate(zip(size, radii)):
        index = torch.arange(n, device=like.device)
        count = (index + r).clamp(max=n - 1) - (index - r).clamp(min=0) + 1
        inverse = inverse * (1.0 / count.to(like.dtype)).reshape((-1,) + (1,) * (len(size) - 1 - axis))
    return inverse


class _BoxMean(torch.autograd.Function):
    """The box mean ``M = D S`` (``S`` the box sum, symmetric; ``D`` = 1/count, diagonal); its adjoint is ``S D``."""

    @staticmethod
    def forward(ctx, image, radii):
        ctx.radii = radii
        return _box_sum(image, radii).mul_(_inverse_count(image.shape[2:], radii, image))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        return _box_sum(grad * _inverse_count(grad.shape[2:], ctx.radii, grad), ctx.radii), None


def _window_sizes(fn, window, ndim):
    sizes = [window] * ndim if isinstance(window, int) else list(window)
    if len(sizes) != ndim or any(not isinstance(s, int) or s < 1 or s % 2 == 0 for s in sizes):
        raise ValueError(f"{fn}(): expected `window` to be an odd int >= 1 or {ndim} of them, got {window!r}.")
    return sizes


def _flat_threshold(variance_global, mean_global, eps):
    """Below this variance a window counts as flat: ``eps`` × the image's variance, plus float rounding level."""
    rounding = torch.finfo(variance_global.dtype).eps * (mean_global**2 + variance_global)
    return eps * variance_global + rounding


def local_ncc(fixed, warped, *, window=9, mask=None, reduction="mean", squared=False, eps=1e-5):
    """Local (windowed) normalized cross-correlation: the mean of the windows' Pearson correlations; higher is better.

    For every voxel ``x``, ``r(x)`` is the correlation of ``F`` and ``M`` over the
    window centred at ``x``; ``LNCC = mean_x r(x)``. Windows are cut at the image
    border (statistics over the in-image voxels only, never zero padding), and
    their means are computed with separable box filters (:func:`box_mean`), so
    the cost does not depend on the window size. Local NCC tolerates slowly
    varying intensity changes (a bias field) that defeat global :func:`ncc`; it is
    the usual loss of learning-based registration.

    ``squared=True`` gives the mean of ``r(x)²`` in ``[0, 1]``: the form of MONAI,
    voxelmorph and TransMorph. It is blind to contrast inversion (``r = -1`` scores
    like ``r = 1``), which the plain form is not.

    Args:
        fixed, warped, mask, reduction: as :func:`ssd` (the mask selects window centres).
        window: odd window size in voxels, an int or one per axis (default 9).
        squared: average ``r²`` instead of ``r``.
        eps: a window whose variance is below ``eps`` × the image's variance (plus
            float rounding level) is flat; a window that is flat in either image has
            ``r = 0``. Other windows get their exact correlation: ``eps`` does not bias
            low-contrast windows.

    Returns:
        Tensor in ``[-1, 1]`` (``[0, 1]`` when squared).

    Example:
        >>> from reglab.similarity import ncc
        >>> f = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> bias = torch.linspace(0.2, 3, 16)[None, None, None]        # smooth gain across columns
        >>> round(local_ncc(f, f * bias, window=3).item(), 2), round(ncc(f, f * bias).item(), 2)
        (0.96, 0.72)

    Lab 03 (local vs global NCC under a bias field).
    """
    ndim, weights = _check_pair("local_ncc", fixed, warped, mask, reduction)
    _window_sizes("local_ncc", window, ndim)
    # Centre each image on its global mean: exact for the correlation, and it keeps
    # the E[x²] - E[x]² variances free of float cancellation.
    spatial = tuple(range(2, fixed.dim()))
    mean_f = fixed.detach().mean(dim=spatial, keepdim=True)
    mean_m = warped.detach().mean(dim=spatial, keepdim=True)
    f, m = fixed - mean_f, warped - mean_m
    channels = fixed.shape[1]
    # Two groups, so that the moments of the fixed image (usually without
    # gradient) are not carried through the backward pass.
    mu_f, ff = box_mean(torch.cat([f, f * f], dim=1), window).split(channels, dim=1)
    mu_m, mm, fm = box_mean(torch.cat([m, m * m, f * m], dim=1), window).split(channels, dim=1)
    var_f = ff - mu_f**2
    var_m = mm - mu_m**2
    covariance = fm - mu_f * mu_m
    flat_f = _flat_threshold(f.detach().pow(2).mean(dim=spatial, keepdim=True), mean_f, eps)
    flat_m = _flat_threshold(m.detach().pow(2).mean(dim=spatial, keepdim=True), mean_m, eps)
    r = _correlation(covariance, var_f, var_m, flat_f, flat_m, squared)
    return _reduce(_weighted_mean(r, weights), reduction)
