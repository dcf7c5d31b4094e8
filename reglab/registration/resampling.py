"""Physical space: the inputs of :func:`~reglab.registration.engine.register` on the fixed grid.

Tensors must share a grid. Images read with :func:`reglab.io.read_image` may
not: the moving image (and its mask) is first resampled onto the fixed grid
through the two geometries (fixed voxel → mm → moving voxel), and the engine
warps the original moving image once more at the end, so the result is
interpolated only once. :func:`resample_to_fixed` shows the starting point.

Lab 05 ("Classical registration").
"""

import torch
import torch.nn.functional as F

from reglab import io
from reglab.grid import ALIGN_CORNERS, identity_grid, to_grid_sample
from reglab.validation import check_image


def _as_image(name, value):
    """A tensor or a :class:`reglab.io.Image` → (tensor, geometry or None)."""
    if isinstance(value, io.Image):
        data, geometry = value.data, value.geometry
    else:
        data, geometry = value, None
    check_image("register", name, data)
    if data.shape[2:].numel() == 0 or min(data.shape[2:]) < 4:
        raise ValueError(f"register(): expected `{name}` with at least 4 voxels per axis, got {tuple(data.shape)}.")
    return data, geometry


def _resample_matrix(fixed_geometry, moving_geometry):
    """``(ndim, ndim + 1)`` fixed voxel → moving voxel through physical space, or None when it is the identity."""
    matrix = torch.linalg.inv(moving_geometry.matrix()) @ fixed_geometry.matrix()
    if torch.allclose(matrix, torch.eye(len(matrix), dtype=matrix.dtype), atol=1e-9):
        return None
    return matrix[:-1]


def _sample(image, coordinates, *, mode="bilinear"):
    """``image`` ``(B, C, *grid)`` at voxel ``coordinates`` ``(B, ndim, *spatial)`` (any grid), zero outside."""
    grid = to_grid_sample(coordinates, image.shape[2:])
    return F.grid_sample(image, grid.to(image.dtype), mode=mode, padding_mode="zeros", align_corners=ALIGN_CORNERS)


def sample_at(image, coordinates, *, mode="linear"):
    """``image`` at voxel ``coordinates`` of its own grid, zero outside: intensities or label maps.

    Args:
        image: ``(B|1, C, *grid)`` float (any mode) or integer (``"nearest"``, ``"label"``) tensor.
        coordinates: ``(B, ndim, *spatial)`` positions in voxels of ``image`` (axis order), any output grid.
        mode: ``"linear"``, ``"nearest"`` or ``"label"`` (arg-max of the linearly sampled indicator of
            each label, as SimpleITK's ``sitkLabelLinear``).

    Returns:
        ``(B, C, *spatial)`` with the dtype of ``image`` (labels stay integers).

    Example:
        >>> labels = torch.tensor([[[[0, 1, 2, 2]]]])
        >>> sample_at(labels, torch.tensor([[[[0.0, 0.0]], [[1.2, 2.6]]]]), mode="label")
        tensor([[[[1, 2]]]])
    """
    batch = max(image.shape[0], coordinates.shape[0])
    image = image.expand(batch, *image.shape[1:])
    coordinates = coordinates.expand(batch, *coordinates.shape[1:])
    dtype = coordinates.dtype if coordinates.is_floating_point() else torch.float32
    grid = to_grid_sample(coordinates.to(dtype), image.shape[2:])
    if mode == "label":                          # one indicator at a time: no one-hot tensor of every label
        best_share = grid.new_zeros((batch, image.shape[1], *coordinates.shape[2:]))
        best_label = torch.zeros(best_share.shape, dtype=image.dtype, device=image.device)
        for label in torch.unique(image):
            share = F.grid_sample((image == label).to(grid.dtype), grid, mode="bilinear", padding_mode="zeros",
                                  align_corners=ALIGN_CORNERS)
            better = share > best_share
            best_share = torch.where(better, share, best_share)
            best_label = torch.where(better, label, best_label)
        return best_label
    values = image if image.is_floating_point() else image.to(torch.float64)   # exact for any int32 label
    sampled = F.grid_sample(values, grid.to(values.dtype), mode="bilinear" if mode == "linear" else "nearest",
                            padding_mode="zeros", align_corners=ALIGN_CORNERS)
    return sampled if image.is_floating_point() else sampled.round().to(image.dtype)


