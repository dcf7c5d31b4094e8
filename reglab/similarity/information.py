"""(Dis)similarity measures: how well does the warped image match the fixed one?

Every measure takes ``(fixed, warped, *, mask=None, reduction="mean")`` with
images ``(B, C, H, W)`` or ``(B, C, D, H, W)`` and returns the quantity the
lecture defines, in its natural units:

=============  ============================================  ===========  ==================
measure        formula (per channel, averaged over channels)  range        better
=============  ============================================  ===========  ==================
``ssd``        ``Σ (F - M)²``                                 ``[0, ∞)``   lower
``mse``        ``1/N Σ (F - M)²``                             ``[0, ∞)``   lower
``sad``        ``1/N Σ |F - M|`` (the lecture's SAD)          ``[0, ∞)``   lower
``ncc``        Pearson correlation of all voxels              ``[-1, 1]``  higher
``local_ncc``  mean Pearson correlation of windows            ``[-1, 1]``  higher
``mi``         ``H(F) + H(M) - H(F, M)`` in nats              ``[0, ∞)``   higher
``nmi``        ``(H(F) + H(M)) / H(F, M)``                    ``[1, 2]``   higher
``ngf``        ``1/N Σ 1 - (∇F·∇M / ‖∇F‖_ε‖∇M‖_ε)²``          ``[0, 1]``   lower
``mind_ssd``   ``1/N Σ mean_r (MIND_F - MIND_M)²``            ``[0, 1]``   lower
``mind_ssc``   the same with MIND-SSC descriptors             ``[0, 1]``   lower
=============  ============================================  ===========  ==================

**One way to minimise.** The measures keep their natural sign; :func:`loss`
(and the module :class:`SimilarityLoss`) turns any of them into a quantity to
*minimise*: the measure itself when lower is better, its negative when higher
is better (``loss("ncc", f, w) == -ncc(f, w)``). ``HIGHER_IS_BETTER`` lists
the direction of each measure.

**Masks** ``(B or 1, 1 or C, *spatial)`` (bool, or float weights in ``[0, 1]``)
restrict a measure to a region: only voxels (window centres for
``local_ncc``) inside the mask count. An empty mask gives the value of "no
evidence": 0 for every measure (``nmi``: 1), never NaN.

**Reductions**: ``"mean"`` over the batch (a 0-d tensor), ``"sum"``, or
``"none"`` (one value per batch element, ``(B,)``).

Lab 03 ("Similarity measures") teaches this module.

References:
    Szeliski 2010 (SSD, SAD, NCC); Viola & Wells 1997 (MI); Mattes et al. 2003
    (B-spline Parzen MI); Studholme et al. 1999 (NMI); Haber & Modersitzki 2006
    (NGF); Heinrich et al. 2012 (MIND), 2013 (MIND-SSC).
"""

import itertools

import torch
import torch.nn.functional as F

from reglab.validation import check_choice, check_image, check_tensor

REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- input checks and reductions


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


def _flat_threshold(variance_global, mean_global, eps):
    """Below this variance a window counts as flat: ``eps`` × the image's variance, plus float rounding level."""
    rounding = torch.finfo(variance_global.dtype).eps * (mean_global**2 + variance_global)
    return eps * variance_global + rounding


def _rounding_level(image):
    """``(B, C)`` float rounding level of an image's values: a smaller standard deviation means "constant"."""
    largest = image.detach().flatten(2).abs().amax(dim=2)
    return 64 * torch.finfo(image.dtype).eps * largest


def _correlation(covariance, variance_fixed, variance_warped, flat_fixed, flat_warped, squared):
    """``cov / sqrt(var_F var_M)`` (or its square) where both are non-flat, 0 elsewhere; clamped to [-1, 1]."""
    valid = (variance_fixed > flat_fixed) & (variance_warped > flat_warped)
    product = torch.where(valid, variance_fixed * variance_warped, torch.ones_like(covariance))   # no 1/0, even in gradients
    if squared:
        value = covariance**2 / product
        return torch.where(valid, value.clamp(0, 1), torch.zeros_like(value))
    value = covariance * product.rsqrt()
    return torch.where(valid, value.clamp(-1, 1), torch.zeros_like(value))


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


