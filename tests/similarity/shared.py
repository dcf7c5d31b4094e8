"""Test images and reference computations used by two or more of the similarity test files."""

import numpy as np
import SimpleITK as sitk
import torch


SHAPES = {2: (7, 9), 3: (5, 6, 7)}


def pair(device, ndim, batch=2, channels=1, dtype=torch.float64):
    """A smooth random image and a noisy, non-linearly related partner."""
    fixed = torch.rand(batch, channels, *SHAPES[ndim], device=device, dtype=dtype)
    warped = 0.6 * fixed + 0.4 * torch.rand_like(fixed) ** 2
    return fixed, warped


def phantom(device, ndim, size=32):
    """Four 'tissues' filling the field of view, imaged as T1 and as a synthetic T2 with a non-monotonic mapping."""
    axes = torch.meshgrid(*[torch.linspace(-1, 1, size, device=device, dtype=torch.float64)] * ndim, indexing="ij")
    field = sum(torch.sin((2.5 + i) * a + i) for i, a in enumerate(axes)) + 0.5 * torch.cos(3 * axes[0] * axes[-1])
    labels = torch.bucketize(field, torch.tensor([-0.8, 0.0, 0.8], device=device, dtype=torch.float64))
    t1 = torch.tensor([0.1, 0.4, 0.7, 1.0], device=device, dtype=torch.float64)[labels]
    t2 = torch.tensor([0.9, 0.2, 0.6, 0.05], device=device, dtype=torch.float64)[labels]
    return t1[None, None], t2[None, None]


def np_pearson(a, b):
    a, b = a - a.mean(), b - b.mean()
    return (a * b).mean() / np.sqrt((a**2).mean() * (b**2).mean())


def sitk_metric(fixed, warped, configure):
    """SimpleITK's metric at the identity transform (no interpolation takes place)."""
    method = sitk.ImageRegistrationMethod()
    configure(method)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetInitialTransform(sitk.TranslationTransform(fixed.ndim))
    return method.MetricEvaluate(sitk.GetImageFromArray(fixed), sitk.GetImageFromArray(warped))
