"""Cubic B-spline free-form deformation (FFD): 2 (3) parameters per control point.

A regular grid of control points, ``δ`` voxels apart along every axis, each with
its own displacement ``φ`` (in voxels). The displacement at a voxel ``x`` is a
smooth blend of the 4 × 4 (× 4) control points around it (Rueckert et al. 1999)::

    u(x) = Σ_l Σ_m [Σ_n]  B_l(u) B_m(v) [B_n(w)]  φ_{i-1+l, j-1+m[, k-1+n]},    l, m, n = 0 … 3

with ``i = ⌊x_0/δ⌋``, ``u = x_0/δ - i`` (likewise ``j, v`` on axis 1 and ``k, w`` on
axis 2) and the uniform cubic B-spline basis::

    B_0(u) = (1 - u)³ / 6                  B_2(u) = (-3u³ + 3u² + 3u + 1) / 6
    B_1(u) = (3u³ - 6u² + 4) / 6           B_3(u) = u³ / 6

The four weights are ≥ 0 and sum to 1 (a *partition of unity*): moving every control
point by the same vector translates the image. **Erratum**: the lecture numbers the
basis ``B_1 … B_4`` and the control points ``i+1 … i+4``; the neighbourhood of ``x``
is ``i-1 … i+2``.

**Control grid.** Control point ``c`` of an axis sits at voxel ``c·δ``, for
``c = -1 … ⌊(n-1)/δ⌋ + 2``: ``⌊(n-1)/δ⌋ + 4`` points, one ring more than the image on
each side so that every voxel has its 4 neighbours. The tensor ``control`` stores
point ``c`` at index ``c + 1``. This is exactly ITK's ``BSplineTransform`` with the
transform domain starting at voxel 0 and a mesh of ``⌊(n-1)/δ⌋ + 1`` cells of size
``δ``; the export (:mod:`reglab.transforms.itk_export`) adds one cell of zero control
points on each side, so that rounding never puts a border voxel outside ITK's domain.

**Evaluation without loops over voxels.** On the grid, every interval
``[iδ, (i+1)δ)`` of an axis is a weighted sum of the same 4 control points with the
same weights ``B_l(r/δ)``, ``r = 0 … δ-1``: a ``(4, δ)`` table. So one axis at a time,
take every window of 4 consecutive control points (``unfold``) and multiply by the
table: a separable transposed convolution with stride ``δ``. On another grid over the
same field of view (a pyramid level) the evaluation stays separable: per axis, a
``(m, K)`` matrix holds the four weights of each of the ``m`` voxels, and the control
points are multiplied by it one axis at a time. At arbitrary points, the 4^d
neighbours are gathered by index.

Lab 02 ("Transformation models") uses this module.

References:
    D. Rueckert et al., "Nonrigid registration using free-form deformations: application to
    breast MR images", IEEE TMI 18(8), 1999.
"""

import torch
from torch import nn

from reglab.transforms.base import Transform
from reglab.validation import check_points, check_tensor


def bspline_basis(u):
    """The uniform cubic B-spline basis ``(B_0(u), B_1(u), B_2(u), B_3(u))``.

    Args:
        u: tensor of any shape with values in ``[0, 1)``.

    Returns:
        Tensor ``(*u.shape, 4)``; the four values sum to 1.

    Example:
        >>> bspline_basis(torch.tensor([0.0, 0.5]))
        tensor([[0.1667, 0.6667, 0.1667, 0.0000],
                [0.0208, 0.4792, 0.4792, 0.0208]])
    """
    check_tensor("bspline_basis", "u", u)
    u2, u3 = u * u, u * u * u
    return torch.stack([
        (1 - u) ** 3 / 6,
        (3 * u3 - 6 * u2 + 4) / 6,
        (-3 * u3 + 3 * u2 + 3 * u + 1) / 6,
        u3 / 6,
    ], dim=-1)


