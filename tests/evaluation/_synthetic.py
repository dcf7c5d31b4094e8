"""Synthetic inputs shared by the tests of reglab.evaluation: smooth fields, label maps, SimpleITK images."""

import numpy as np
import SimpleITK as sitk
import torch
from scipy import ndimage

SIZES = {2: (23, 18), 3: (15, 12, 10)}
SPACINGS = {2: (1.5, 0.7), 3: (2.0, 0.8, 1.3)}


def smooth_field(ndim, size, device, amplitude=2.0, batch=1, seed=0):
    """A smooth random displacement (B, ndim, *size) in voxels."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(batch, ndim, *[4] * ndim, generator=generator, dtype=torch.float64)
    mode = "bilinear" if ndim == 2 else "trilinear"
    field = torch.nn.functional.interpolate(coarse, size=size, mode=mode, align_corners=True)
    return (amplitude * field).to(device)


def ellipsoid(size, center, radii, label=1):
    """An integer numpy label map holding one solid ellipsoid."""
    axes = np.meshgrid(*[np.arange(n) for n in size], indexing="ij")
    inside = sum(((a - c) / r) ** 2 for a, c, r in zip(axes, center, radii)) <= 1
    return inside.astype(np.int64) * label


def blobs(ndim, size, labels=3, seed=0):
    """A numpy label map of smoothed random blobs with `labels` labels (holes and islands included)."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=size), 1.5)
    edges = np.quantile(noise, np.linspace(0.3, 1.0, labels + 1)[:-1])
    return np.digitize(noise, edges).astype(np.int64)


def as_map(array, device):
    return torch.as_tensor(array, device=device)[None, None]


def to_sitk(array, spacing):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    return image
