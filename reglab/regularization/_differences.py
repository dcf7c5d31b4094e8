"""Shared by the penalties: validation, units, reductions and the cell-centred first derivatives.

Private: :mod:`reglab.regularization.first_order`, :mod:`~reglab.regularization.second_order` and
:mod:`~reglab.regularization.folding` use these; students call the penalties.

**Stencils and borders** (no padding anywhere, every difference lies inside the grid):

* first derivatives for ``diffusion``: forward differences ``u[i+1] - u[i]``,
  each term averaged over the ``n - 1`` positions where it exists;
* first derivatives for ``elastic`` and ``folding_penalty``: at the centres of
  the grid cells (``(n - 1)`` per axis), the forward difference averaged over
  the cell's other axes, so all ``∂u_j/∂x_k`` sit at the same point (the
  gradient of a bi/trilinear finite element; :func:`_cell_jacobian` below);
* second derivatives: ``u[i-1] - 2u[i] + u[i+1]`` on the ``n - 2`` inner positions
  along the axis, and mixed ones as the 2 × 2 cross difference at cell
  centres; ``curvature`` sums the pure ones on the inner voxels.

All of them are exact for polynomials of degree 1 (first derivatives) or 2
(second derivatives), so analytic fields give analytic values.

**Units**: with ``spacing`` (voxel size in mm, axis order) :func:`_prepare` turns the field
into mm and :func:`_per` divides by the voxel sizes: first-order penalties are unitless,
second-order ones in 1/mm². Without it everything is in voxels.

Lab 04.
"""

import torch

from reglab.validation import check_choice, check_displacement, check_spacing

REDUCTIONS = ("mean", "sum", "none")
"""The ``reduction=`` choices of every penalty: over the batch, or ``"none"`` for ``(B,)``."""


def _prepare(fn, displacement, spacing, reduction, order):
    """Validate; return ``ndim``, the field in mm (``u_j · s_j``) and the spacing tensor (in voxels: the field, None)."""
    ndim = check_displacement(fn, "displacement", displacement)
    check_choice(fn, "reduction", reduction, REDUCTIONS)
    small = [n for n in displacement.shape[2:] if n < order + 1]
    if small:
        raise ValueError(
            f"{fn}(): expected at least {order + 1} voxels along every axis for its finite differences, "
            f"got spatial shape {tuple(displacement.shape[2:])}."
        )
    if spacing is None:                                                 # voxel units: nothing to scale
        return ndim, displacement, None
    s = check_spacing(fn, spacing, ndim, displacement)
    return ndim, displacement * s.reshape(1, ndim, *([1] * ndim)), s


def _per(values, s, *axes):
    """``values`` divided by the voxel sizes along ``axes`` (unchanged in voxel units, ``s`` None)."""
    if s is None:
        return values
    for axis in axes:
        values = values / s[axis]
    return values


def _reduce(per_sample, reduction):
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def _cell_gradient(field, axis):
    """``∂field/∂x_axis`` at the cell centres: forward difference along ``axis``, averaged over the other axes."""
    derivative = field.diff(dim=axis + 2)
    for other in range(field.dim() - 2):
        if other != axis:
            d = other + 2
            derivative = (derivative.narrow(d, 0, derivative.shape[d] - 1) + derivative.narrow(d, 1, derivative.shape[d] - 1)) / 2
    return derivative


def _cell_jacobian(field, s):
    """``∇u`` at cell centres: ``(B, ndim, ndim, *(n - 1))``, entry ``(j, k) = ∂u_j/∂x_k``, in mm when ``s`` is the spacing."""
    columns = [_per(_cell_gradient(field, k), s, k) for k in range(field.shape[1])]
    return torch.stack(columns, dim=2)