# ----------------------------------------------------------------------------- mutual information


def _bspline_parzen(values, low, high, bins, *, derivative=False):
    """Cubic B-spline Parzen weights of ``values`` ``(M, N)`` in a histogram of ``bins`` bins.

    The range ``[low, high]`` maps to bin coordinates ``t ∈ [1, bins - 2]`` so that
    the kernel (support 4 bins) always stays inside the histogram; values outside the
    range are clamped to it.

    Returns:
        first: ``(M, N)`` int64, the first of the 4 bins a value touches.
        weights: ``(M, N, 4)``, the B-spline weights of bins ``first … first + 3`` (sum 1).
        With ``derivative=True`` also ``dweights/dt`` ``(M, N, 4)`` (0 where clamped) and
        ``dt/dvalue`` ``(M, 1)``.
    """
    scale = (bins - 3) / (high - low)                                   # bins per intensity unit, (M, 1)
    raw = 1 + (values - low) * scale
    t = raw.clamp(1, bins - 2)
    start = t.floor().clamp(max=bins - 3)                               # the kernel covers start-1 .. start+2
    f = t - start                                                       # in [0, 1]
    f2, f3 = f * f, f * f * f
    weights = torch.stack([(1 - f) ** 3, 3 * f3 - 6 * f2 + 4, -3 * f3 + 3 * f2 + 3 * f + 1, f3], dim=-1) / 6
    first = start.long() - 1
    if not derivative:
        return first, weights
    inside = ((raw >= 1) & (raw <= bins - 2)).to(values.dtype)[..., None]
    slopes = torch.stack([-((1 - f) ** 2) / 2, 1.5 * f2 - 2 * f, -1.5 * f2 + f + 0.5, f2 / 2], dim=-1)
    return first, weights, slopes * inside, scale


def _intensity_range(fn, image, intensity_range):
    """``(low, high)`` per (sample, channel), shape ``(B*C, 1)`` each; the data's min and max when None."""
    flat = image.flatten(2).flatten(0, 1)                               # (B*C, N)
    if intensity_range is None:
        low, high = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
        high = torch.where(high > low, high, low + 1)                   # a constant image: any width will do
        return low, high
    low, high = (float(v) for v in intensity_range)
    if not high > low:
        raise ValueError(f"{fn}(): expected an intensity range (low, high) with high > low, got {intensity_range!r}.")
    return flat.new_full((flat.shape[0], 1), low), flat.new_full((flat.shape[0], 1), high)


def joint_histogram(fixed, warped, *, bins=32, fixed_range=None, warped_range=None, mask=None):
    """Differentiable joint histogram with a cubic B-spline Parzen window (Mattes et al. 2003).

    Each voxel adds a 4 × 4 patch of B-spline weights around its bin pair
    ``(F(x), M(x))`` (weights sum to 1). Only these 16 non-zero weights are
    scattered into the histogram, one entry at a time, so memory grows with the
    number of voxels and not with voxels × bins.

    Args:
        fixed, warped: ``(B, C, *spatial)`` images.
        bins: number of bins per axis (>= 5); bin 0 and bin ``bins - 1`` only receive
            kernel tails: the range maps onto bins 1 … ``bins - 2``.
        fixed_range, warped_range: ``(low, high)`` intensity range of each image.
            None: each image's own min and max (per sample and channel). Values
            outside an explicit range are clamped to it (and get no gradient).
        mask: optional ``(B|1, 1|C, *spatial)`` voxel weights.

    Returns:
        Tensor ``(B, C, bins, bins)`` of joint probabilities (each sums to 1; all 0 for an
        empty mask): axis -2 indexes the fixed intensity, axis -1 the warped intensity.

    Example:
        >>> f = torch.tensor([[[[0., 1.], [1., 0.]]]])
        >>> p = joint_histogram(f, 1 - f, bins=5)
        >>> p.sum().item(), p[0, 0, 1, 3].item()        # mass of (F=0, M=1): 0.5 × (4/6)²
        (1.0, 0.2222222089767456)

    Lab 03 (exercise 3.3 builds one with hard bins).
    """
    ndim, weights = _check_pair("joint_histogram", fixed, warped, mask, "none")
    if not isinstance(bins, int) or bins < 5:
        raise ValueError(f"joint_histogram(): expected `bins` to be an int >= 5, got {bins!r}.")
    batch, channels = fixed.shape[:2]
    low_f, high_f = _intensity_range("joint_histogram", fixed, fixed_range)
    low_m, high_m = _intensity_range("joint_histogram", warped, warped_range)
    voxel_weights = None if weights is None else weights.expand_as(fixed).flatten(2).flatten(0, 1)
    histogram = _ParzenJointHistogram.apply(
        fixed.flatten(2).flatten(0, 1), warped.flatten(2).flatten(0, 1), low_f, high_f, low_m, high_m, voxel_weights, bins
    )                                                                    # (B*C, bins, bins)
    total = histogram.sum(dim=(1, 2), keepdim=True)
    histogram = histogram / total.clamp_min(torch.finfo(histogram.dtype).tiny)
    return histogram.reshape(batch, channels, bins, bins)


