"""Mutual information: the joint histogram with a cubic B-spline Parzen window, MI and NMI.

=======  =============================================  ==========  ======
measure  formula (per channel, averaged over channels)  range       better
=======  =============================================  ==========  ======
``mi``   ``H(F) + H(M) - H(F, M)`` in nats              ``[0, ∞)``  higher
``nmi``  ``(H(F) + H(M)) / H(F, M)``                    ``[1, 2)``  higher
=======  =============================================  ==========  ======

:func:`joint_histogram` scatters each voxel's 4 × 4 B-spline weights (a custom
autograd function, memory O(voxels)); :func:`mi` and :func:`nmi` take the entropies
of its marginals and of itself. The measures for multimodal pairs (the lecture's
equations 2.20, 2.21). Lab 03, exercise 3.3.

**Parzen estimates are not the textbook values.** Each voxel is smeared over
4 × 4 bins, also when ``M = F``, so ``H(F, F) > H(F)`` (by about 1.2 nats with
cubic B-splines on both axes), ``MI(F, F) = 2 H(F) - H(F, F) < H(F)`` and
``NMI(F, F) < 2``. On a 64 × 64 uniform-noise image with 32 bins: ``H(F) = 3.41``,
``MI(F, F) = 2.20``, ``NMI(F, F) = 1.48`` (1.22 with 8 bins, 1.68 with 512).
``NMI ≤ 2`` always holds (``H(F, M) ≥ max(H(F), H(M))`` for any joint
histogram); it approaches 2 only in the limit of a deterministic, sharp joint
histogram (more and more bins, each image's entropy growing past the kernel's).

**Kernels.** Mattes et al., ITK's ``MattesMutualInformation`` (SimpleITK) and
MONAI's ``GlobalMutualInformationLoss(kernel_type="b-spline")`` use a zero-order
(box) kernel on the fixed image and a cubic B-spline on the moving image; reglab
uses cubic B-splines on both (symmetric in ``F`` and ``M``), so its values differ
from theirs (they are close, not equal: see the tests).

References:
    Viola & Wells 1997 (MI); Mattes et al. 2003 (B-spline Parzen MI); Studholme et al. 1999 (NMI).
"""

import itertools
import math

import torch

from reglab.similarity._reduction import _check_pair, _reduce


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


def _intensity_range(fn, name, image, intensity_range):
    """``(low, high)`` per (sample, channel), shape ``(B*C, 1)`` each; the data's min and max when None."""
    flat = image.flatten(2).flatten(0, 1)                               # (B*C, N)
    if intensity_range is None:
        low, high = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
        high = torch.where(high > low, high, low + 1)                   # a constant image: any width will do
        return low, high
    numbers_given = (not isinstance(intensity_range, (str, bytes)) and hasattr(intensity_range, "__len__")
                     and len(intensity_range) == 2
                     and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in intensity_range))
    if not numbers_given or not all(math.isfinite(v) for v in intensity_range) or not intensity_range[1] > intensity_range[0]:
        raise ValueError(
            f"{fn}(): expected `{name}` as (low, high), two finite numbers with high > low, got {intensity_range!r}."
        )
    low, high = (float(v) for v in intensity_range)
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
    return _joint_histogram("joint_histogram", fixed, warped, bins, fixed_range, warped_range, mask)


def _joint_histogram(fn, fixed, warped, bins, fixed_range, warped_range, mask):
    """:func:`joint_histogram` with errors in the name of the public function ``fn``."""
    ndim, weights = _check_pair(fn, fixed, warped, mask, "none")
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 5:
        raise ValueError(f"{fn}(): expected `bins` to be an int >= 5, got {bins!r}.")
    batch, channels = fixed.shape[:2]
    low_f, high_f = _intensity_range(fn, "fixed_range", fixed, fixed_range)
    low_m, high_m = _intensity_range(fn, "warped_range", warped, warped_range)
    voxel_weights = None if weights is None else weights.expand_as(fixed).flatten(2).flatten(0, 1)
    histogram = _ParzenJointHistogram.apply(
        fixed.flatten(2).flatten(0, 1), warped.flatten(2).flatten(0, 1), low_f, high_f, low_m, high_m, voxel_weights, bins
    )                                                                    # (B*C, bins, bins)
    total = histogram.sum(dim=(1, 2), keepdim=True)
    histogram = histogram / total.clamp_min(torch.finfo(histogram.dtype).tiny)
    return histogram.reshape(batch, channels, bins, bins)


