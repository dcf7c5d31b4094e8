"""Seeded random numbers, Gaussian blur and smooth noise: what the synthetic generators are made of.

:mod:`reglab.data.deformations` and :mod:`reglab.data.contrasts` draw from
these; :mod:`reglab.data.landmarks` blurs with :func:`_blur`.

Every generator is seeded: ``seed`` is an int (or a ``torch.Generator``, or None
for PyTorch's global generator). The random numbers are drawn on the CPU and then
moved to ``device``, so a seed gives the same result on every device.
"""

import math

import torch
import torch.nn.functional as F


# ---------------------------------------------------------------- random numbers


def _generator(seed):
    """A CPU ``torch.Generator`` from an int seed, a generator, or None (drawn from the global RNG)."""
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"expected `seed` to be an int, a torch.Generator or None, got {type(seed).__name__}.")
    return torch.Generator().manual_seed(seed)


def _uniform(shape, low, high, generator):
    """Uniform numbers in ``[low, high)``, float64 on the CPU."""
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


def _check_size(fn, size):
    size = tuple(int(n) for n in size)
    if len(size) not in (2, 3) or min(size) < 2:
        raise ValueError(f"{fn}(): expected `size` of 2 or 3 spatial sizes, each >= 2, got {size}.")
    return size


def _check_nonnegative(fn, **values):
    for name, value in values.items():
        if not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
            raise ValueError(f"{fn}(): expected `{name}` to be a number >= 0, got {value!r}.")


# ---------------------------------------------------------------- smoothing


def _gaussian_kernel(sigma, dtype, device):
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(image, sigma, *, padding="replicate"):
    """Separable Gaussian blur of ``(B, C, *spatial)`` with ``sigma`` voxels (``padding=None``: valid part only).

    Each axis in turn is moved last and filtered with a 1D convolution.
    """
    if sigma <= 0:
        return image
    kernel = _gaussian_kernel(sigma, image.dtype, image.device)
    radius = (kernel.numel() - 1) // 2
    for axis in range(2, image.dim()):
        moved = image.movedim(axis, -1)                                         # (..., n)
        lines = moved.reshape(-1, 1, moved.shape[-1])                           # every line along the axis
        if padding is not None:
            lines = F.pad(lines, (radius, radius), mode=padding)
        filtered = F.conv1d(lines, kernel.reshape(1, 1, -1))
        image = filtered.reshape(*moved.shape[:-1], filtered.shape[-1]).movedim(-1, axis)
    return image


def _smooth_noise(batch, channels, size, smoothness, generator, *, device, dtype):
    """Gaussian noise smoothed with ``smoothness`` voxels, ``(B, C, *size)``, without border effects.

    The noise is drawn on a grid ``f = smoothness // 2`` times coarser, padded by
    the kernel's radius, blurred there (valid part), and upsampled linearly.
    """
    factor = max(1, int(smoothness // 2))
    sigma = smoothness / factor
    radius = max(1, math.ceil(3 * sigma))
    coarse = [math.ceil((n - 1) / factor) + 1 for n in size]
    noise = torch.randn(batch, channels, *[m + 2 * radius for m in coarse], generator=generator, dtype=torch.float64)
    smooth = _blur(noise.to(device=device, dtype=dtype), sigma, padding=None)            # (B, C, *coarse)
    if factor > 1:
        fine = [(m - 1) * factor + 1 for m in coarse]
        mode = "bilinear" if len(size) == 2 else "trilinear"
        smooth = F.interpolate(smooth, size=fine, mode=mode, align_corners=True)
    return smooth[(..., *[slice(0, n) for n in size])]
