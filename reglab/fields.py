"""Displacement fields: from a matrix, composition, inversion, integration, resizing.

All fields follow the conventions of :mod:`reglab.grid`: ``(B, ndim, *spatial)``
in voxels, channel ``i`` along spatial axis ``i``, and the transformation
``y(x) = x + u(x)``. A field is interpolated linearly between voxels and
extended by its border values outside the grid.

Lab 01 ("How to transform images") teaches this module; the diffeomorphic
models of Lab 02 use :func:`integrate_velocity`.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from reglab.grid import ALIGN_CORNERS, _reversed_grid_parts, grid_sample_in_slabs, identity_grid, to_grid_sample
from reglab.validation import (all_finite, broadcast_batch, check_displacement, check_number, check_same_dtype,
                               check_size, check_tensor)


def affine_to_displacement(matrix, size):
    """The displacement of an affine map ``y(x) = A x + t`` in voxel coordinates.

    Args:
        matrix: ``(B, ndim, ndim + 1)`` ``[A | t]``, or homogeneous ``(B, ndim + 1, ndim + 1)``,
            acting on voxel coordinates in axis order.
        size: spatial shape of the (fixed) grid.

    Returns:
        Tensor ``(B, ndim, *size)``: ``u(x) = A x + t - x``, in voxels.

    Example:
        >>> shift = torch.tensor([[[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]])   # A = I, t = (2, -1)
        >>> affine_to_displacement(shift, (2, 2))[0, :, 0, 0]
        tensor([ 2., -1.])
    """
    check_tensor("affine_to_displacement", "matrix", matrix)
    size = check_size("affine_to_displacement", size, (2, 3))
    ndim = len(size)
    if not matrix.is_floating_point():
        raise TypeError(f"affine_to_displacement(): expected a floating-point `matrix`, got dtype {matrix.dtype}.")
    if matrix.dim() != 3 or matrix.shape[-1] != ndim + 1 or matrix.shape[1] not in (ndim, ndim + 1):
        raise ValueError(
            f"affine_to_displacement(): expected `matrix` of shape (B, {ndim}, {ndim + 1}) "
            f"or (B, {ndim + 1}, {ndim + 1}) for a {ndim}D grid, got {tuple(matrix.shape)}."
        )
    if not all_finite(matrix):
        raise ValueError("affine_to_displacement(): `matrix` contains NaN or Inf values.")
    x = identity_grid(size, device=matrix.device, dtype=matrix.dtype).flatten(2)    # (1, ndim, N)
    linear, translation = matrix[:, :ndim, :ndim], matrix[:, :ndim, ndim:]
    y = linear @ x + translation                                                     # (B, ndim, N)
    return (y - x).reshape(matrix.shape[0], ndim, *size)


def _sample_field(field, displacement):
    """Interpolate ``field`` (B, ndim, *spatial) at ``x + displacement(x)`` (voxels, same grid)."""
    grid = to_grid_sample(displacement, field.shape[2:], relative=True)
    return grid_sample_in_slabs(field, grid, mode="bilinear", padding_mode="border")


def compose(u, v):
    """The displacement of ``y_u ∘ y_v``: ``w(x) = v(x) + u(x + v(x))``.

    Points go through ``v`` first, then ``u``. For images this means: warping
    by ``compose(u, v)`` equals warping by ``u`` and then warping the result by
    ``v`` (up to interpolation), with one interpolation of the image instead of two.

    Args:
        u, v: ``(B, ndim, *spatial)`` displacements in voxels on the same grid, of the
            same dtype. A batch of 1 is broadcast against the other's batch (as in ``warp``).

    Returns:
        Tensor ``(B, ndim, *spatial)``.

    Raises:
        TypeError: different dtypes. ValueError: different grids or batch sizes, NaN/Inf.

    Example:
        >>> u = torch.ones(1, 2, 3, 3); v = 2 * torch.ones(1, 2, 3, 3)   # two translations add up
        >>> compose(u, v)[0, :, 1, 1]
        tensor([3., 3.])
    """
    ndim = check_displacement("compose", "u", u)
    check_displacement("compose", "v", v, ndim=ndim, spatial=u.shape[2:])
    check_same_dtype("compose", ("u", u), ("v", v))
    u, v = broadcast_batch("compose", ("u", u), ("v", v))
    return v + _sample_field(u, v)


class Inverse(NamedTuple):
    """What :func:`invert` returns."""

    displacement: torch.Tensor
    """``(B, ndim, *spatial)`` the inverse field, in voxels."""
    residual: torch.Tensor
    """``(B,)`` the largest ``|v(x) + u(x + v(x))|`` over the grid, in voxels (0 for an exact inverse)."""
    iterations: int
    """how many fixed-point iterations ran."""


def invert(displacement, *, iterations=100, tolerance=1e-3):
    """Invert a displacement by fixed-point iteration: ``v ← -u(x + v(x))``.

    The inverse ``v`` satisfies ``y_u(y_v(x)) = x``, i.e. ``v(x) + u(x + v(x)) = 0``.
    Start from ``v = 0`` and repeat the update until the largest residual is below
    ``tolerance``. The iteration converges when the field is a contraction, roughly
    when no voxel's displacement changes faster than 1 voxel per voxel (no folding);
    a folded field has no inverse, and its residual stays large: check it.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        iterations: the most fixed-point steps (an int >= 0).
        tolerance: stop when every batch element's residual is below this, in voxels (finite, >= 0).

    Returns:
        :class:`Inverse` ``(displacement, residual, iterations)``.

    Example:
        >>> u = torch.full((1, 2, 4, 4), 0.5)
        >>> result = invert(u)
        >>> result.displacement[0, :, 1, 1], result.residual
        (tensor([-0.5000, -0.5000]), tensor([0.]))
    """
    check_displacement("invert", "displacement", displacement)
    check_number("invert", "iterations", iterations, integer=True, minimum=0)
    check_number("invert", "tolerance", tolerance, minimum=0)
    inverse = torch.zeros_like(displacement)
    residual = _max_norm(displacement)
    done = 0
    while done < iterations and residual.max() > tolerance:
        inverse = -_sample_field(displacement, inverse)
        residual = _max_norm(inverse + _sample_field(displacement, inverse))
        done += 1
    return Inverse(inverse, residual, done)


def _max_norm(field):
    """``(B,)`` the largest vector length in each field of the batch."""
    return field.norm(dim=1).flatten(1).amax(dim=1)


def integrate_velocity(velocity, *, steps=7):
    """Scaling and squaring: the displacement of ``exp(v)`` for a stationary velocity field.

    Divide the velocity by ``2**steps`` (a displacement so small that
    ``x + v/2**steps`` is invertible), then compose the field with itself
    ``steps`` times: ``u ← u + u(x + u(x))``. The result is a diffeomorphism
    (smooth, invertible, no folding) whenever ``v`` is smooth enough, and its
    inverse is ``integrate_velocity(-v)``.

    Args:
        velocity: ``(B, ndim, *spatial)`` in voxels (per unit time).
        steps: number of squarings (7 is the common default: 128 sub-steps).

    Returns:
        Tensor ``(B, ndim, *spatial)``: the displacement at time 1, in voxels.

    Example:
        >>> v = torch.full((1, 2, 4, 4), 1.0)            # a constant velocity is a translation
        >>> integrate_velocity(v)[0, :, 2, 2]
        tensor([1., 1.])
    """
    check_displacement("integrate_velocity", "velocity", velocity)
    check_number("integrate_velocity", "steps", steps, integer=True, minimum=0)
    displacement = velocity / 2**steps
    if steps == 0:
        return displacement
    # Each squaring is compose(u, u) = u + u(x + u(x)). grid_sample wants x + u(x) normalized, axes reversed,
    # channels last: with u's channels reversed once here, that grid is one addcmul and a view (no stack per step);
    # grid_sample treats channels independently, so the sampled field keeps the reversed order.
    identity, scale = _reversed_grid_parts(velocity.shape[2:], device=velocity.device, dtype=velocity.dtype)
    reversed_u = displacement.flip(1)                                        # (B, ndim, *spatial), channels (x, y[, z])
    for _ in range(steps):
        grid = torch.addcmul(identity, reversed_u, scale).movedim(1, -1)     # (B, *spatial, ndim), a view
        sampled = grid_sample_in_slabs(reversed_u, grid, mode="bilinear", padding_mode="border")
        reversed_u = reversed_u + sampled
    return reversed_u.flip(1)


def resize_displacement(displacement, size):
    """Resample a displacement onto a grid of another ``size``, rescaling its vectors.

    The field is interpolated linearly (with ``align_corners=True`` the first and
    last voxel centres stay put) and every component ``i`` is multiplied by
    ``(new_n_i - 1) / (old_n_i - 1)`` because a voxel of the new grid has a
    different length. An axis of 1 voxel (before or after) spans no length, so
    its voxel size is undefined: that component is kept as it is. Use it to
    carry a field between pyramid levels.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels of the old grid.
        size: the new spatial shape, ``ndim`` ints >= 1.

    Returns:
        Tensor ``(B, ndim, *size)`` in voxels of the new grid.

    Example:
        >>> u = torch.ones(1, 2, 5, 5)                          # one voxel on a 5 x 5 grid
        >>> resize_displacement(u, (9, 9))[0, :, 0, 0]          # is two voxels on a 9 x 9 grid
        tensor([2., 2.])
    """
    ndim = check_displacement("resize_displacement", "displacement", displacement)
    size = check_size("resize_displacement", size, ndim)
    old = displacement.shape[2:]
    mode = "bilinear" if ndim == 2 else "trilinear"
    resized = F.interpolate(displacement, size=size, mode=mode, align_corners=ALIGN_CORNERS)
    scale = torch.tensor([(new - 1) / (n - 1) if min(new, n) > 1 else 1.0 for new, n in zip(size, old)],
                         device=displacement.device, dtype=displacement.dtype)
    return resized * scale.reshape(1, ndim, *([1] * ndim))
