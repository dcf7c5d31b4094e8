"""The Gaussian pyramid: images smoothed and downsampled by 2 per level, coarsest first.

The coarse levels find the large motions cheaply, and the parameters are
carried to the next, finer level (:mod:`reglab.registration.models`); a
B-spline's control mesh is refined exactly between levels (:func:`refine_bspline`).
Levels keep the first and last voxel centres in place (``align_corners=True``,
:mod:`reglab.grid`).

Lab 05 ("Classical registration").

References:
    Klein et al., "elastix", IEEE TMI 2010 (pyramids); Rueckert et al. 1999 (B-spline FFD);
    Lee, Wolberg & Shin 1997 (B-spline subdivision).
"""

import torch
import torch.nn.functional as F

from reglab.grid import ALIGN_CORNERS
from reglab.regularization import gaussian_smoothing
from reglab.transforms import BSpline
from reglab.transforms.bspline import control_grid_size


def pyramid_size(size, factor):
    """The grid of a pyramid level: ``round((n - 1) / factor) + 1`` voxels per axis (at least 8, at most ``n``).

    With ``align_corners=True`` the first and last voxel centres stay put, so one
    level voxel is ``(n - 1) / (m - 1) ≈ factor`` full-resolution voxels.

    Example:
        >>> pyramid_size((65, 40), 4)
        (17, 11)
    """
    return tuple(min(n, max(8, round((n - 1) / factor) + 1)) for n in size)


def downsample(image, size, *, sigma=0.0):
    """Gaussian smoothing (``sigma`` in voxels, 0 for none) then linear resampling onto ``size``.

    Args:
        image: ``(B, C, *spatial)`` float tensor.
        size: the level's spatial shape.
        sigma: standard deviation of the smoothing, in voxels of ``image``.

    Returns:
        Tensor ``(B, C, *size)``.

    Example:
        >>> downsample(torch.ones(1, 1, 9, 9), (5, 5), sigma=1.0).shape
        torch.Size([1, 1, 5, 5])
    """
    if sigma > 0:
        image = gaussian_smoothing(image, sigma)
    if tuple(size) == tuple(image.shape[2:]):
        return image
    mode = "bilinear" if image.dim() == 4 else "trilinear"
    return F.interpolate(image, size=tuple(size), mode=mode, align_corners=ALIGN_CORNERS)


def gaussian_pyramid(image, levels):
    """The images of a pyramid, coarsest first: level ``l`` is shrunk by ``2**(levels - 1 - l)``.

    Each level is smoothed with ``σ = factor / 2`` voxels before downsampling (the
    usual anti-aliasing choice, e.g. elastix's and SimpleITK's defaults).

    Example:
        >>> [tuple(level.shape[2:]) for level in gaussian_pyramid(torch.rand(1, 1, 64, 48), 3)]
        [(17, 13), (33, 25), (64, 48)]
    """
    factors = [2 ** (levels - 1 - level) for level in range(levels)]
    size = image.shape[2:]
    return [downsample(image, pyramid_size(size, f), sigma=f / 2 if f > 1 else 0.0) for f in factors]


def refine_bspline(model):
    """A B-spline model with half the control spacing and the same displacement (exact subdivision).

    A cubic B-spline with knots ``2δ`` apart is also one with knots ``δ`` apart, with
    control points ``d_2j = (c_j-1 + 6 c_j + c_j+1) / 8`` and ``d_2j+1 = (c_j + c_j+1) / 2``
    along every axis (Lee, Wolberg & Shin 1997). Used between pyramid levels.

    Args:
        model: :class:`reglab.transforms.BSpline` with an even spacing on every axis.

    Returns:
        A new :class:`~reglab.transforms.BSpline` on the same grid, spacing ``δ / 2``.

    Example:
        >>> coarse = BSpline((33, 33), spacing=8, control=torch.randn(1, 2, 8, 8))
        >>> fine = refine_bspline(coarse)
        >>> fine.spacing, torch.allclose(fine(), coarse(), atol=1e-5)
        ((4, 4), True)
    """
    if any(d % 2 for d in model.spacing):
        raise ValueError(f"refine_bspline(): expected an even control spacing, got {model.spacing}.")
    spacing = tuple(d // 2 for d in model.spacing)
    control = model.control.detach()
    for axis, count in enumerate(control_grid_size(model.size, spacing)):
        matrix = _subdivision_matrix(control.shape[axis + 2], count, device=control.device, dtype=control.dtype)
        control = (control.movedim(axis + 2, -1) @ matrix.T).movedim(-1, axis + 2)
    return BSpline(model.size, spacing=spacing, control=control, batch=model.batch).to(model.control.device)


def _subdivision_matrix(coarse, fine, *, device, dtype):
    """``(fine, coarse)`` weights: stored index ``s`` holds control point ``s - 1`` (see :mod:`reglab.transforms.bspline`)."""
    matrix = torch.zeros(fine, coarse, device=device, dtype=dtype)
    for row in range(fine):
        m = row - 1                                                   # fine control point index
        j = m // 2                                                    # coarse point at or left of it
        weights = {j - 1: 1 / 8, j: 6 / 8, j + 1: 1 / 8} if m % 2 == 0 else {j: 1 / 2, j + 1: 1 / 2}
        for point, w in weights.items():
            if 0 <= point + 1 < coarse:                               # points off the stored grid count as 0
                matrix[row, point + 1] = w
    return matrix
