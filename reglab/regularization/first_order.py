"""First-order penalties: diffusion and linear elasticity, functions of ``∂u_j/∂x_k``.

=============  ==================================================================  =======================================
penalty        formula (mean over the grid)                                        zero for
=============  ==================================================================  =======================================
``diffusion``  ``Σ_j Σ_k (∂u_j/∂x_k)²``                                            translations
``elastic``    ``α (div u)² + β/2 Σ_j Σ_k (∂u_j/∂x_k + ∂u_k/∂x_j)²``               translations, rotations (infinitesimal)
=============  ==================================================================  =======================================

The lecture writes them for ``y(x) = x + u(x)``. The identity part does not
add a constant: since ``|I + ∇u|² = ndim + 2 div u + |∇u|²``, diffusion of ``y``
is diffusion of ``u`` plus ``ndim + 2·mean(div u)``, a term that rewards
compression (``div u < 0``) and whose gradient is not zero. So reglab
differentiates ``u`` alone: a translation costs exactly 0, and no term favours
shrinking.
Diffusion uses forward differences, elastic the cell-centred gradient
(:mod:`reglab.regularization._differences` describes both stencils). Unitless
with ``spacing``.

Lab 04 ("Regularization").

References:
    Fischer & Modersitzki 2002 (diffusion); Broit 1981 and Modersitzki 2004 (elastic).
"""

import torch
import torch.nn.functional as F

from reglab.regularization._differences import _cell_jacobian, _per, _prepare, _reduce
from reglab.validation import check_number


def _mean_square_difference(field, axis, per_sample):
    """``Σ_j mean (u_j(x + e_axis) − u_j(x))²`` per sample ``(B,)``, or its sum over the batch (a scalar).

    ``mse_loss`` of the two shifted views squares and sums in one pass (and its
    backward writes both gradients in one pass), the forward difference never
    stored: the same value as ``_mean_square(field.diff(dim=axis + 2))``, with less
    memory traffic. Every sample has the same number of positions, so the batch
    total is one ``mse_loss`` over the whole batch; only ``per_sample`` (for
    ``reduction="none"``) loops over the samples.
    """
    d = axis + 2
    n = field.shape[d] - 1
    ahead, here = field.narrow(d, 1, n), field.narrow(d, 0, n)
    positions = ahead[0, 0].numel()
    if not per_sample:
        return F.mse_loss(ahead, here, reduction="sum") / positions
    sums = [F.mse_loss(ahead[b], here[b], reduction="sum") for b in range(field.shape[0])]
    return torch.stack(sums) / positions


def diffusion(displacement, *, spacing=None, reduction="mean"):
    """Diffusion regularizer ``R_diff = Σ_j Σ_k mean (∂u_j/∂x_k)²``, with forward differences.

    Penalises every change of the field; a translation costs 0, a rotation or a
    scaling does not. Each term is the mean over the ``n - 1`` positions along
    axis ``k`` where its forward difference exists.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        spacing: voxel size in mm (axis order), or None to work in voxels.
        reduction: ``"mean"`` | ``"sum"`` over the batch, or ``"none"`` for ``(B,)``.

    Returns:
        Tensor ``>= 0`` (unitless). For ``u = A x``: ``‖A‖_F²``.

    Raises:
        ValueError: a wrongly shaped field, bad spacing or reduction.

    Example:
        >>> u = torch.zeros(1, 2, 4, 4); u[:, 1] = 0.5 * torch.arange(4.0)[:, None]   # shear
        >>> diffusion(u)
        tensor(0.2500)

    Lab 04. Reference: Fischer & Modersitzki 2002.
    """
    ndim, field, s = _prepare("diffusion", displacement, spacing, reduction, 1)
    per_sample = reduction == "none"
    total = sum(_per(_mean_square_difference(field, k, per_sample), s, k, k) for k in range(ndim))
    if per_sample:
        return total                                                     # (B,)
    return total / field.shape[0] if reduction == "mean" else total      # the batch total is the "sum"


def elastic(displacement, *, alpha=1.0, beta=1.0, spacing=None, reduction="mean"):
    """Linear elastic regularizer ``α (div u)² + β/2 Σ_j Σ_k (∂u_j/∂x_k + ∂u_k/∂x_j)²``.

    The lecture's two weights: ``α`` penalises changes of volume (``div u``) and
    ``β`` the symmetric strain (stretch and shear, not infinitesimal rotation). In
    Lamé's constants ``α = λ/2`` and ``β = μ/2``. Derivatives are taken at the cell
    centres (see :mod:`reglab.regularization._differences`), averaged over the cells.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        alpha, beta: weights ``>= 0`` of the volume and strain terms.
        spacing, reduction: as :func:`diffusion`.

    Returns:
        Tensor ``>= 0``. For ``u = A x``: ``α tr(A)² + β/2 ‖A + Aᵀ‖_F²``.

    Example:
        >>> u = torch.zeros(1, 2, 4, 4); u[:, 0] = 0.1 * torch.arange(4.0)[:, None]   # stretch rows by 10 %
        >>> elastic(u, alpha=1.0, beta=0.0), elastic(u, alpha=0.0, beta=1.0)
        (tensor(0.0100), tensor(0.0200))

    Lab 04. Reference: Broit 1981; Modersitzki 2004.
    """
    ndim, field, s = _prepare("elastic", displacement, spacing, reduction, 1)
    if not (alpha >= 0 and beta >= 0):
        raise ValueError(f"elastic(): expected weights `alpha` >= 0 and `beta` >= 0, got {alpha!r} and {beta!r}.")
    check_number("elastic", "alpha", alpha, minimum=0)
    check_number("elastic", "beta", beta, minimum=0)
    gradient = _cell_jacobian(field, s)                                  # (B, j, k, *cells)
    divergence = gradient.diagonal(dim1=1, dim2=2).sum(dim=-1)           # (B, *cells)
    strain = gradient + gradient.transpose(1, 2)
    density = alpha * divergence**2 + beta / 2 * strain.pow(2).sum(dim=(1, 2))
    return _reduce(density.flatten(1).mean(dim=1), reduction)
