"""Regularization: penalties on the displacement field that keep it plausible.

Registration minimises ``C(F, M∘y) + λ R(u)``; without ``R`` a dense field
can fold and tear to match noise. Each penalty below takes a displacement
``u`` ``(B, ndim, *spatial)`` in voxels and returns a value ``>= 0`` (lower is
smoother):

==================  ==================================================================  ===================
penalty             formula (mean over the grid)                                        zero for
==================  ==================================================================  ===================
``diffusion``       ``Σ_j Σ_k (∂u_j/∂x_k)²``                                            translations
``elastic``         ``α (div u)² + β/2 Σ_j Σ_k (∂u_j/∂x_k + ∂u_k/∂x_j)²``               translations, rotations (infinitesimal)
``bending_energy``  ``Σ_j Σ_k Σ_l (∂²u_j/∂x_k∂x_l)²``                                    affine maps
``curvature``       ``Σ_j (Δu_j)² = Σ_j (Σ_k ∂²u_j/∂x_k²)²``                             affine maps (and more)
``folding_penalty`` ``max(0, margin - det(I + ∇u))``                                     any map without folds
==================  ==================================================================  ===================

:func:`gaussian_smoothing` is the *implicit* regularizer: instead of a
penalty, the field itself is smoothed with a Gaussian (as in demons).

**The lecture's formulas** are written for ``y(x) = x + u(x)``; the identity
part adds a constant (diffusion) or nothing (second derivatives), so reglab
differentiates ``u``: a translation costs exactly 0. The lecture's slide titled
"curvature" shows the full sum over second derivatives, which is the bending
energy (thin-plate spline energy) and is :func:`bending_energy` here;
:func:`curvature` is Fischer & Modersitzki's curvature regularizer, the square
of the Laplacian. Both vanish on affine maps and are rotation invariant.

**Stencils and borders** (no padding anywhere, every difference lies inside the grid):

* first derivatives for ``diffusion``: forward differences ``u[i+1] - u[i]``,
  each term averaged over the ``n - 1`` positions where it exists;
* first derivatives for ``elastic`` and ``folding_penalty``: at the centres of
  the grid cells (``(n - 1)`` per axis), the forward difference averaged over
  the cell's other axes, so all ``∂u_j/∂x_k`` sit at the same point (the
  gradient of a bi/trilinear finite element);
* second derivatives: ``u[i-1] - 2u[i] + u[i+1]`` on the ``n - 2`` inner positions
  along the axis, and mixed ones as the 2 × 2 cross difference at cell
  centres; ``curvature`` sums the pure ones on the inner voxels.

All of them are exact for polynomials of degree 1 (first derivatives) or 2
(second derivatives), so analytic fields give analytic values.

**Units**: with ``spacing`` (voxel size in mm, axis order) the field is turned
into mm and differentiated in mm: first-order penalties are unitless, second-order
ones in 1/mm². Without it everything is in voxels.

**Reductions** as in :mod:`reglab.similarity`: ``"mean"`` | ``"sum"`` over the batch, ``"none"`` → ``(B,)``.

Lab 04 ("Regularization") uses this module; Lab 03 shows the similarity side.

References:
    Fischer & Modersitzki 2003 (curvature); Broit 1981 and Modersitzki 2004 (elastic);
    Rueckert et al. 1999 (bending energy); Thirion 1998 (Gaussian smoothing);
    Mok & Chung 2020 (negative Jacobian penalty).
"""

import itertools
import math

import torch
import torch.nn.functional as F

from reglab.validation import check_choice, check_displacement, check_image, check_spacing

REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- helpers


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


def _mean_square(values):
    """``(B, ndim, *positions)`` → squares summed over the components, averaged over the positions: ``(B,)``."""
    return values.pow(2).sum(dim=1).flatten(1).mean(dim=1)


def _mean_square_difference(field, axis):
    """``(B,)``: ``Σ_j mean (u_j(x + e_axis) − u_j(x))²``, the forward difference never stored.

    ``mse_loss`` of the two shifted views squares and sums in one pass (and its
    backward writes both gradients in one pass): the same value as
    ``_mean_square(field.diff(dim=axis + 2))``, with less memory traffic.
    """
    d = axis + 2
    n = field.shape[d] - 1
    ahead, here = field.narrow(d, 1, n), field.narrow(d, 0, n)
    positions = ahead[0, 0].numel()
    sums = [F.mse_loss(ahead[b], here[b], reduction="sum") for b in range(field.shape[0])]
    return torch.stack(sums) / positions


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


