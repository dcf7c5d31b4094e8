"""Backward (pull) warping of images, label maps and points.

``warped(x) = moving(x + u(x))``: for every voxel ``x`` of the fixed grid,
look up the moving image at ``x + u(x)`` and interpolate. Points go the
*other* way::

      fixed image (grid of u)                      moving image
      ┌──────────────┐     y(x) = x + u(x)       ┌──────────────┐
      │   x ●────────┼──────────────────────────▶│ ● x + u(x)   │   warp_points: a fixed-image
      │              │                           │              │   landmark lands here
      │ warped(x) ◀──┼─────── value ─────────────┤              │   warp: the value travels back
      └──────────────┘                           └──────────────┘

So ``warp`` brings the *moving image* onto the fixed grid, while ``warp_points``
carries *fixed-image points* into the moving image. To bring moving-image
points onto the fixed grid, use the inverse field (``reglab.fields.invert``).

Lab 01 ("How to transform images") teaches this module.
"""

import torch
import torch.nn.functional as F

from reglab.grid import ALIGN_CORNERS, grid_sample_in_slabs, to_grid_sample
from reglab.validation import check_choice, check_displacement, check_image, check_points

MODES = ("linear", "nearest", "cubic", "label")
PADDINGS = ("zeros", "border", "reflection")


def warp(moving, displacement, *, mode="linear", padding="zeros"):
    """Backward warping: ``warped(x) = moving(x + u(x))``.

    Args:
        moving: ``(B, C, H, W)`` or ``(B, C, D, H, W)`` image or label map. A batch of
            1 is broadcast against the displacement's batch and vice versa.
        displacement: ``(B, ndim, *spatial)`` in voxels, on the same spatial grid.
        mode: ``"linear"`` (bi/trilinear, for intensities), ``"cubic"`` (bicubic,
            2D only: PyTorch has no tricubic ``grid_sample``), ``"nearest"`` (label
            maps: never invents a value), or ``"label"`` (label maps: each label's
            indicator is warped linearly and every voxel takes the label with the
            largest share; smoother boundaries than nearest, and it still never
            averages label values, e.g. 1 and 3 into 2).
        padding: value outside the moving image: ``"zeros"``, ``"border"`` (repeat
            the edge) or ``"reflection"``. ``"zeros"`` interpolates the image extended
            by zeros: a value fades linearly from the edge voxel's to 0 over the first
            voxel outside (the border-padded value × ``Π_i (1 - d_i)``, ``d_i`` the distance
            outside along axis ``i``), so it is continuous in ``u``, as the optimisers
            need. SimpleITK's ``Resample`` (default value 0) differs in that band: it
            repeats the edge voxel up to half a voxel outside and gives 0 beyond (a ones
            image shifted by -0.3 voxel: 0.7 here, 1.0 in ITK, at the first voxel); both
            agree inside the image and from one voxel outside on.

    Returns:
        Tensor shaped like ``moving`` (batch broadcast), same dtype. Integer label
        maps are accepted for ``"nearest"`` and ``"label"`` and come back integer.

    Raises:
        TypeError: an integer image with ``"linear"`` or ``"cubic"``.
        ValueError: wrong layouts, mismatched spatial shapes or batch sizes, NaN/Inf,
            an unknown mode, or ``"cubic"`` in 3D.

    Example:
        >>> moving = torch.arange(5.0).reshape(1, 1, 1, 5)
        >>> u = torch.zeros(1, 2, 1, 5); u[:, 1] = 1.0      # look one column to the right
        >>> warp(moving, u)
        tensor([[[[1., 2., 3., 4., 0.]]]])
    """
    check_choice("warp", "mode", mode, MODES)
    check_choice("warp", "padding", padding, PADDINGS)
    ndim = check_image("warp", "moving", moving, allow_integer=mode in ("nearest", "label"))
    check_displacement("warp", "displacement", displacement, ndim=ndim, spatial=moving.shape[2:])
    if moving.shape[0] != displacement.shape[0] and 1 not in (moving.shape[0], displacement.shape[0]):
        raise ValueError(
            f"warp(): expected `moving` and `displacement` with the same batch size (or one of them 1), "
            f"got {moving.shape[0]} and {displacement.shape[0]}."
        )
    if mode == "cubic" and ndim == 3:
        raise ValueError("warp(): mode='cubic' is 2D only (PyTorch has no tricubic grid_sample); use mode='linear' in 3D.")
    batch = max(moving.shape[0], displacement.shape[0])
    moving = moving.expand(batch, *moving.shape[1:])
    displacement = displacement.expand(batch, *displacement.shape[1:])
    grid = to_grid_sample(displacement, moving.shape[2:], relative=True)    # x + u(x), normalized
    if mode == "label":
        return _warp_labels(moving, grid, padding)
    sampler = {"linear": "bilinear", "nearest": "nearest", "cubic": "bicubic"}[mode]
    values = moving if moving.is_floating_point() else moving.to(grid.dtype)
    warped = grid_sample_in_slabs(values, grid.to(values.dtype), mode=sampler, padding_mode=padding)
    return warped.to(moving.dtype)


