"""MIND: the modality independent neighbourhood descriptor, and the SSD of descriptors.

============  =============================================  ==========  ======
measure       formula (per channel, averaged over channels)  range       better
============  =============================================  ==========  ======
``mind_ssd``  ``1/N Σ mean_r (MIND_F - MIND_M)²``            ``[0, 1]``  lower
``mind_ssc``  the same with MIND-SSC descriptors             ``[0, 1]``  lower
============  =============================================  ==========  ======

:func:`mind` describes the local structure around each voxel (patch distances to
its neighbours, smoothed with :func:`reglab.similarity.box_mean`); two images of
different modalities are then compared with plain SSD (the lecture's equation
2.25). Lab 03 shows the descriptors.

References:
    Heinrich et al. 2012 (MIND), 2013 (MIND-SSC).
"""

import itertools

import torch

from reglab.similarity._reduction import _check_pair, _reduce, _weighted_mean
from reglab.similarity.local_ncc import box_mean
from reglab.validation import check_choice, check_image


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
    estimate, Heinrich 2012 eq. 5) and ``n`` normalizes the largest entry to 1,
    i.e. ``MIND = exp(-(D_p - min_r D_p) / V)``. A descriptor describes
    the *local structure* around ``x``, not its intensity, so it can be compared
    across modalities with plain SSD.

    * ``variant="mind"``: the lecture's MIND, patches at the ``2·ndim`` neighbours
      ``r`` compared with the patch at ``x`` (6 channels in 3D, 4 in 2D).
    * ``variant="ssc"``: the self-similarity context (MIND-SSC) used in practice:
      patches at pairs of neighbours ``√2`` apart compared with each other, not
      with the centre (12 channels in 3D, 4 in 2D), which is more robust to noise at ``x``.
      As in Heinrich's MIND-SSC code, ``V`` is the mean of ``D_p - min_r D_p`` here.

    ``V`` is clamped to ``[0.001, 1000]`` × its mean over the image (not
    differentiated), as in Heinrich's code; the mean is taken per image and
    channel, so a descriptor never depends on the other images of a batch or the
    other channels. A constant image gives all ones.

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
    relative = distance - distance.min(dim=2, keepdim=True).values      # = dividing by the largest exp(-D/V)
    variance = (distance if variant == "mind" else relative).mean(dim=2, keepdim=True)   # (B, C, 1, *spatial)
    level = variance.detach().flatten(2).mean(dim=2)                    # (B, C): per image and channel
    level = level.reshape(batch, channels, *([1] * (ndim + 1)))
    tiny = torch.finfo(image.dtype).tiny
    variance = torch.minimum(torch.maximum(variance, (0.001 * level).clamp_min(tiny)), (1000 * level).clamp_min(tiny))
    return torch.exp(-relative / variance).flatten(1, 2)


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
