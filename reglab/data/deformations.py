"""Synthetic ground truth: random transformations whose answer is known, with their exact inverses.

A registration method can only be *measured* when the true transformation is
known. These generators make one, exactly:

* :func:`random_affine`, :func:`random_rigid` - matrices about the image centre,
  in voxel coordinates (``y = A x + t``, as :func:`reglab.fields.affine_to_displacement`),
  with their exact inverses and displacements.
* :func:`random_velocity`, :func:`random_deformation` - a smooth random velocity
  field integrated by scaling and squaring (:func:`reglab.fields.integrate_velocity`):
  a diffeomorphism and its inverse ``integrate_velocity(-v)``.

Images to go with them (other contrasts) are in :mod:`reglab.data.contrasts`.

Every generator is seeded: ``seed`` is an int (or a ``torch.Generator``, or None
for PyTorch's global generator). The random numbers are drawn on the CPU and then
moved to ``device``, so a seed gives the same result on every device.

Lab 00 shows these; Labs 02-08 use them for exact errors.

References:
    Arsigny et al., "A Log-Euclidean framework for statistics on diffeomorphisms", MICCAI 2006
    (scaling and squaring).
"""

import math
from typing import NamedTuple

import torch

from reglab.data.noise import _check_nonnegative, _check_size, _generator, _smooth_noise, _uniform
from reglab.fields import affine_to_displacement, integrate_velocity, resize_displacement


# ---------------------------------------------------------------- affine


class RandomAffine(NamedTuple):
    """What :func:`random_affine` and :func:`random_rigid` return."""

    matrix: torch.Tensor
    """``(B, ndim, ndim + 1)`` ``[A | t]``: fixed-image point ``x`` → moving-image point ``A x + t`` (voxels, axis order)."""
    inverse_matrix: torch.Tensor
    """``(B, ndim, ndim + 1)`` the exact inverse map."""
    displacement: torch.Tensor
    """``(B, ndim, *size)`` ``u(x) = A x + t − x`` on the fixed grid: ``warp(moving, u)`` aligns moving to fixed."""
    inverse: torch.Tensor
    """``(B, ndim, *size)`` the displacement of the inverse map: ``warp(fixed, inverse)`` makes a moving image."""


def _rotation(angles, ndim):
    """Rotation matrices ``(B, ndim, ndim)`` from angles in radians (one per plane of axes (0,1), (0,2), (1,2))."""
    batch = angles.shape[0]
    matrix = torch.eye(ndim, dtype=torch.float64).repeat(batch, 1, 1)
    planes = [(0, 1)] if ndim == 2 else [(0, 1), (0, 2), (1, 2)]
    for k, (i, j) in enumerate(planes):
        c, s = torch.cos(angles[:, k]), torch.sin(angles[:, k])
        plane = torch.eye(ndim, dtype=torch.float64).repeat(batch, 1, 1)
        plane[:, i, i], plane[:, i, j], plane[:, j, i], plane[:, j, j] = c, -s, s, c
        matrix = plane @ matrix
    return matrix


