"""Real scans as they come: the region that was scanned, and intensities on a common scale.

Two things fool a similarity measure on real images before any optimisation starts:

* **padding.** Crops are often padded to a fixed size by repeating their edge voxels (Learn2Reg's 64³
  hippocampus crops) or by copying one slice. The repeated slices are streaks that correlate strongly
  with each other whatever the anatomy, so global NCC prefers to line the streaks up (an affine stage
  that shrinks the brain away). :func:`scanned_region` finds the box left when such slices are removed;
  the engine counts only voxels inside it (for both images; the moving box is warped along).
* **intensity scale.** Scanners store ``uint8``, ``int16`` or floats in any range, with a few very bright
  voxels. :func:`rescale_intensities` maps the 0.5th … 99.5th percentile inside the region to ``[0, 1]``
  (clipped), so one learning rate, one histogram range and one regularization weight suit every scan.

Lab 05 ("Classical registration": real inter-subject pairs).
"""

import torch


def scanned_region(image):
    """Bool mask of the box left when border slices that repeat their inner neighbour are removed.

    A slice counts as padding when it equals the next slice towards the centre exactly and is not
    uniform: edge-replicate padding. Uniform border slices (an empty, zero background) are real image
    content that every measure handles, and are kept.

    Args:
        image: ``(B, C, *spatial)`` tensor.

    Returns:
        Bool tensor ``(B, 1, *spatial)``: True inside each image's box.

    Example:
        >>> scan = torch.arange(12.0).reshape(1, 1, 3, 4)
        >>> padded = torch.nn.functional.pad(scan, (0, 0, 2, 1), mode="replicate")   # 2 rows above, 1 below
        >>> scanned_region(padded)[0, 0, :, 0].tolist()
        [False, False, True, True, True, False]
    """
    masks = []
    for item in image:                                                 # (C, *spatial), one box per image
        mask = torch.zeros((1, *item.shape[1:]), dtype=torch.bool, device=image.device)
        box = []
        for axis in range(1, item.dim()):
            slices = item.movedim(axis, 0)                             # (n, C, ...) slices along this axis
            repeats = (slices[1:] == slices[:-1]).flatten(1).all(1)    # slice i equals slice i + 1
            flat = slices.flatten(1)
            uniform = (flat == flat[:, :1]).all(1)
            start, stop = 0, slices.shape[0] - 1
            while start < stop and repeats[start] and not uniform[start]:
                start += 1
            while stop > start and repeats[stop - 1] and not uniform[stop]:
                stop -= 1
            box.append(slice(start, stop + 1))
        mask[(slice(None), *box)] = True
        masks.append(mask)
    return torch.stack(masks)


def rescale_intensities(image, mask=None, *, low=0.005, high=0.995):
    """``(I - q_low) / (q_high - q_low)`` clipped to ``[0, 1]``: quantiles inside ``mask``, per image.

    Args:
        image: ``(B, C, *spatial)`` float tensor (any range).
        mask: optional ``(B|1, 1, *spatial)`` bool region where the quantiles are taken.
        low, high: the quantiles that map to 0 and 1.

    Returns:
        Tensor like ``image`` in ``[0, 1]`` (min-max scaling when the two quantiles are equal; zeros for a
        constant image).

    Example:
        >>> rescale_intensities(torch.tensor([[[[0.0, 150.0, 300.0, 3000.0]]]]), low=0.0, high=0.5)
        tensor([[[[0.0000, 0.6667, 1.0000, 1.0000]]]])
    """
    out = []
    for index, item in enumerate(image):
        values = item.flatten() if mask is None else item[mask[min(index, mask.shape[0] - 1)].expand_as(item)]
        values = values if values.numel() else item.flatten()
        step = max(1, values.numel() // 200_000)                      # quantile() refuses > 16 M values; subsample
        sample = values[::step].to(torch.float64)
        q_low, q_high = torch.quantile(sample, low), torch.quantile(sample, high)
        if q_high <= q_low:
            q_low, q_high = sample.min(), sample.max()
        scale = (q_high - q_low).clamp_min(1e-12)
        out.append(((item - q_low.to(item.dtype)) / scale.to(item.dtype)).clamp(0, 1))
    return torch.stack(out)
