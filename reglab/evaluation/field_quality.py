"""Comparing transformations: the RMSE between two fields and the inverse consistency of a pair.

The lecture (§7, "RMSE, CURL, Jacobian, Inverse Consistency"):

* :func:`rmse` - ``sqrt(1/N Σ_x |y_1(x) - y_2(x)|²)``, e.g. a predicted field against the ground truth;
* :func:`inverse_consistency` - ``IC = 1/N Σ_x |(y ∘ y⁻¹)(x) - x|``, the mean round-trip error of a
  forward/backward pair.

The derivative-based measures of a single field (Jacobian determinant,
folding, SDlogJ, curl) are in :mod:`reglab.evaluation.jacobian`.
Displacements are in voxels; ``spacing=`` (mm, axis order) gives mm.

Lab 08 ("Evaluation") teaches this module.
"""

import torch  # noqa: F401  (the docstring examples use it)

from reglab.fields import compose
from reglab.validation import check_displacement, check_same_dtype, check_spacing


def rmse(u, v, *, spacing=None):
    """Root-mean-square distance between two transformations: ``sqrt(1/N Σ_x |y_u(x) - y_v(x)|²)``.

    Because ``y_u(x) - y_v(x) = u(x) - v(x)``, this is the RMS of the difference
    of the displacements, e.g. a predicted field against the ground truth.

    Args:
        u, v: ``(B, ndim, *spatial)`` displacements in voxels on the same grid.
        spacing: voxel size in mm, axis order; None for voxels.

    Returns:
        Tensor ``(B,)``: in mm with ``spacing``, else in voxels.

    Example:
        >>> u = torch.zeros(1, 2, 4, 4); v = torch.zeros(1, 2, 4, 4); v[:, 0] = 3.0; v[:, 1] = 4.0
        >>> rmse(u, v), rmse(u, v, spacing=(2.0, 1.0))
        (tensor([5.]), tensor([7.2111]))

    Lab 08. References: the lecture's RMSE formula (§7).
    """
    ndim = check_displacement("rmse", "u", u)
    check_displacement("rmse", "v", v, ndim=ndim, spatial=u.shape[2:])
    if u.shape[0] != v.shape[0]:
        raise ValueError(f"rmse(): expected `u` and `v` with the same batch size, got {u.shape[0]} and {v.shape[0]}.")
    scale = check_spacing("rmse", spacing, ndim, u).reshape(1, ndim, *([1] * ndim))
    squared = ((u - v) * scale).square().sum(dim=1)                                   # (B, *spatial)
    return squared.flatten(1).mean(dim=1).sqrt()


def inverse_consistency(forward, backward, *, spacing=None):
    """Inverse consistency: ``IC = 1/N Σ_x |(y ∘ y⁻¹)(x) - x|``, the mean round-trip error.

    ``forward`` is ``y`` and ``backward`` its claimed inverse ``y⁻¹``; a point
    goes through ``backward`` first, then ``forward``, and should come back
    where it started. The composition is :func:`reglab.fields.compose`.

    Args:
        forward, backward: ``(B, ndim, *spatial)`` displacements in voxels on the same grid.
        spacing: voxel size in mm, axis order; None for voxels.

    Returns:
        Tensor ``(B,)``: in mm with ``spacing``, else in voxels (0 for an exact inverse pair).

    Example:
        >>> u = torch.full((1, 2, 4, 4), 1.5)
        >>> inverse_consistency(u, -u).round(decimals=4), inverse_consistency(u, u)
        (tensor([0.]), tensor([4.2426]))

    Lab 08. References: the lecture's IC formula (§7).
    """
    ndim = check_displacement("inverse_consistency", "forward", forward)
    check_displacement("inverse_consistency", "backward", backward, ndim=ndim, spatial=forward.shape[2:])
    if forward.shape[0] != backward.shape[0]:
        raise ValueError(f"inverse_consistency(): expected `forward` and `backward` with the same batch size, "
                         f"got {forward.shape[0]} and {backward.shape[0]}.")
    check_same_dtype("inverse_consistency", ("forward", forward), ("backward", backward))
    scale = check_spacing("inverse_consistency", spacing, ndim, forward).reshape(1, ndim, *([1] * ndim))
    round_trip = compose(forward, backward) * scale                                   # (y ∘ y⁻¹)(x) - x
    return round_trip.norm(dim=1).flatten(1).mean(dim=1)