class _ParzenJointHistogram(torch.autograd.Function):
    """Scatter the 4 × 4 outer product of each voxel's Parzen weights into a ``bins × bins`` histogram.

    Entry ``(a, b)`` of voxel ``n`` goes to bin ``(first_f + a, first_m + b)`` with
    weight ``w_f[a] · w_m[b]``. Forward and backward loop over the 16 entries and
    the backward pass recomputes the weights from the intensities, so memory stays
    at a few values per voxel: never voxels × bins, nor voxels × 16.
    """

    @staticmethod
    def forward(ctx, fixed, warped, low_f, high_f, low_m, high_m, voxel_weights, bins):
        first_f, weight_f = _bspline_parzen(fixed, low_f, high_f, bins)
        first_m, weight_m = _bspline_parzen(warped, low_m, high_m, bins)
        if voxel_weights is not None:
            weight_f = weight_f * voxel_weights[..., None]
        index = first_f * bins + first_m                                 # (M, N), flat bin of entry (0, 0)
        histogram = fixed.new_zeros(fixed.shape[0], bins * bins)
        for a, b in itertools.product(range(4), repeat=2):
            histogram.scatter_add_(1, index + (a * bins + b), weight_f[..., a] * weight_m[..., b])
        ctx.save_for_backward(fixed, warped, low_f, high_f, low_m, high_m, voxel_weights)
        ctx.bins = bins
        return histogram.reshape(-1, bins, bins)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        fixed, warped, low_f, high_f, low_m, high_m, voxel_weights = ctx.saved_tensors
        bins = ctx.bins
        first_f, weight_f, slope_f, scale_f = _bspline_parzen(fixed, low_f, high_f, bins, derivative=True)
        first_m, weight_m, slope_m, scale_m = _bspline_parzen(warped, low_m, high_m, bins, derivative=True)
        if voxel_weights is not None:
            weight_f, slope_f = weight_f * voxel_weights[..., None], slope_f * voxel_weights[..., None]
        index = first_f * bins + first_m
        grad = grad.reshape(grad.shape[0], bins * bins)
        grad_f = torch.empty_like(weight_f)                              # d loss / d w_f[a], (M, N, 4)
        grad_m = torch.zeros_like(weight_m)
        for a in range(4):
            entry = torch.stack([grad.gather(1, index + (a * bins + b)) for b in range(4)], dim=-1)   # (M, N, 4)
            grad_f[..., a] = (entry * weight_m).sum(dim=-1)
            grad_m += entry * weight_f[..., a, None]
        grads = [None] * 8
        for k, (values, low, high, g, slope, scale) in enumerate(
            ((fixed, low_f, high_f, grad_f, slope_f, scale_f), (warped, low_m, high_m, grad_m, slope_m, scale_m))
        ):
            grad_t = (g * slope).sum(dim=-1)                             # d loss / d t, (M, N)
            if ctx.needs_input_grad[k]:
                grads[k] = grad_t * scale                                # dt/dv = scale
            if ctx.needs_input_grad[2 + 2 * k] or ctx.needs_input_grad[3 + 2 * k]:
                width = high - low                                       # t = 1 + (v - low) (bins - 3) / width
                grads[2 + 2 * k] = (grad_t * (values - high)).sum(dim=1, keepdim=True) * scale / width
                grads[3 + 2 * k] = -(grad_t * (values - low)).sum(dim=1, keepdim=True) * scale / width
        return tuple(grads)