def _map_points(matrix, coordinates):
    """Apply ``(ndim, ndim + 1)`` to voxel coordinates ``(B, ndim, *spatial)``."""
    matrix = matrix.to(coordinates)
    return torch.einsum("ij,bj...->bi...", matrix[:, :-1], coordinates) + matrix[:, -1].reshape(
        1, -1, *([1] * (coordinates.dim() - 2)))


def _prepare(fixed, moving, fixed_mask, moving_mask):
    """Tensors on the fixed grid: (fixed, moving', fixed mask, moving' mask, geometry, resampling).

    ``resampling`` is ``(matrix or None, the original moving tensor, the moving geometry)``.
    """
    fixed, fixed_geometry = _as_image("fixed", fixed)
    moving, moving_geometry = _as_image("moving", moving)
    if fixed.dim() != moving.dim() or fixed.shape[1] != moving.shape[1]:
        raise ValueError(f"register(): expected `fixed` and `moving` with the same dimension and channels, "
                         f"got {tuple(fixed.shape)} and {tuple(moving.shape)}.")
    ndim = fixed.dim() - 2
    if (fixed_geometry is None) != (moving_geometry is None):
        raise ValueError("register(): expected two reglab.io.Image (with geometry) or two tensors, got one of each.")
    matrix = None
    if fixed_geometry is not None:
        matrix = _resample_matrix(fixed_geometry, moving_geometry)
        if matrix is None and fixed.shape[2:] != moving.shape[2:]:
            matrix = torch.eye(ndim + 1, dtype=torch.float64)[:-1]
    elif fixed.shape[2:] != moving.shape[2:]:
        raise ValueError(
            f"register(): expected `fixed` and `moving` on the same grid, got spatial shapes {tuple(fixed.shape[2:])} "
            f"and {tuple(moving.shape[2:])}. Hint: read them with reglab.io.read_image to register in physical space.")
    masks = []
    for name, mask, reference in (("fixed_mask", fixed_mask, fixed), ("moving_mask", moving_mask, moving)):
        if mask is not None:
            mask = mask.data if isinstance(mask, io.Image) else mask
            check_image("register", name, mask, allow_integer=True)
            if mask.shape[2:] != reference.shape[2:]:
                raise ValueError(f"register(): expected `{name}` on the grid {tuple(reference.shape[2:])}, "
                                 f"got {tuple(mask.shape[2:])}.")
            mask = mask.to(fixed.device, fixed.dtype)
        masks.append(mask)
    moving = original = moving.to(fixed.device, fixed.dtype)
    geometry = fixed_geometry or io.Geometry.default(ndim)
    if matrix is not None:
        to_moving = _map_points(matrix, identity_grid(fixed.shape[2:], device=fixed.device, dtype=fixed.dtype))
        moving = _sample(moving, to_moving.expand(moving.shape[0], -1, *fixed.shape[2:]))
        if masks[1] is not None:
            masks[1] = _sample(masks[1], to_moving.expand(masks[1].shape[0], -1, *fixed.shape[2:]))
    return fixed, moving, masks[0], masks[1], geometry, (matrix, original, moving_geometry or geometry)


def resample_to_fixed(fixed, moving):
    """The moving image on the fixed image's grid, through physical space (what registration starts from).

    Args:
        fixed, moving: two :class:`reglab.io.Image` s (any grids), or two tensors on the same grid.

    Returns:
        Tensor ``(B, C, *fixed.shape[2:])``: ``moving`` at the physical positions of the fixed voxels
        (zero outside it); ``moving`` itself when both share a grid.

    Example:
        >>> from reglab.io import Geometry, Image
        >>> fixed = Image(torch.zeros(1, 1, 4, 4), Geometry.default(2))
        >>> moving = Image(torch.arange(16.0).reshape(1, 1, 4, 4), Geometry((1.0, 1.0), (1.0, 0.0), (1.0, 0.0, 0.0, 1.0)))
        >>> resample_to_fixed(fixed, moving)[0, 0, 0]     # the moving origin is 1 mm further along x
        tensor([0., 0., 1., 2.])
    """
    return _prepare(fixed, moving, None, None)[1]