def random_affine(size, *, batch=1, rotation=10.0, translation=5.0, scale=0.1, shear=0.05, spacing=None,
                  seed=None, device=None, dtype=torch.float32):
    """A random affine map about the image centre: ``y = A (x − c) + c + t`` in voxel coordinates.

    ``A = R · S · H`` is built in millimetres (so that a rotation stays a rotation
    on an anisotropic grid) and converted to voxels: ``A_vox = D⁻¹ A_mm D`` with
    ``D = diag(spacing)``. ``R`` rotates by angles uniform in ``±rotation`` degrees
    (one plane in 2D, three in 3D), ``S`` scales each axis by ``1 + U(±scale)``,
    ``H`` shears by ``U(±shear)`` above the diagonal, and ``t`` is uniform in
    ``±translation`` voxels per axis. ``c = (size − 1) / 2`` is the centre.

    Args:
        size: spatial shape ``(H, W)`` or ``(D, H, W)`` of the fixed image.
        batch: how many maps.
        rotation: largest angle per plane, degrees.
        translation: largest shift per axis, voxels.
        scale: largest relative scaling per axis (0.1 = ±10 %).
        shear: largest shear factor.
        spacing: voxel size per axis (mm), or None for isotropic voxels.
        seed: int, ``torch.Generator`` or None.
        device, dtype: of the results.

    Returns:
        :class:`RandomAffine` ``(matrix, inverse_matrix, displacement, inverse)``.

    Raises:
        ValueError: a bad size, a negative range, or a spacing of the wrong length.

    Example:
        >>> sample = random_affine((32, 32), seed=0)
        >>> sample.matrix.shape, sample.displacement.shape
        (torch.Size([1, 2, 3]), torch.Size([1, 2, 32, 32]))
        >>> sample.matrix.round(decimals=2)        # [A | t], voxels
        tensor([[[ 1.0300, -0.1500,  0.3600],
                 [ 0.1700,  0.9800, -1.5300]]])
    """
    size = _check_size("random_affine", size)
    _check_nonnegative("random_affine", rotation=rotation, translation=translation, scale=scale, shear=shear)
    if scale >= 1:
        raise ValueError(f"random_affine(): expected `scale` < 1 (a factor 1 ± scale must stay positive), got {scale}.")
    ndim = len(size)
    spacing = torch.ones(ndim, dtype=torch.float64) if spacing is None else torch.tensor(spacing, dtype=torch.float64)
    if spacing.shape != (ndim,) or (spacing <= 0).any():
        raise ValueError(f"random_affine(): expected `spacing` of {ndim} positive numbers, got {spacing.tolist()}.")
    generator = _generator(seed)
    planes = 1 if ndim == 2 else 3
    angles = _uniform((batch, planes), -rotation, rotation, generator) * math.pi / 180
    scales = 1 + _uniform((batch, ndim), -scale, scale, generator)
    shears = torch.triu(_uniform((batch, ndim, ndim), -shear, shear, generator), diagonal=1)
    shifts = _uniform((batch, ndim), -translation, translation, generator)
    linear_mm = _rotation(angles, ndim) @ torch.diag_embed(scales) @ (torch.eye(ndim, dtype=torch.float64) + shears)
    linear = torch.diag(1 / spacing) @ linear_mm @ torch.diag(spacing)                   # (B, ndim, ndim) in voxels
    centre = (torch.tensor(size, dtype=torch.float64) - 1) / 2
    offset = centre + shifts - (linear @ centre[:, None])[..., 0]                          # t' = c + t − A c
    matrix = torch.cat([linear, offset[..., None]], dim=2)
    inverse_linear = torch.linalg.inv(linear)
    inverse_matrix = torch.cat([inverse_linear, -(inverse_linear @ offset[..., None])], dim=2)
    matrix, inverse_matrix = matrix.to(device=device, dtype=dtype), inverse_matrix.to(device=device, dtype=dtype)
    return RandomAffine(matrix, inverse_matrix, affine_to_displacement(matrix, size),
                        affine_to_displacement(inverse_matrix, size))


def random_rigid(size, *, batch=1, rotation=10.0, translation=5.0, spacing=None, seed=None, device=None,
                 dtype=torch.float32):
    """A random rigid map (rotation about the centre, then translation) in voxel coordinates.

    The same as :func:`random_affine` with ``scale=0`` and ``shear=0``; with an
    anisotropic ``spacing`` the map is rigid in millimetres, not in voxels.

    Example:
        >>> m = random_rigid((20, 30), seed=1).matrix[0, :, :2]
        >>> torch.allclose(m @ m.T, torch.eye(2), atol=1e-6)   # a rotation: orthogonal
        True
    """
    return random_affine(size, batch=batch, rotation=rotation, translation=translation, scale=0.0, shear=0.0,
                         spacing=spacing, seed=seed, device=device, dtype=dtype)


# ---------------------------------------------------------------- deformations


def _border_taper(size, width, *, device):
    """``(1, 1, *size)`` weights rising smoothly from 0 on the border to 1 at ``width`` voxels inside.

    A velocity that vanishes on the border moves no point out of the image, so the
    deformation and its inverse are both defined everywhere on the grid.
    """
    taper = torch.ones(1, 1, *size, dtype=torch.float64, device=device)
    for axis, n in enumerate(size):
        x = torch.arange(n, dtype=torch.float64, device=device)
        distance = torch.minimum(x, n - 1 - x) / min(width, (n - 1) / 2)      # 0 on the border, >= 1 inside
        ramp = torch.sin(0.5 * math.pi * distance.clamp(0, 1)) ** 2           # smooth 0 -> 1
        shape = [1] * len(size)
        shape[axis] = n
        taper = taper * ramp.reshape(1, 1, *shape)
    return taper