def _entropy(p, dims):
    """``-Σ p log p`` over ``dims``, with ``0 log 0 = 0`` and finite gradients at ``p = 0``."""
    tiny = torch.finfo(p.dtype).tiny
    return -torch.where(p > 0, p * p.clamp_min(tiny).log(), torch.zeros_like(p)).sum(dim=dims)


def _entropies(fixed, warped, bins, fixed_range, warped_range, mask):
    """``H(F), H(M), H(F, M)`` in nats, each ``(B, C)``."""
    p = joint_histogram(fixed, warped, bins=bins, fixed_range=fixed_range, warped_range=warped_range, mask=mask)
    return _entropy(p.sum(dim=-1), -1), _entropy(p.sum(dim=-2), -1), _entropy(p, (-2, -1))


def mi(fixed, warped, *, bins=32, fixed_range=None, warped_range=None, mask=None, reduction="mean"):
    """Mutual information ``MI = H(F) + H(M) - H(F, M)`` in nats; higher is better.

    The probabilities come from the B-spline Parzen :func:`joint_histogram`, so MI
    is differentiable in both images. MI only asks that one image *predicts* the
    other, whatever the intensity mapping: the measure for multimodal pairs.

    Args:
        fixed, warped, mask, reduction: as :func:`ssd` (channels get one histogram each).
        bins, fixed_range, warped_range: of the joint histogram; give explicit ranges
            (e.g. ``(0, 1)``) to compare values across image pairs.

    Returns:
        Tensor ``>= 0`` in nats (divide by ``log 2`` for bits): ``MI(F, F) = H(F)``,
        0 for independent images and for an empty mask. Symmetric in ``F`` and ``M``
        when both ranges are given the same way.

    Example:
        >>> f = torch.tensor([[[[0., 1.], [1., 0.]]]])
        >>> round(mi(f, 1 - f, bins=5).item(), 4), round(mi(f, torch.ones_like(f), bins=5).item(), 4)
        (0.4814, 0.0)

    Lab 03, exercise 3.3. References: Viola & Wells 1997; Mattes et al. 2003.
    """
    _check_pair("mi", fixed, warped, mask, reduction)
    h_f, h_m, h_fm = _entropies(fixed, warped, bins, fixed_range, warped_range, mask)
    return _reduce((h_f + h_m - h_fm).clamp_min(0), reduction)               # >= 0 up to float rounding


def nmi(fixed, warped, *, bins=32, fixed_range=None, warped_range=None, mask=None, reduction="mean"):
    """Normalized mutual information ``NMI = (H(F) + H(M)) / H(F, M)``; higher is better.

    Studholme's normalization makes the measure less sensitive to how much the
    two images overlap. Same histogram and arguments as :func:`mi`.

    Returns:
        Tensor in ``[1, 2]``: 2 when one image determines the other, 1 for
        independent images (and for an empty mask).

    Example:
        >>> f = torch.tensor([[[[0., 1.], [1., 0.]]]])
        >>> round(nmi(f, 1 - f, bins=5).item(), 4)
        1.1998

    Lab 03. References: Studholme et al. 1999.
    """
    _check_pair("nmi", fixed, warped, mask, reduction)
    h_f, h_m, h_fm = _entropies(fixed, warped, bins, fixed_range, warped_range, mask)
    tiny = torch.finfo(h_fm.dtype).tiny
    value = torch.where(h_fm > 0, (h_f + h_m) / h_fm.clamp_min(tiny), torch.ones_like(h_fm))
    return _reduce(value, reduction)


# ----------------------------------------------------------------------------- edges and self-similarity


def _image_gradient(image):
    """Central differences (one-sided at the borders) along every spatial axis: ``(B, C, ndim, *spatial)``."""
    spatial = tuple(range(2, image.dim()))
    return torch.stack(torch.gradient(image, dim=spatial), dim=2)