def _warp_labels(labels, grid, padding):
    """Label-preserving warp: arg-max over the linearly warped indicator of each label.

    Loops over the labels present (no one-hot tensor of all labels in memory).
    Where no label has any weight (outside the image with zero padding) the
    result is 0.
    """
    best_share = grid.new_zeros(labels.shape)
    best_label = torch.zeros_like(labels)
    for label in torch.unique(labels):
        indicator = (labels == label).to(grid.dtype)
        share = F.grid_sample(indicator, grid, mode="bilinear", padding_mode=padding, align_corners=ALIGN_CORNERS)
        better = share > best_share
        best_share = torch.where(better, share, best_share)
        best_label = torch.where(better, label, best_label)
    return best_label


def warp_points(points, displacement):
    """Carry fixed-image points through the transformation: ``p ↦ p + u(p)``.

    This is the opposite direction to :func:`warp`: a landmark ``p`` of the fixed
    image goes to ``p + u(p)`` in the moving image, the place whose value
    ``warp`` fetched for ``p``. Compare the result with the moving image's
    landmarks to compute the target registration error.

    Args:
        points: ``(B, N, ndim)`` voxel coordinates on the fixed grid, axis order.
        displacement: ``(B, ndim, *spatial)`` in voxels; interpolated linearly at
            non-integer points and extended by its border values outside the grid.

    Returns:
        Tensor ``(B, N, ndim)``: the points' positions in the moving image, in voxels.

    Example:
        >>> u = torch.zeros(1, 2, 4, 4); u[:, 0] = 2.0      # every point moves 2 rows down
        >>> warp_points(torch.tensor([[[1.0, 1.5]]]), u)
        tensor([[[3.0000, 1.5000]]])
    """
    ndim = check_displacement("warp_points", "displacement", displacement)
    check_points("warp_points", "points", points, ndim)
    if points.shape[0] != displacement.shape[0]:
        raise ValueError(
            f"warp_points(): expected `points` and `displacement` with the same batch size, "
            f"got {points.shape[0]} and {displacement.shape[0]}."
        )
    as_field = points.transpose(1, 2).reshape(*points.shape[0:1], ndim, -1, *([1] * (ndim - 1)))  # (B, ndim, N, 1[, 1])
    grid = to_grid_sample(as_field, displacement.shape[2:])
    sampled = F.grid_sample(displacement, grid.to(displacement.dtype), mode="bilinear", padding_mode="border",
                            align_corners=ALIGN_CORNERS)                                          # (B, ndim, N, 1[, 1])
    return points + sampled.reshape(points.shape[0], ndim, -1).transpose(1, 2)
