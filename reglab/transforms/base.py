"""What every transformation model shares: a grid, parameters Θ, a displacement.

A model ``T`` with parameters ``Θ`` (the lecture's ``T(M, Θ)``) is an
``nn.Module`` that lives on the voxel grid of the fixed image (``size``) and
describes the map ``y(x) = x + u(x)`` from fixed voxels to moving voxels
(tensor axis order, see :mod:`reglab.grid`):

* ``model()`` returns the displacement ``u`` ``(B, ndim, *size)`` in voxels, ready for
  ``reglab.warp(moving, model())``; ``model(size=other)`` evaluates the same map on
  another grid covering the same field of view (a pyramid level);
* ``model.transform_points(points)`` maps points ``(B, N, ndim)`` exactly;
* ``model.num_parameters`` is the lecture's parameter count per image pair;
* every model starts at the identity (``u = 0``).

**Parameter scaling.** An optimizer takes one step size for all parameters, but a
rotation of 0.01 rad and a translation of 0.01 voxel are very different moves.
reglab stores every parameter in *voxels of motion*: a rotation is stored as the
arc length it moves a point at distance ``radius`` from the centre, and the linear
part of an affine map as the displacement it gives at that distance::

    angle (rad) = stored / radius          A = I + stored / radius

with ``radius`` = half the diagonal of the grid in voxels (the farthest a voxel can
be from the centre). So a unit step of any stored parameter moves the image
border by about one voxel, whatever the parameter. The lecture's values are
read back in their own units (``angles``, ``quaternion``, ``matrix()``).

Lab 02 ("Transformation models") uses this module.
"""

import math

import torch
from torch import nn

from reglab.fields import affine_to_displacement
from reglab.grid import identity_grid
from reglab.validation import check_points


def check_size(fn, size):
    """Return ``size`` as a tuple of 2 or 3 positive ints, or raise ``TypeError``/``ValueError``.

    Example:
        >>> check_size("Rigid", torch.Size([64, 48]))
        (64, 48)
    """
    try:
        size = tuple(int(n) for n in size)
    except TypeError:
        raise TypeError(f"{fn}(): expected `size` to be a tuple of 2 or 3 ints, got {size!r}.") from None
    if len(size) not in (2, 3) or min(size) < 1:
        raise ValueError(
            f"{fn}(): expected `size` = (H, W) or (D, H, W) of positive ints, got {size}. "
            "Hint: pass the spatial shape image.shape[2:], not the full image shape."
        )
    return size


def check_center(fn, center, size):
    """The rotation centre as a float64 tensor ``(ndim,)``: the image centre ``(n - 1) / 2`` by default.

    Example:
        >>> check_center("Rigid", None, (64, 49))
        tensor([31.5000, 24.0000], dtype=torch.float64)
    """
    if center is None:
        return torch.tensor([(n - 1) / 2 for n in size], dtype=torch.float64)
    center = torch.as_tensor(center, dtype=torch.float64).flatten()
    if center.numel() != len(size):
        raise ValueError(f"{fn}(): expected `center` with {len(size)} voxel coordinates, got {center.tolist()}.")
    return center


def check_batch(fn, batch):
    """Raise ``ValueError`` unless ``batch`` is a positive int."""
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"{fn}(): expected `batch` to be a positive int, got {batch!r}.")


def lever_radius(size):
    """Half the grid diagonal in voxels: the distance that converts angles to voxels of motion.

    Example:
        >>> lever_radius((7, 9))   # sqrt(6**2 + 8**2) / 2
        5.0
    """
    return 0.5 * math.sqrt(sum((n - 1) ** 2 for n in size)) or 1.0