def ngf(fixed, warped, *, eps=0.01, mask=None, reduction="mean"):
    """Normalized gradient fields distance; lower is better.

    ``NGF = 1/N Σ_i 1 - (⟨∇F, ∇M⟩ / (‖∇F‖_ε ‖∇M‖_ε))²`` with ``‖v‖_ε = sqrt(‖v‖² + ε²)``.
    Two images match when their edges are parallel (or anti-parallel: the square
    ignores the contrast direction), whatever their intensities. The lecture writes
    the sum; dividing by ``N`` keeps the value in ``[0, 1]`` for any image size.
    Gradients are central differences (one-sided at the borders), in intensity per voxel.

    Args:
        fixed, warped, mask, reduction: as :func:`ssd`.
        eps: edge-noise level ``ε > 0`` in intensity units per voxel: gradients much
            smaller than ``ε`` count as no edge (their voxel scores 1). Scale it with
            the intensity range (0.01 suits images in [0, 1]).

    Returns:
        Tensor in ``[0, 1]``; 1 where either image has no edge.

    Example:
        >>> f = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> ngf(f, -2 * f, eps=1e-3) < 1e-5, round(ngf(f, f.transpose(2, 3), eps=1e-3).item(), 4)
        (tensor(True), 0.7785)

    Lab 03, exercise 3.4. References: Haber & Modersitzki 2006.
    """
    _, weights = _check_pair("ngf", fixed, warped, mask, reduction)
    if not eps > 0:
        raise ValueError(f"ngf(): expected `eps` > 0 (it keeps ‖∇I‖_ε away from 0), got {eps!r}.")
    grad_f, grad_m = _image_gradient(fixed), _image_gradient(warped)    # (B, C, ndim, *spatial)
    inner = (grad_f * grad_m).sum(dim=2)
    norm_f = (grad_f.pow(2).sum(dim=2) + eps**2).sqrt()
    norm_m = (grad_m.pow(2).sum(dim=2) + eps**2).sqrt()
    distance = 1 - (inner / (norm_f * norm_m)) ** 2
    return _reduce(_weighted_mean(distance, weights), reduction)


def _neighbourhood(ndim):
    """The ``2 ndim`` unit offsets (the six-neighbourhood in 3D, four in 2D)."""
    offsets = []
    for axis in range(ndim):
        for sign in (-1, 1):
            offset = [0] * ndim
            offset[axis] = sign
            offsets.append(tuple(offset))
    return offsets


def _replicate_pad(image, radius):
    """Pad every spatial axis by ``radius`` voxels that repeat the border value (by indexing: fast on any device)."""
    for dim in range(2, image.dim()):
        n = image.shape[dim]
        index = torch.arange(-radius, n + radius, device=image.device).clamp(0, n - 1)
        image = image.index_select(dim, index)
    return image


def _shifted(padded, offset, dilation, size):
    """``image(x + dilation * offset)`` from the image padded by ``dilation``."""
    index = [slice(None), slice(None)]
    for axis, step in enumerate(offset):
        start = dilation + dilation * step
        index.append(slice(start, start + size[axis]))
    return padded[tuple(index)]


def _patch_distance(image, offsets_a, offsets_b, radius, dilation):
    """``D_p(x, a, b) = mean_{p in patch} (I(x + a + p) - I(x + b + p))²`` for each offset pair: ``(B, C·n, *spatial)``."""
    size = image.shape[2:]
    padded = _replicate_pad(image, dilation)                            # borders replicated
    differences = [(_shifted(padded, a, dilation, size) - _shifted(padded, b, dilation, size)) ** 2
                   for a, b in zip(offsets_a, offsets_b)]
    squared = torch.stack(differences, dim=2).flatten(1, 2)              # (B, C·n, *spatial), channel-major
    ndim = image.dim() - 2
    if radius == 0:
        return squared
    smoothed = box_mean(_replicate_pad(squared, radius), 2 * radius + 1)
    return smoothed[(slice(None), slice(None)) + (slice(radius, -radius),) * ndim]