def control_grid_size(size, spacing):
    """The number of control points per axis, ``⌊(n - 1)/δ⌋ + 4``, for a grid ``size`` and spacing ``δ``.

    Example:
        >>> control_grid_size((64, 50), (8, 5))
        (11, 13)
    """
    return tuple((n - 1) // d + 4 for n, d in zip(size, spacing))


def _check_spacing(fn, spacing, ndim):
    """``spacing`` as a tuple of ``ndim`` positive ints (one int is used for every axis)."""
    spacing = (spacing,) * ndim if isinstance(spacing, (int, float)) else tuple(spacing)
    if len(spacing) != ndim or not all(isinstance(d, int) and d >= 1 for d in spacing):
        raise ValueError(f"{fn}(): expected `spacing` = a positive int or {ndim} positive ints (voxels), got {spacing!r}.")
    return spacing


def _check_control(fn, control):
    """Check ``control`` ``(B, ndim, *K)``; return ``ndim``."""
    check_tensor(fn, "control", control)
    ndim = control.dim() - 2
    if ndim not in (2, 3) or control.shape[1] != ndim or not control.is_floating_point():
        raise ValueError(
            f"{fn}(): expected floating-point `control` of shape (B, ndim, *control_grid) with ndim = 2 or 3, "
            f"got {tuple(control.shape)} ({control.dtype})."
        )
    if min(control.shape[2:]) < 4:
        raise ValueError(f"{fn}(): expected at least 4 control points per axis, got {tuple(control.shape[2:])}.")
    return ndim


def bspline_displacement(control, size, spacing):
    """The FFD displacement on a voxel grid: separable, one axis at a time.

    Args:
        control: ``(B, ndim, *K)`` control-point displacements in voxels, ``K =
            control_grid_size(size, spacing)`` (more points are ignored).
        size: spatial shape of the grid.
        spacing: control-point spacing ``δ`` in voxels (int or one int per axis).

    Returns:
        Tensor ``(B, ndim, *size)`` in voxels.

    Example:
        >>> control = torch.zeros(1, 2, 6, 6); control[:, 0, 2, 2] = 9.0   # one control point, at voxel (3, 3)
        >>> bspline_displacement(control, (7, 7), 3)[0, 0, 3]
        tensor([1.0000, 2.2222, 3.4444, 4.0000, 3.4444, 2.2222, 1.0000])
    """
    ndim = _check_control("bspline_displacement", control)
    spacing = _check_spacing("bspline_displacement", spacing, ndim)
    size = tuple(int(n) for n in size)
    needed = control_grid_size(size, spacing)
    if len(size) != ndim or any(k < m for k, m in zip(control.shape[2:], needed)):
        raise ValueError(
            f"bspline_displacement(): expected `control` with at least {needed} points for size {size} "
            f"and spacing {spacing}, got {tuple(control.shape[2:])}."
        )
    field = control
    for axis, (n, d) in enumerate(zip(size, spacing)):
        field = _interpolate_axis(field, axis + 2, n, d)
    return field


def _interpolate_axis(field, dim, n, spacing):
    """Evaluate the spline along tensor dimension ``dim``: control points → ``n`` voxels."""
    r = torch.arange(spacing, device=field.device, dtype=field.dtype) / spacing
    table = bspline_basis(r).T                                       # (4, δ): weight of neighbour l at offset r
    cells = (n - 1) // spacing + 1                                   # intervals [iδ, (i+1)δ) that the grid touches
    windows = field.narrow(dim, 0, cells + 3).unfold(dim, 4, 1)      # (..., cells, ..., 4): points i-1 … i+2
    values = windows @ table                                         # (..., cells, ..., δ)
    values = values.movedim(-1, dim + 1).flatten(dim, dim + 1)       # (..., cells · δ, ...)
    return values.narrow(dim, 0, n)


def bspline_matrix(positions, spacing, count):
    """The ``(m, K)`` matrix of B-spline weights: row ``i`` blends the 4 control points around ``positions[i]``.

    Args:
        positions: ``(m,)`` voxel coordinates along one axis.
        spacing: the control spacing ``δ`` of that axis, in voxels.
        count: the number ``K`` of control points of that axis (stored index ``c + 1`` for point ``c``).

    Returns:
        Tensor ``(m, K)``; each row holds ``B_0 … B_3`` at the stored indices ``i … i + 3``
        (``i = ⌊x/δ⌋``); points off the control grid count as zero.

    Example:
        >>> bspline_matrix(torch.tensor([0.0, 1.5]), 3, 5)
        tensor([[0.1667, 0.6667, 0.1667, 0.0000, 0.0000],
                [0.0208, 0.4792, 0.4792, 0.0208, 0.0000]])
    """
    t = positions / spacing
    cell = t.floor()
    neighbour = cell.long()[:, None] + torch.arange(4, device=positions.device)    # (m, 4) stored indices
    inside = (neighbour >= 0) & (neighbour < count)
    weights = bspline_basis(t - cell) * inside                                     # (m, 4)
    matrix = torch.zeros(len(positions), count, device=positions.device, dtype=positions.dtype)
    return matrix.scatter_add_(1, neighbour.clamp(0, count - 1), weights)


def bspline_resampled(control, size, spacing, scale):
    """The FFD displacement at the voxels ``x · scale`` of another grid ``size``, separably, one axis at a time.

    Args:
        control: ``(B, ndim, *K)`` control-point displacements in voxels of the model's grid.
        size: spatial shape of the other grid.
        spacing: control spacing ``δ`` in voxels of the model's grid.
        scale: per axis, the model's voxels per voxel of the other grid (``(n - 1) / (m - 1)``).

    Returns:
        Tensor ``(B, ndim, *size)``: ``u(x · scale)``, still in voxels of the model's grid.

    Example:
        >>> control = torch.randn(1, 2, 8, 8)
        >>> fine = bspline_displacement(control, (17, 17), 4)
        >>> torch.allclose(bspline_resampled(control, (9, 9), 4, (2.0, 2.0)), fine[:, :, ::2, ::2], atol=1e-5)
        True
    """
    ndim = _check_control("bspline_resampled", control)
    spacing = _check_spacing("bspline_resampled", spacing, ndim)
    field = control
    for axis, (m, d, s) in enumerate(zip(size, spacing, scale)):
        positions = torch.arange(m, device=control.device, dtype=torch.float64) * s
        matrix = bspline_matrix(positions, d, control.shape[axis + 2]).to(control.dtype)   # (m, K)
        field = (field.movedim(axis + 2, -1) @ matrix.T).movedim(-1, axis + 2)             # K → m on this axis
    return field


def bspline_points(control, points, spacing):
    """The FFD displacement at arbitrary points, by gathering their 4^d neighbouring control points.

    Control points outside the grid count as zero (as in ITK), so far outside the
    image the displacement fades to 0.

    Args:
        control: ``(B, ndim, *K)`` control-point displacements in voxels.
        points: ``(B, N, ndim)`` voxel coordinates, axis order.
        spacing: control-point spacing in voxels.

    Returns:
        Tensor ``(B, N, ndim)``: ``u`` at the points, in voxels.

    Example:
        >>> control = torch.zeros(1, 2, 6, 6); control[:, 0, 2, 2] = 9.0
        >>> bspline_points(control, torch.tensor([[[3.0, 3.0], [3.0, 4.5]]]), 3)
        tensor([[[4.0000, 0.0000],
                 [2.8750, 0.0000]]])
    """
    ndim = _check_control("bspline_points", control)
    check_points("bspline_points", "points", points, ndim)
    spacing = _check_spacing("bspline_points", spacing, ndim)
    grid = control.shape[2:]
    strides = [int(torch.tensor(grid[a + 1:]).prod()) for a in range(ndim)]
    offsets = torch.arange(4, device=points.device)
    index = torch.zeros((), dtype=torch.long, device=points.device)
    weight = torch.ones((), dtype=control.dtype, device=points.device)
    for axis in range(ndim):
        t = points[..., axis].to(control.dtype) / spacing[axis]
        cell = t.floor()
        neighbour = cell.long()[..., None] + offsets                 # (B, N, 4): stored index of points i-1 … i+2
        inside = (neighbour >= 0) & (neighbour < grid[axis])
        w = bspline_basis(t - cell) * inside                         # (B, N, 4), zero outside the control grid
        shape = [1] * ndim
        shape[axis] = 4                                              # broadcast to (B, N, 4, 4[, 4])
        index = index + (neighbour.clamp(0, grid[axis] - 1) * strides[axis]).reshape(*t.shape, *shape)
        weight = weight * w.reshape(*t.shape, *shape)
    batch, count = points.shape[:2]
    index = index.reshape(batch, 1, -1).expand(-1, ndim, -1)         # (B, ndim, N · 4^d)
    gathered = control.flatten(2).expand(batch, -1, -1).gather(2, index).reshape(batch, ndim, count, -1)
    return (gathered * weight.reshape(batch, 1, count, -1)).sum(-1).transpose(1, 2)


class BSpline(Transform):
    """Cubic B-spline FFD model: Θ = the control-point displacements ``φ``, ndim × (number of control points).

    Args:
        size: spatial shape of the fixed grid.
        spacing: control-point spacing ``δ`` in voxels (int, or one int per axis).
        control: initial ``(B, ndim, *K)`` control displacements in voxels (default 0: the identity).
        batch: number of independent transforms.

    The parameter ``control`` is in voxels, like translations, so no rescaling is needed.

    Example:
        >>> model = BSpline((64, 64), spacing=8)
        >>> model.control.shape, model.num_parameters, model().abs().max().item()
        (torch.Size([1, 2, 11, 11]), 242, 0.0)
    """

    def __init__(self, size, *, spacing=5, control=None, batch=1):
        super().__init__(size, batch=batch)
        self.spacing = _check_spacing("BSpline", spacing, self.ndim)
        shape = (batch, self.ndim, *control_grid_size(self.size, self.spacing))
        if control is None:
            control = torch.zeros(shape)
        elif not isinstance(control, torch.Tensor) or tuple(control.shape) != shape:
            got = tuple(control.shape) if isinstance(control, torch.Tensor) else type(control).__name__
            raise ValueError(f"BSpline(): expected `control` of shape {shape}, got {got}.")
        control = control if control.is_floating_point() else control.float()        # a float64 mesh stays float64
        self.control = nn.Parameter(control.detach().clone())

    def displacement(self):
        return bspline_displacement(self.control, self.size, self.spacing)

    def resampled_displacement(self, size):
        """On another grid over the same field of view: separable (:func:`bspline_resampled`), in its voxels."""
        scale = [(n - 1) / max(m - 1, 1) for n, m in zip(self.size, size)]
        field = bspline_resampled(self.control, size, self.spacing, scale)
        return field / torch.tensor(scale, device=field.device, dtype=field.dtype).reshape(1, -1, *[1] * self.ndim)

    def transform_points(self, points):
        points = self.check_points(points)
        chunks = [bspline_points(self.control, chunk, self.spacing) for chunk in points.split(2**16, dim=1)]
        return points + torch.cat(chunks, dim=1).to(points.dtype)

    def control_positions(self):
        """``(ndim, *K)`` the voxel coordinates of the control points (``c·δ``, ``c = -1, 0, …``), for plotting."""
        axes = [(torch.arange(k, dtype=torch.float32) - 1) * d for k, d in zip(self.control.shape[2:], self.spacing)]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"))