class Transform(nn.Module):
    """Base class of the transformation models: a map ``y(x) = x + u(x)`` on the grid ``size``.

    Subclasses define ``transform_points(points)``: fixed-grid points ``(B, N, ndim)``
    (voxels, axis order) → their images ``y(x)`` in the moving image; they may
    override :meth:`displacement` with a faster evaluation on their own grid.

    Args:
        size: spatial shape ``(H, W)`` or ``(D, H, W)`` of the fixed grid.
        batch: how many independent transforms (one per image pair) the module holds.

    Example:
        >>> from reglab.transforms import Affine
        >>> model = Affine((9, 9), translation=torch.tensor([[2.0, 0.0]]))
        >>> model()[0, :, 0, 0], model((17, 17))[0, :, 0, 0]     # 2 voxels = 4 voxels of a twice finer grid
        (tensor([2., 0.], grad_fn=<SelectBackward0>), tensor([4., 0.], grad_fn=<SelectBackward0>))
    """

    def __init__(self, size, *, batch=1):
        super().__init__()
        name = type(self).__name__
        self.size = check_size(name, size)
        check_batch(name, batch)
        self.ndim = len(self.size)
        self.batch = batch

    @property
    def num_parameters(self):
        """The lecture's parameter count: the number of entries of Θ per image pair (per batch element)."""
        return sum(p.numel() for p in self.parameters()) // self.batch

    def forward(self, size=None):
        """The displacement ``u`` ``(B, ndim, *size)`` in voxels of the grid ``size`` (default: the model's own).

        On another grid covering the same field of view (first and last voxel
        centres at the same places, as in :func:`reglab.fields.resize_displacement`)
        the map is evaluated at the corresponding points and expressed in that grid's voxels.
        """
        if size is None or tuple(size) == self.size:
            return self.displacement()
        size = check_size(type(self).__name__, size)
        if len(size) != self.ndim:
            raise ValueError(f"{type(self).__name__}(): expected a {self.ndim}D `size`, got {size}.")
        return self.resampled_displacement(size)

    def resampled_displacement(self, size):
        """The displacement on another grid ``size`` over the same field of view, in that grid's voxels.

        Every voxel is mapped as a point; models with a faster evaluation on a grid override it.
        """
        reference = self.reference_tensor()
        scale = torch.tensor([(n - 1) / max(m - 1, 1) for n, m in zip(self.size, size)],
                             device=reference.device, dtype=reference.dtype)
        x = identity_grid(size, device=reference.device, dtype=reference.dtype).flatten(2).transpose(1, 2)  # (1, N, ndim)
        y = self.transform_points((x * scale).expand(self.batch, -1, -1)) / scale
        return (y - x).transpose(1, 2).reshape(self.batch, self.ndim, *size)

    def displacement(self):
        """The displacement on the model's own grid, ``(B, ndim, *self.size)``: every voxel mapped as a point."""
        reference = self.reference_tensor()
        x = identity_grid(self.size, device=reference.device, dtype=reference.dtype).flatten(2).transpose(1, 2)
        y = self.transform_points(x.expand(self.batch, -1, -1))
        return (y - x).transpose(1, 2).reshape(self.batch, self.ndim, *self.size)

    def reference_tensor(self):
        """A parameter or buffer whose device and dtype the outputs take."""
        return next(iter(self.parameters()))

    def check_points(self, points):
        """Validate ``points`` ``(B, N, ndim)`` against this model's dimension and batch."""
        name = f"{type(self).__name__}.transform_points"
        check_points(name, "points", points, self.ndim)
        if points.shape[0] not in (1, self.batch):
            raise ValueError(f"{name}(): expected `points` with batch size {self.batch} (or 1), got {points.shape[0]}.")
        return points.expand(self.batch, -1, -1)

    def extra_repr(self):
        return f"size={self.size}, batch={self.batch}, num_parameters={self.num_parameters}"


class LinearTransform(Transform):
    """A model whose map is affine, ``y(x) = A x + t``.

    Subclasses define ``matrix()``: ``(B, ndim, ndim + 1)`` ``[A | t]`` acting on
    voxel coordinates (axis order), with the centre of rotation folded into ``t``.

    Example:
        >>> from reglab.transforms import Rigid
        >>> Rigid((5, 5), translation=torch.tensor([[1.0, 2.0]])).transform_points(torch.zeros(1, 1, 2))
        tensor([[[1., 2.]]], grad_fn=<AddBackward0>)
    """

    def displacement(self):
        return affine_to_displacement(self.matrix(), self.size)

    def transform_points(self, points):
        points = self.check_points(points)
        matrix = self.matrix().to(points.dtype)
        return points @ matrix[:, :, :-1].transpose(1, 2) + matrix[:, None, :, -1]


def about_center(linear, translation, center):
    """``[A | t']`` for ``y = A (x - c) + c + t``: the affine matrix of a map that acts about ``center``.

    Args:
        linear: ``(B, ndim, ndim)`` the matrix ``A``.
        translation: ``(B, ndim)`` the translation ``t`` in voxels.
        center: ``(ndim,)`` the centre ``c`` in voxels.

    Returns:
        Tensor ``(B, ndim, ndim + 1)`` with ``t' = c + t - A c``.

    Example:
        >>> a = torch.tensor([[[0., -1.], [1., 0.]]])          # a quarter turn about (1, 1)
        >>> about_center(a, torch.zeros(1, 2), torch.tensor([1., 1.]))
        tensor([[[ 0., -1.,  2.],
                 [ 1.,  0.,  0.]]])
    """
    center = center.to(linear.dtype)
    offset = center + translation - (linear @ center[:, None])[..., 0]
    return torch.cat([linear, offset[..., None]], dim=-1)


def initial_value(fn, name, value, shape):
    """A float32 tensor of ``shape`` from an initial value (zeros when None), or a ``ValueError``.

    Example:
        >>> initial_value("Rigid", "rotation", 0.5, (2, 1))     # one value for every batch element
        tensor([[0.5000],
                [0.5000]])
    """
    if value is None:
        return torch.zeros(shape)
    value = torch.as_tensor(value, dtype=torch.float32)
    try:
        return value.reshape(-1, *shape[1:]).expand(shape).clone()
    except RuntimeError:
        raise ValueError(f"{fn}(): expected `{name}` of shape {shape}, got {tuple(value.shape)}.") from None
