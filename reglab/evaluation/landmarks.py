"""Landmarks: the target registration error :func:`tre` between corresponding points, in mm.

The lecture's ``TRE(q, p) = |q - p|`` (§7), before and after registration.
Points are ``(B, N, ndim)`` in voxels, axis order; ``spacing=`` (mm, axis
order) gives mm.

Lab 08 ("Evaluation") teaches this module.
"""

import torch

from reglab.validation import check_displacement, check_points, check_spacing, check_tensor
from reglab.warping import warp_points


def tre(fixed_points, moving_points, displacement=None, *, spacing=None):
    """Target registration error: ``TRE = |(p + u(p)) - q|`` per landmark pair, in mm.

    Direction: a fixed-image landmark ``p`` is carried through the
    transformation with :func:`reglab.warp_points` (``p ↦ p + u(p)``, where
    the registered moving image took its value for ``p``) and compared with its
    partner ``q`` in the moving image. This is the direction of backward
    warping: ``u`` lives on the fixed grid, so it is evaluated at fixed points.
    Without a displacement the TRE before registration is ``|p - q|``.

    Args:
        fixed_points: ``(B, N, ndim)`` landmarks in voxels of the fixed image, axis order
            (floating point, or integer voxel indices).
        moving_points: ``(B, N, ndim)`` the corresponding landmarks in the moving image.
        displacement: ``(B, ndim, *spatial)`` in voxels, or None (identity, "before").
        spacing: voxel size in mm, axis order (shared by both images), or one number for
            isotropic voxels; None for voxels.

    Returns:
        Tensor ``(B, N)``: the error of every landmark, in mm with ``spacing``, else in voxels.

    Raises:
        ValueError: shapes that differ, NaN/Inf landmarks, a field of the wrong shape or batch size.

    Example:
        >>> p = torch.tensor([[[2.0, 2.0]]]); q = torch.tensor([[[5.0, 6.0]]])
        >>> u = torch.zeros(1, 2, 8, 8); u[:, 0] = 3.0                 # the registration found the row shift
        >>> tre(p, q), tre(p, q, u), tre(p, q, u, spacing=(1.0, 0.5))
        (tensor([[5.]]), tensor([[4.]]), tensor([[2.]]))

    Lab 08. References: the lecture's TRE formula (§7); voxelmorph issues #84, #86.
    """
    check_tensor("tre", "fixed_points", fixed_points)
    check_tensor("tre", "moving_points", moving_points)
    if fixed_points.shape != moving_points.shape or fixed_points.dim() != 3 or fixed_points.shape[-1] not in (2, 3):
        raise ValueError(
            f"tre(): expected `fixed_points` and `moving_points` of the same shape (B, N, ndim) in voxels, "
            f"got {tuple(fixed_points.shape)} and {tuple(moving_points.shape)}."
        )
    ndim = fixed_points.shape[-1]
    if not fixed_points.is_floating_point():                                          # integer voxel indices
        fixed_points = fixed_points.to(torch.get_default_dtype())
    if not moving_points.is_floating_point():
        moving_points = moving_points.to(fixed_points.dtype)
    check_points("tre", "fixed_points", fixed_points, ndim)
    check_points("tre", "moving_points", moving_points, ndim)
    scale = check_spacing("tre", spacing, ndim, moving_points)
    if displacement is None:
        mapped = fixed_points
    else:
        check_displacement("tre", "displacement", displacement, ndim=ndim)
        if displacement.shape[0] != fixed_points.shape[0]:
            raise ValueError(
                f"tre(): expected `fixed_points` and `displacement` with the same batch size, "
                f"got {fixed_points.shape[0]} and {displacement.shape[0]}."
            )
        mapped = warp_points(fixed_points, displacement)
    return ((mapped - moving_points) * scale).norm(dim=-1)