def mind(image, *, radius=1, dilation=1, variant="mind"):
    """MIND: the modality independent neighbourhood descriptor (Heinrich et al. 2012, 2013).

    ``MIND(I, x, r) = 1/n exp(-D_p(I, x, r) / V(I, x))``: ``D_p`` is the patch
    distance (mean squared difference of two ``(2·radius+1)``-wide patches),
    ``V`` the mean of ``D_p`` over the descriptor's offsets (a local noise
    estimate) and ``n`` normalizes the largest entry to 1. A descriptor describes
    the *local structure* around ``x``, not its intensity, so it can be compared
    across modalities with plain SSD.

    * ``variant="mind"``: the lecture's MIND, patches at the ``2·ndim`` neighbours
      ``r`` compared with the patch at ``x`` (6 channels in 3D, 4 in 2D).
    * ``variant="ssc"``: the self-similarity context (MIND-SSC) used in practice:
      patches at pairs of neighbours ``√2`` apart compared with each other, not
      with the centre (12 channels in 3D, 4 in 2D), which is more robust to noise at ``x``.

    ``V`` is clamped to ``[0.001, 1000]`` × its image-wide mean (not
    differentiated), as in Heinrich's code; a constant image gives all ones.

    Args:
        image: ``(B, C, *spatial)``.
        radius: patch radius in voxels (patch width ``2·radius + 1``).
        dilation: distance of the neighbours in voxels.
        variant: ``"mind"`` or ``"ssc"``.

    Returns:
        Tensor ``(B, C·n, *spatial)`` in ``(0, 1]`` (``n`` descriptor channels per image channel).
        Borders are replicated.

    Example:
        >>> image = torch.zeros(1, 1, 5, 5); image[..., 2:, :] = 1.0      # a horizontal edge
        >>> mind(image).shape, mind(image, variant="ssc").shape
        (torch.Size([1, 4, 5, 5]), torch.Size([1, 4, 5, 5]))

    Lab 03 shows the descriptors. References: Heinrich et al. 2012 (MIND), 2013 (MIND-SSC).
    """
    ndim = check_image("mind", "image", image)
    check_choice("mind", "variant", variant, ("mind", "ssc"))
    if not (isinstance(radius, int) and radius >= 0 and isinstance(dilation, int) and dilation >= 1):
        raise ValueError(f"mind(): expected int `radius` >= 0 and `dilation` >= 1, got {radius!r} and {dilation!r}.")
    neighbours = _neighbourhood(ndim)
    if variant == "mind":
        centre = (0,) * ndim
        pairs = [(centre, r) for r in neighbours]
    else:
        pairs = [
            (a, b) for a, b in itertools.combinations(neighbours, 2)
            if sum((p - q) ** 2 for p, q in zip(a, b)) == 2                # neighbours √2 apart
        ]
    batch, channels = image.shape[:2]
    distance = _patch_distance(image, [a for a, _ in pairs], [b for _, b in pairs], radius, dilation)
    distance = distance.unflatten(1, (channels, len(pairs)))            # (B, C, n, *spatial)
    distance = distance - distance.min(dim=2, keepdim=True).values      # = dividing by the largest exp(-D/V)
    variance = distance.mean(dim=2, keepdim=True)
    level = variance.detach().mean()
    tiny = torch.finfo(image.dtype).tiny
    variance = variance.clamp(min=(0.001 * level).clamp_min(tiny), max=(1000 * level).clamp_min(tiny))
    return torch.exp(-distance / variance).flatten(1, 2)


def _mind_distance(fn, fixed, warped, mask, reduction, radius, dilation, variant):
    _, weights = _check_pair(fn, fixed, warped, mask, reduction)
    descriptor_f = mind(fixed, radius=radius, dilation=dilation, variant=variant)
    descriptor_m = mind(warped, radius=radius, dilation=dilation, variant=variant)
    batch, channels = fixed.shape[:2]
    squared = (descriptor_f - descriptor_m) ** 2
    per_voxel = squared.unflatten(1, (channels, -1)).mean(dim=2)        # (B, C, *spatial): mean over offsets
    return _reduce(_weighted_mean(per_voxel, weights), reduction)


