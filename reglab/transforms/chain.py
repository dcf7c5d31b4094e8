"""Chaining transformation models: rigid → affine → B-spline as one transformation.

``Chain(t1, t2, t3)`` is the composition ``y = y1 ∘ y2 ∘ y3``: a fixed-image point
goes through the **last** model first, ``y(x) = y1(y2(y3(x)))``, as in ITK's
``CompositeTransform`` (the transform added last acts first). This is the order
of a coarse-to-fine registration: after a rigid ``y1`` aligns the images, an
affine ``y2`` is estimated between the fixed image and the rigidly warped moving
image, so it acts on fixed points *before* ``y1``; a B-spline ``y3`` estimated
last acts first. Write ``Chain(rigid, affine, bspline)``.

The displacement is built from the last model outwards: each linear model
(rigid, affine) is *evaluated* at the points mapped so far, ``A (x + u(x)) + t``,
which is exact everywhere, also where the points leave the grid; any other model
is composed with :func:`reglab.fields.compose` (its field interpolated linearly
between voxels, border values outside). So a chain of linear models with one
deformable model last, the result of a rigid → affine → B-spline registration, is
exact at every voxel and agrees with its ITK ``CompositeTransform``.
:meth:`Chain.transform_points` applies the models one after the other, exactly.

Lab 02 ("Transformation models") uses this module.
"""

import torch
from torch import nn

from reglab.fields import compose
from reglab.grid import identity_grid
from reglab.transforms.base import LinearTransform, Transform


def _map_linear(transform, displacement):
    """The displacement of ``transform ∘ (id + displacement)`` for a linear model, evaluated exactly.

    ``displacement`` ``(B, ndim, *size)`` lives on a grid over the model's field of view (its own grid or a
    pyramid level, first and last voxel centres shared); points are taken to the model's voxels, mapped by
    ``[A | t]`` and brought back.
    """
    size = displacement.shape[2:]
    ndim = len(size)
    scale = torch.tensor([(n - 1) / max(m - 1, 1) for n, m in zip(transform.size, size)],
                         device=displacement.device, dtype=displacement.dtype).reshape(1, ndim, *([1] * ndim))
    x = identity_grid(size, device=displacement.device, dtype=displacement.dtype)      # (1, ndim, *size)
    points = (x + displacement) * scale                                                # model voxels
    matrix = transform.matrix().to(displacement.dtype)                                 # (B, ndim, ndim + 1)
    mapped = torch.einsum("bij,bj...->bi...", matrix[:, :, :-1], points) + matrix[:, :, -1].reshape(
        -1, ndim, *([1] * ndim))
    return mapped / scale - x


class Chain(Transform):
    """The composition ``y1 ∘ y2 ∘ … ∘ yn`` of models on the same grid (the last one acts first).

    Args:
        *transforms: models with the same ``size`` and ``batch``.

    Raises:
        ValueError: no models, or models on different grids or batch sizes.

    Example:
        >>> from reglab.transforms import Affine, BSpline, Rigid
        >>> size = (32, 32)
        >>> chain = Chain(Rigid(size), Affine(size), BSpline(size, spacing=8))
        >>> chain.num_parameters, chain().shape          # 3 + 6 + 2 · 7 · 7
        (107, torch.Size([1, 2, 32, 32]))
    """

    def __init__(self, *transforms):
        if not transforms or not all(isinstance(t, Transform) for t in transforms):
            raise ValueError(f"Chain(): expected one or more reglab transforms, got {[type(t).__name__ for t in transforms]}.")
        first = transforms[0]
        super().__init__(first.size, batch=first.batch)
        for t in transforms:
            if t.size != first.size or t.batch != first.batch:
                raise ValueError(
                    f"Chain(): expected models on the same grid and batch, got size {t.size} batch {t.batch} "
                    f"and size {first.size} batch {first.batch}."
                )
        self.transforms = nn.ModuleList(transforms)

    def forward(self, size=None):
        """The displacement of ``y1 ∘ … ∘ yn`` on the grid ``size`` (default: the models' own), ``(B, ndim, *size)``.

        Linear models are evaluated at the mapped points (exact); other models are composed,
        ``compose(u_k, ·)`` (interpolated).
        """
        displacement = self.transforms[-1](size)
        for transform in reversed(self.transforms[:-1]):
            if isinstance(transform, LinearTransform):
                displacement = _map_linear(transform, displacement)
            else:
                displacement = compose(transform(size), displacement)
        return displacement

    def displacement(self):
        return self.forward()

    def transform_points(self, points):
        points = self.check_points(points)
        for transform in reversed(self.transforms):
            points = transform.transform_points(points)
        return points