# ----------------------------------------------------------------------------- first order


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
    total = sum(_per(_mean_square_difference(field, k), s, k, k) for k in range(ndim))
    return _reduce(total, reduction)


def elastic(displacement, *, alpha=1.0, beta=1.0, spacing=None, reduction="mean"):
    """Linear elastic regularizer ``α (div u)² + β/2 Σ_j Σ_k (∂u_j/∂x_k + ∂u_k/∂x_j)²``.

    The lecture's two weights: ``α`` penalises changes of volume (``div u``) and
    ``β`` the symmetric strain (stretch and shear, not infinitesimal rotation). In
    Lamé's constants ``α = λ/2`` and ``β = μ/2``. Derivatives are taken at the cell
    centres (see the module's stencils), averaged over the cells.

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
    gradient = _cell_jacobian(field, s)                                  # (B, j, k, *cells)
    divergence = gradient.diagonal(dim1=1, dim2=2).sum(dim=-1)           # (B, *cells)
    strain = gradient + gradient.transpose(1, 2)
    density = alpha * divergence**2 + beta / 2 * strain.pow(2).sum(dim=(1, 2))
    return _reduce(density.flatten(1).mean(dim=1), reduction)


# ----------------------------------------------------------------------------- second order


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


# ----------------------------------------------------------------------------- folding


def _determinant(m):
    """Determinant of ``(B, n, n, *cells)`` matrices, written out for n = 2 and 3."""
    if m.shape[1] == 2:
        return m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    return (m[:, 0, 0] * (m[:, 1, 1] * m[:, 2, 2] - m[:, 1, 2] * m[:, 2, 1])
            - m[:, 0, 1] * (m[:, 1, 0] * m[:, 2, 2] - m[:, 1, 2] * m[:, 2, 0])
            + m[:, 0, 2] * (m[:, 1, 0] * m[:, 2, 1] - m[:, 1, 1] * m[:, 2, 0]))


def folding_penalty(displacement, *, margin=0.0, reduction="mean"):
    """Jacobian folding penalty ``mean max(0, margin - det(I + ∇u))``.

    ``det(I + ∇u) <= 0`` where the map ``y = x + u`` folds (space turns inside
    out). The penalty is 0 for every fold-free field (with ``margin = 0``), so it
    can be added to any other regularizer; a positive ``margin`` (e.g. 0.1) also
    pushes away strong compressions. The Jacobian is taken at the cell centres
    (see the module's stencils). The determinant is the same in voxels and in mm, so
    there is no ``spacing``.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        margin: the determinant below which the penalty starts (``>= 0``).
        reduction: as :func:`diffusion`.

    Returns:
        Tensor ``>= 0``: the mean amount of folding over the cells.

    Example:
        >>> u = torch.zeros(1, 2, 3, 3); u[:, 0] = -2.0 * torch.arange(3.0)[:, None]   # y_0 = -x_0: a mirror
        >>> folding_penalty(u)
        tensor(1.)

    Lab 04; reglab.evaluation counts folds. Reference: Mok & Chung 2020 (LapIRN).
    """
    ndim, field, _ = _prepare("folding_penalty", displacement, None, reduction, 1)
    if not margin >= 0:
        raise ValueError(f"folding_penalty(): expected `margin` >= 0, got {margin!r}.")
    eye = torch.eye(ndim, device=field.device, dtype=field.dtype).reshape(1, ndim, ndim, *([1] * ndim))
    determinant = _determinant(eye + _cell_jacobian(field, None))
    return _reduce(torch.relu(margin - determinant).flatten(1).mean(dim=1), reduction)


# ----------------------------------------------------------------------------- implicit


def gaussian_kernel(sigma, *, truncate=3.0, device=None, dtype=torch.float32):
    """The normalized 1D Gaussian ``exp(-x² / 2σ²)`` on ``x = -r … r``, ``r = int(truncate σ + 0.5)`` (as SciPy).

    Example:
        >>> gaussian_kernel(0.5, truncate=2.0)
        tensor([0.1065, 0.7870, 0.1065])
    """
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def gaussian_smoothing(field, sigma, *, spacing=None, truncate=3.0):
    """Implicit regularization ``y ← y * G_σ``: smooth every channel with a Gaussian.

    Smoothing ``u`` (or ``y = x + u``: the identity is unchanged by a normalized
    kernel away from the border) keeps only the smooth part of the field, as the
    demons algorithm does after each update. Separable: one 1D convolution per
    axis. Borders repeat the edge values, so a translation stays exactly a translation.

    Args:
        field: ``(B, C, *spatial)``, typically a displacement ``(B, ndim, *spatial)`` (or an image).
        sigma: standard deviation, one number or one per axis; in voxels, or in mm when
            ``spacing`` is given. 0 leaves that axis alone.
        spacing: voxel size in mm (axis order), to give ``sigma`` in mm.
        truncate: kernel radius in standard deviations (as SciPy's ``gaussian_filter``).

    Returns:
        Tensor shaped like ``field``: equal to ``scipy.ndimage.gaussian_filter(..., mode="nearest")``
        per channel.

    Raises:
        ValueError: a wrongly shaped field, negative sigma or bad spacing.

    Example:
        >>> u = torch.zeros(1, 2, 1, 5); u[:, :, 0, 2] = 1.0
        >>> gaussian_smoothing(u, (0, 0.5), truncate=2.0)[0, 0]
        tensor([[0.0000, 0.1065, 0.7870, 0.1065, 0.0000]])

    Lab 04. Reference: Thirion 1998 (demons).
    """
    ndim = check_image("gaussian_smoothing", "field", field)
    sigmas = [float(sigma)] * ndim if isinstance(sigma, (int, float)) else [float(v) for v in sigma]
    if len(sigmas) != ndim or not all(math.isfinite(v) and v >= 0 for v in sigmas):
        raise ValueError(f"gaussian_smoothing(): expected `sigma` >= 0, one number or {ndim} of them, got {sigma!r}.")
    s = check_spacing("gaussian_smoothing", spacing, ndim, field)
    batch, channels, *size = field.shape
    smoothed = field.reshape(batch * channels, 1, *size)                 # every channel on its own
    convolve = F.conv2d if ndim == 2 else F.conv3d
    for axis, sigma_axis in enumerate(sigmas):
        sigma_voxels = sigma_axis / float(s[axis])
        if sigma_voxels == 0:
            continue
        kernel = gaussian_kernel(sigma_voxels, truncate=truncate, device=field.device, dtype=field.dtype)
        radius = kernel.numel() // 2
        pad = [0, 0] * ndim
        pad[2 * (ndim - 1 - axis)] = pad[2 * (ndim - 1 - axis) + 1] = radius   # F.pad lists the last axis first
        shape = [1, 1] + [1] * ndim
        shape[2 + axis] = kernel.numel()
        smoothed = convolve(F.pad(smoothed, pad, mode="replicate"), kernel.reshape(shape))
    return smoothed.reshape(field.shape)


# ----------------------------------------------------------------------------- by name

REGULARIZERS = {
    "diffusion": diffusion, "elastic": elastic, "bending_energy": bending_energy,
    "curvature": curvature, "folding_penalty": folding_penalty,
}
"""The penalties by name (all: lower is smoother)."""


class Regularizer(torch.nn.Module):
    """A penalty of :data:`REGULARIZERS` as a module that carries its options.

    Example:
        >>> regularizer = Regularizer("elastic", alpha=0.5, beta=1.0)
        >>> regularizer(torch.zeros(1, 2, 4, 4))
        tensor(0.)
    """

    def __init__(self, name, **options):
        super().__init__()
        check_choice("Regularizer", "name", name, tuple(REGULARIZERS))
        self.name, self.options = name, options

    def forward(self, displacement):
        return REGULARIZERS[self.name](displacement, **self.options)

    def extra_repr(self):
        return ", ".join([repr(self.name)] + [f"{k}={v!r}" for k, v in self.options.items()])