def mind_ssd(fixed, warped, *, radius=1, dilation=1, mask=None, reduction="mean"):
    """MIND-SSD ``1/N Σ_i mean_r (MIND(F, x_i, r) - MIND(M, x_i, r))²``; lower is better.

    The lecture's measure: SSD of :func:`mind` descriptors (``variant="mind"``).

    Args:
        fixed, warped, mask, reduction: as :func:`ssd`.
        radius, dilation: of the descriptor, see :func:`mind`.

    Returns:
        Tensor in ``[0, 1]``.

    Example:
        >>> image = torch.zeros(1, 1, 8, 8); image[..., 3:, :] = 1.0
        >>> mind_ssd(image, 5 - 4 * image).item()            # same structure, other contrast
        0.0

    Lab 03. References: Heinrich et al. 2012.
    """
    return _mind_distance("mind_ssd", fixed, warped, mask, reduction, radius, dilation, "mind")


def mind_ssc(fixed, warped, *, radius=1, dilation=1, mask=None, reduction="mean"):
    """MIND-SSC distance: the mean squared difference of self-similarity-context descriptors; lower is better.

    As :func:`mind_ssd` with ``mind(..., variant="ssc")`` (Heinrich et al. 2013),
    the multimodal loss used by Learn2Reg baselines and ConvexAdam.

    Example:
        >>> image = torch.zeros(1, 1, 8, 8); image[..., 3:, :] = 1.0
        >>> mind_ssc(image, 5 - 4 * image).item()
        0.0
    """
    return _mind_distance("mind_ssc", fixed, warped, mask, reduction, radius, dilation, "ssc")


# ----------------------------------------------------------------------------- one way to minimise

MEASURES = {
    "ssd": ssd, "mse": mse, "sad": sad, "ncc": ncc, "local_ncc": local_ncc,
    "mi": mi, "nmi": nmi, "ngf": ngf, "mind_ssd": mind_ssd, "mind_ssc": mind_ssc,
}
"""The measures by name."""

HIGHER_IS_BETTER = {
    "ssd": False, "mse": False, "sad": False, "ncc": True, "local_ncc": True,
    "mi": True, "nmi": True, "ngf": False, "mind_ssd": False, "mind_ssc": False,
}
"""Whether a larger value of each measure means a better match."""


def _resolve(fn, measure):
    if callable(measure):
        name = getattr(measure, "__name__", "")
        if MEASURES.get(name) is not measure:
            raise ValueError(f"{fn}(): expected one of reglab.similarity's measures, got {measure!r}.")
        return name, measure
    check_choice(fn, "measure", measure, tuple(MEASURES))
    return measure, MEASURES[measure]


def loss(measure, fixed, warped, **options):
    """A measure as a quantity to minimise: the measure when lower is better, its negative when higher is better.

    Args:
        measure: a name from ``MEASURES`` (``"ncc"``, ``"mi"``, …) or the function itself.
        fixed, warped: as the measure.
        **options: keyword options of the measure (``mask``, ``reduction``, ``window``, ``bins``, …).

    Returns:
        ``-measure(fixed, warped, **options)`` if ``HIGHER_IS_BETTER[measure]``, else the measure.

    Example:
        >>> f = torch.arange(4.0).reshape(1, 1, 2, 2)
        >>> loss("ncc", f, 2 * f), loss(mse, f, f + 1)
        (tensor(-1.), tensor(1.))
    """
    name, function = _resolve("loss", measure)
    value = function(fixed, warped, **options)
    return -value if HIGHER_IS_BETTER[name] else value


class SimilarityLoss(torch.nn.Module):
    """:func:`loss` as a module that carries the measure and its options.

    Example:
        >>> criterion = SimilarityLoss("local_ncc", window=5)
        >>> f = torch.rand(2, 1, 8, 8)
        >>> criterion(f, f).item()
        -1.0
    """

    def __init__(self, measure, **options):
        super().__init__()
        self.name, self.function = _resolve("SimilarityLoss", measure)
        self.options = options

    def forward(self, fixed, warped):
        return loss(self.function, fixed, warped, **self.options)

    def extra_repr(self):
        return ", ".join([repr(self.name)] + [f"{k}={v!r}" for k, v in self.options.items()])