CHUNK = 2**16
"""Voxels per chunk of :class:`_ParzenJointHistogram`: its temporaries (weights, bin indices) take
a few MiB, whatever the image size."""


def _chunks(n):
    """Slices ``[0, CHUNK), [CHUNK, 2 CHUNK), ...`` covering ``range(n)``."""
    return [slice(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]


class _ParzenJointHistogram(torch.autograd.Function):
    """Scatter the 4 × 4 outer product of each voxel's Parzen weights into a ``bins × bins`` histogram.

    Entry ``(a, b)`` of voxel ``n`` goes to bin ``(first_f + a, first_m + b)`` with
    weight ``w_f[a] · w_m[b]``. Forward and backward loop over the 16 entries and
    the backward pass recomputes the weights from the intensities, chunk by chunk
    of :data:`CHUNK` voxels, so the extra memory is one gradient value per voxel
    plus the temporaries of one chunk: never voxels × bins, nor voxels × 16.
    """

    @staticmethod
    def forward(ctx, fixed, warped, low_f, high_f, low_m, high_m, voxel_weights, bins):
        histogram = fixed.new_zeros(fixed.shape[0], bins * bins)
        for part in _chunks(fixed.shape[1]):
            first_f, weight_f = _bspline_parzen(fixed[:, part], low_f, high_f, bins)
            first_m, weight_m = _bspline_parzen(warped[:, part], low_m, high_m, bins)
            if voxel_weights is not None:
                weight_f = weight_f * voxel_weights[:, part, None]
            index = first_f * bins + first_m                             # (M, n), flat bin of entry (0, 0)
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
        grad = grad.reshape(grad.shape[0], bins * bins)
        grad_t = [torch.empty_like(fixed), torch.empty_like(warped)]     # d loss / d t of each image, (M, N)
        for part in _chunks(fixed.shape[1]):
            first_f, weight_f, slope_f, _ = _bspline_parzen(fixed[:, part], low_f, high_f, bins, derivative=True)
            first_m, weight_m, slope_m, _ = _bspline_parzen(warped[:, part], low_m, high_m, bins, derivative=True)
            if voxel_weights is not None:
                weight_f, slope_f = weight_f * voxel_weights[:, part, None], slope_f * voxel_weights[:, part, None]
            index = first_f * bins + first_m
            grad_f = torch.empty_like(weight_f)                          # d loss / d w_f[a], (M, n, 4)
            grad_m = torch.zeros_like(weight_m)
            for a in range(4):
                entry = torch.stack([grad.gather(1, index + (a * bins + b)) for b in range(4)], dim=-1)   # (M, n, 4)
                grad_f[..., a] = (entry * weight_m).sum(dim=-1)
                grad_m += entry * weight_f[..., a, None]
            grad_t[0][:, part] = (grad_f * slope_f).sum(dim=-1)
            grad_t[1][:, part] = (grad_m * slope_m).sum(dim=-1)
        grads = [None] * 8
        for k, (values, low, high) in enumerate(((fixed, low_f, high_f), (warped, low_m, high_m))):
            scale = (bins - 3) / (high - low)                            # dt/dv, (M, 1)
            if ctx.needs_input_grad[k]:
                grads[k] = grad_t[k] * scale
            if ctx.needs_input_grad[2 + 2 * k] or ctx.needs_input_grad[3 + 2 * k]:
                width = high - low                                       # t = 1 + (v - low) (bins - 3) / width
                grads[2 + 2 * k] = (grad_t[k] * (values - high)).sum(dim=1, keepdim=True) * scale / width
                grads[3 + 2 * k] = -(grad_t[k] * (values - low)).sum(dim=1, keepdim=True) * scale / width
        return tuple(grads)


def _entropy(p, dims):
    """``-Σ p log p`` over ``dims``, with ``0 log 0 = 0`` and finite gradients at ``p = 0``."""
    tiny = torch.finfo(p.dtype).tiny
    return -torch.where(p > 0, p * p.clamp_min(tiny).log(), torch.zeros_like(p)).sum(dim=dims)


def _entropies(fn, fixed, warped, bins, fixed_range, warped_range, mask):
    """``H(F), H(M), H(F, M)`` in nats, each ``(B, C)``; errors name ``fn``."""
    p = _joint_histogram(fn, fixed, warped, bins, fixed_range, warped_range, mask)
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
        Tensor ``>= 0`` in nats (divide by ``log 2`` for bits), 0 for independent
        images and for an empty mask. Symmetric in ``F`` and ``M`` when both ranges
        are given the same way. ``MI(F, F)`` is below ``H(F)``, not equal to it: the
        Parzen window smears the joint histogram (see the module docstring).

    Example:
        >>> f = torch.tensor([[[[0., 1.], [1., 0.]]]])
        >>> round(mi(f, 1 - f, bins=5).item(), 4), round(mi(f, torch.ones_like(f), bins=5).item(), 4)
        (0.4814, 0.0)
        >>> noise = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> p = joint_histogram(noise, noise).sum(dim=-1)                # the marginal of F
        >>> entropy = -torch.special.xlogy(p, p).sum()
        >>> round(entropy.item(), 2), round(mi(noise, noise).item(), 2)  # H(F) and MI(F, F) < H(F)
        (3.41, 2.2)

    Lab 03, exercise 3.3. References: Viola & Wells 1997; Mattes et al. 2003.
    """
    _check_pair("mi", fixed, warped, mask, reduction)
    h_f, h_m, h_fm = _entropies("mi", fixed, warped, bins, fixed_range, warped_range, mask)
    return _reduce((h_f + h_m - h_fm).clamp_min(0), reduction)               # >= 0 up to float rounding


def nmi(fixed, warped, *, bins=32, fixed_range=None, warped_range=None, mask=None, reduction="mean"):
    """Normalized mutual information ``NMI = (H(F) + H(M)) / H(F, M)``; higher is better.

    Studholme's normalization makes the measure less sensitive to how much the
    two images overlap. Same histogram and arguments as :func:`mi`.

    Returns:
        Tensor in ``[1, 2)``: 1 for independent images (and for an empty mask). It
        is at most 2 (``H(F, M) ≥ max(H(F), H(M))``) and reaches 2 only in the limit
        of a deterministic, sharp joint histogram; with the Parzen window even
        ``NMI(F, F)`` stays below: 1.48 for 64 × 64 uniform noise and 32 bins,
        1.68 with 512 bins (module docstring).

    Example:
        >>> f = torch.tensor([[[[0., 1.], [1., 0.]]]])
        >>> round(nmi(f, 1 - f, bins=5).item(), 4)
        1.1998
        >>> noise = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> [round(nmi(noise, noise, bins=bins).item(), 2) for bins in (8, 32, 512)]
        [1.22, 1.48, 1.68]

    Lab 03. References: Studholme et al. 1999.
    """
    _check_pair("nmi", fixed, warped, mask, reduction)
    h_f, h_m, h_fm = _entropies("nmi", fixed, warped, bins, fixed_range, warped_range, mask)
    tiny = torch.finfo(h_fm.dtype).tiny
    value = torch.where(h_fm > 0, (h_f + h_m) / h_fm.clamp_min(tiny), torch.ones_like(h_fm))
    return _reduce(value, reduction)
