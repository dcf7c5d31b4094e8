"""Second-order penalties: bending energy and curvature, functions of ``∂²u_j/∂x_k∂x_l``.

==================  ==================================================================  ======================
penalty             formula (mean over the grid)                                        zero for
==================  ==================================================================  ======================
``bending_energy``  ``Σ_j Σ_k Σ_l (∂²u_j/∂x_k∂x_l)²``                                    affine maps
``curvature``       ``Σ_j (Δu_j)² = Σ_j (Σ_k ∂²u_j/∂x_k²)²``                             affine maps (and more)
==================  ==================================================================  ======================

**The lecture's formulas** are written for ``y(x) = x + u(x)``; the identity
part has no second derivatives, so reglab differentiates ``u``. The lecture's
slide titled "curvature" shows the full sum over second derivatives, which is
the bending energy (thin-plate spline energy) and is :func:`bending_energy`
here; :func:`curvature` is Fischer & Modersitzki's curvature regularizer, the
square of the Laplacian. Both vanish on affine maps and are rotation invariant.
Stencils: ``[1, -2, 1]`` on the inner voxels and the 2 × 2 cross difference
(:mod:`reglab.regularization._differences`). In 1/mm² with ``spacing``.

Lab 04 ("Regularization").

References:
    Rueckert et al. 1999 (bending energy); Fischer & Modersitzki 2003 (curvature).
"""

import itertools

from reglab.regularization._differences import _per, _prepare, _reduce


def _mean_square(values):
    """``(B, ndim, *positions)`` → squares summed over the components, averaged over the positions: ``(B,)``."""
    return values.pow(2).sum(dim=1).flatten(1).mean(dim=1)


def _second_difference(field, axis):
    """``u[i-1] - 2 u[i] + u[i+1]`` along ``axis`` on the ``n - 2`` inner positions."""
    d = axis + 2
    n = field.shape[d]
    return field.narrow(d, 0, n - 2) - 2 * field.narrow(d, 1, n - 2) + field.narrow(d, 2, n - 2)


def bending_energy(displacement, *, spacing=None, reduction="mean"):
    """Bending energy ``Σ_j Σ_k Σ_l mean (∂²u_j/∂x_k∂x_l)²`` (thin-plate spline energy).

    The lecture's "curvature" formula: every second derivative, the mixed ones
    twice (``k, l`` and ``l, k``), which makes it invariant to rotations. Affine
    maps cost 0. Pure derivatives use ``[1, -2, 1]`` on the inner voxels; mixed ones
    the 2 × 2 cross difference at cell centres; each term is averaged where it exists.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels, at least 3 voxels per axis.
        spacing, reduction: as :func:`diffusion`.

    Returns:
        Tensor ``>= 0`` (1/mm² with spacing). For ``u_j = ½ xᵀ H_j x``: ``Σ_j ‖H_j‖_F²``.

    Example:
        >>> import torch
        >>> x = torch.arange(5.0)
        >>> u = torch.zeros(1, 2, 5, 5); u[:, 0] = x[:, None] * x[None, :]   # u_0 = x_0 x_1
        >>> bending_energy(u)                                                  # ∂²u_0/∂x_0∂x_1 = 1, twice
        tensor(2.)

    Lab 04. Reference: Rueckert et al. 1999.
    """
    ndim, field, s = _prepare("bending_energy", displacement, spacing, reduction, 2)
    total = sum(_mean_square(_per(_second_difference(field, k), s, k, k)) for k in range(ndim))
    for k, l in itertools.combinations(range(ndim), 2):
        total = total + 2 * _mean_square(_per(field.diff(dim=k + 2).diff(dim=l + 2), s, k, l))
    return _reduce(total, reduction)


def curvature(displacement, *, spacing=None, reduction="mean"):
    """Curvature regularizer ``Σ_j mean (Δu_j)²`` with the Laplacian ``Δ = Σ_k ∂²/∂x_k²``.

    Fischer & Modersitzki's curvature: affine maps cost 0 (so it needs no
    pre-registration), as do other harmonic fields. The Laplacian is the
    ``2 ndim + 1``-point stencil on the inner voxels (a one-voxel border is left out).
    For the lecture's "curvature" formula (all second derivatives) see :func:`bending_energy`.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels, at least 3 voxels per axis.
        spacing, reduction: as :func:`diffusion`.

    Returns:
        Tensor ``>= 0`` (1/mm² with spacing). For ``u_j = ½ xᵀ H_j x``: ``Σ_j tr(H_j)²``.

    Example:
        >>> import torch
        >>> x = torch.arange(5.0)
        >>> u = torch.zeros(1, 2, 5, 5); u[:, 1] = x[:, None] ** 2            # Δu_1 = 2
        >>> curvature(u)
        tensor(4.)

    Lab 04. Reference: Fischer & Modersitzki 2003.
    """
    ndim, field, s = _prepare("curvature", displacement, spacing, reduction, 2)
    laplacian = 0
    for k in range(ndim):
        second = _per(_second_difference(field, k), s, k, k)           # inner along k, full along the others
        for other in range(ndim):
            if other != k:
                second = second.narrow(other + 2, 1, field.shape[other + 2] - 2)
        laplacian = laplacian + second
    return _reduce(laplacian.pow(2).sum(dim=1).flatten(1).mean(dim=1), reduction)