def random_velocity(size, *, batch=1, magnitude=2.0, smoothness=8.0, seed=None, device=None, dtype=torch.float32):
    """A smooth random stationary velocity field, scaled so that its longest vector is ``magnitude`` voxels.

    White Gaussian noise, smoothed with a Gaussian of ``smoothness`` voxels per
    component, then multiplied so that ``max_x |v(x)| = magnitude`` in each batch
    element. Larger ``smoothness`` gives broader, gentler deformations; the
    largest derivative is roughly ``magnitude / smoothness``.

    Args:
        size: spatial shape ``(H, W)`` or ``(D, H, W)``.
        batch: how many fields.
        magnitude: the longest velocity vector, in voxels (0 gives a zero field).
        smoothness: standard deviation of the Gaussian smoothing, in voxels (> 0).
        seed, device, dtype: as in :func:`random_affine`.

    Returns:
        Tensor ``(B, ndim, *size)`` in voxels.

    Example:
        >>> v = random_velocity((40, 50), magnitude=3.0, seed=0)
        >>> v.shape, round(v.norm(dim=1).max().item(), 4)
        (torch.Size([1, 2, 40, 50]), 3.0)
    """
    size = _check_size("random_velocity", size)
    _check_nonnegative("random_velocity", magnitude=magnitude, smoothness=smoothness)
    if smoothness <= 0:
        raise ValueError(f"random_velocity(): expected `smoothness` > 0 voxels, got {smoothness}.")
    generator = _generator(seed)
    # computed in float64 on the default device (the CPU; some accelerators have no float64), then moved
    noise = _smooth_noise(batch, len(size), size, smoothness, generator, device=None, dtype=torch.float64)
    noise = noise * _border_taper(size, smoothness, device=None)
    longest = noise.norm(dim=1).flatten(1).amax(dim=1).clamp_min(1e-12)
    velocity = noise * (magnitude / longest).reshape(batch, *[1] * (len(size) + 1))
    return velocity.to(device=device, dtype=dtype)


class Deformation(NamedTuple):
    """What :func:`random_deformation` returns."""

    displacement: torch.Tensor
    """``(B, ndim, *size)`` ``u = exp(v)``: fixed-image point ``x`` → moving-image point ``x + u(x)``."""
    inverse: torch.Tensor
    """``(B, ndim, *size)`` ``exp(−v)``: ``compose(u, inverse) ≈ 0`` and ``warp(fixed, inverse)`` makes a moving image."""
    velocity: torch.Tensor
    """``(B, ndim, *size)`` the stationary velocity field ``v``."""


def random_deformation(size, *, batch=1, magnitude=2.0, smoothness=8.0, steps=7, downsample=1, seed=None,
                       device=None, dtype=torch.float32):
    """A random diffeomorphism and its inverse: ``u = exp(v)``, ``inverse = exp(−v)``.

    The velocity comes from :func:`random_velocity`; scaling and squaring
    (:func:`reglab.fields.integrate_velocity`) turns it into a displacement
    without folding, and the same with ``−v`` gives the inverse, so
    ``compose(u, inverse)`` is zero up to interpolation error.

    Args:
        size, batch, magnitude, smoothness, seed, device, dtype: as in :func:`random_velocity`.
        steps: scaling-and-squaring steps.
        downsample: integrate on a grid this many times coarser and resize the
            result (:func:`reglab.fields.resize_displacement`): 8 times faster in 3D
            with 2, and accurate while ``smoothness`` is several coarse voxels.

    Returns:
        :class:`Deformation` ``(displacement, inverse, velocity)``, all on the full grid.

    Example:
        >>> from reglab.fields import compose
        >>> d = random_deformation((48, 48), magnitude=4.0, seed=0)
        >>> bool(compose(d.displacement, d.inverse).norm(dim=1).max() < 0.2)   # voxels
        True
    """
    size = _check_size("random_deformation", size)
    if not isinstance(downsample, int) or downsample < 1:
        raise ValueError(f"random_deformation(): expected `downsample` to be an int >= 1, got {downsample!r}.")
    coarse = [math.ceil((n - 1) / downsample) + 1 for n in size]
    velocity = random_velocity(coarse, batch=batch, magnitude=magnitude / downsample, smoothness=smoothness / downsample,
                               seed=seed, device=device, dtype=dtype)
    forward, backward = integrate_velocity(velocity, steps=steps), integrate_velocity(-velocity, steps=steps)
    if downsample > 1:
        velocity, forward, backward = (resize_displacement(field, size) for field in (velocity, forward, backward))
    return Deformation(forward, backward, velocity)
