"""Derivatives of a transformation: the Jacobian matrix and determinant, folding, SDlogJ and the curl.

Of ``y(x) = x + u(x)`` (the lecture's ``J(y(x))``, not of ``u`` alone):

* :func:`jacobian_matrix` - ``I + ∇u`` at every voxel, by finite differences (:data:`STENCILS`);
* :func:`jacobian_determinant` - the local change of volume, ``J ≤ 0`` where the map folds;
* :func:`folding_fraction` - the share of voxels with ``J ≤ 0``;
* :func:`sdlogj` - the standard deviation of ``log J`` (Learn2Reg's smoothness measure);
* :func:`curl` - ``∇ × y``, the local rotation.

Displacements are in voxels; ``spacing=`` (mm, axis order) where derivatives in
mm differ from those in voxels.

Lab 08 ("Evaluation") teaches this module; Lab 04 counts folds with it.
"""

import torch
import torch.nn.functional as F

from reglab.validation import check_choice, check_displacement, check_number, check_spacing

STENCILS = ("central", "forward", "backward")


def _differences(displacement, stencil):
    """Differences ``u(x + e_j) - u(x - e_j)`` (central) or one-sided along every axis ``j``: ``ndim`` tensors.

    Each is ``(B, ndim, *spatial)``.

    The field is first padded by repeating its border values (ITK's zero-flux
    Neumann condition), so at the first and last voxel a central difference is
    the one-sided difference, and a forward (backward) difference is 0 at the
    last (first) voxel. A central difference spans 2 voxels: halve it for ``∂u/∂x_j``.
    """
    ndim = displacement.shape[1]
    padded = F.pad(displacement, (1, 1) * ndim, mode="replicate")                     # (B, ndim, *(spatial + 2))
    result = []
    for axis in range(ndim):
        def shifted(offset):                                                          # u(x + offset · e_axis)
            index = [slice(1, -1)] * ndim
            index[axis] = slice(1 + offset, padded.shape[axis + 2] - 1 + offset)
            return padded[(slice(None), slice(None), *index)]
        if stencil == "forward":
            result.append(shifted(1) - displacement)
        elif stencil == "backward":
            result.append(displacement - shifted(-1))
        else:
            result.append(shifted(1) - shifted(-1))
    return result


def _derivatives(displacement, stencil):
    """Finite differences ``∂u/∂x_j`` along every axis ``j``: a list of ``ndim`` tensors ``(B, ndim, *spatial)``.

    :func:`_differences`, the central ones halved; at the first and last voxel a
    central difference is thus half the one-sided difference.
    """
    differences = _differences(displacement, stencil)
    return [d.mul_(0.5) for d in differences] if stencil == "central" else differences


def jacobian_matrix(displacement, *, spacing=None, stencil="central"):
    """The Jacobian matrix ``∂y_i/∂x_j`` of ``y(x) = x + u(x)`` at every voxel: ``I + ∇u``.

    Derivatives are finite differences (see :func:`jacobian_determinant` for
    the stencils and the border). With ``spacing`` both ``y`` and ``x`` are in
    mm: entry ``(i, j)`` is ``(δ_ij + ∂u_i/∂x_j) · s_i / s_j``.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        spacing: voxel size in mm, axis order; None for voxel units.
        stencil: ``"central"`` (default), ``"forward"`` or ``"backward"``.

    Returns:
        Tensor ``(B, ndim, ndim, *spatial)``: row ``i`` = component, column ``j`` = derivative axis.

    Example:
        >>> u = torch.zeros(1, 2, 3, 3); u[:, 0] = 0.5 * torch.arange(3.0)[:, None]   # stretch the rows by 1.5
        >>> jacobian_matrix(u)[0, :, :, 1, 1]
        tensor([[1.5000, 0.0000],
                [0.0000, 1.0000]])

    Lab 08.
    """
    entries = _jacobian("jacobian_matrix", displacement, spacing, stencil)
    return torch.stack([torch.stack(row, dim=1) for row in entries], dim=1)


def _jacobian(fn, displacement, spacing, stencil):
    """The entries ``J[i][j]`` (each ``(B, *spatial)``) of :func:`jacobian_matrix`, errors named after ``fn``."""
    ndim = check_displacement(fn, "displacement", displacement)
    check_choice(fn, "stencil", stencil, STENCILS)
    s = None if spacing is None else check_spacing(fn, spacing, ndim, displacement).tolist()
    derivatives = _derivatives(displacement, stencil)                                 # [j] -> (B, ndim, *spatial)
    entries = [[derivatives[j][:, i] + 1 if i == j else derivatives[j][:, i] for j in range(ndim)]
               for i in range(ndim)]
    if s is not None:
        entries = [[entries[i][j] * (s[i] / s[j]) if i != j else entries[i][j] for j in range(ndim)]
                   for i in range(ndim)]
    return entries


def _determinant(m):
    """Determinant of a 2 x 2 or 3 x 3 matrix given as nested lists of tensors, written out (cofactors of row 0).

    ``addcmul_`` (``a += value · b · c``) fuses each product into the sum, in place
    on a product just made: 9 passes over the voxels in 3D instead of 17, and no
    more tensors than the three minors and the result (out-of-place ``addcmul``
    would allocate a new one at every step).
    """
    if len(m) == 2:
        return torch.addcmul(m[0][0] * m[1][1], m[0][1], m[1][0], value=-1)
    minors = []                                           # of rows 1, 2 without column 0, 1, 2
    for b, d in ((1, 2), (0, 2), (0, 1)):
        minor = m[1][b] * m[2][d]                         # a fresh tensor, updated in place: no new allocation
        minor.addcmul_(m[1][d], m[2][b], value=-1)        # m1b m2d - m1d m2b
        minors.append(minor)
    determinant = m[0][0] * minors[0]
    determinant.addcmul_(m[0][1], minors[1], value=-1)
    determinant.addcmul_(m[0][2], minors[2])
    return determinant


def _determinant_field(fn, displacement, stencil):
    """``det(I + ∇u)`` at every voxel ``(B, *spatial)``, errors named after ``fn``.

    With the central stencil the differences ``D = 2 ∇u`` are not halved first:
    ``det(I + D / 2) = det(2 I + D) / 2^ndim``, and scaling by a power of 2 is
    exact in floating point, so halving first would only cost two passes per entry.
    (The fused products of :func:`_determinant` may round once where the plain
    formula rounds twice: the last bit can differ from it.)
    """
    ndim = check_displacement(fn, "displacement", displacement)
    check_choice(fn, "stencil", stencil, STENCILS)
    step = 2 if stencil == "central" else 1                                            # voxels a difference spans
    differences = _differences(displacement, stencil)                                 # [j] -> (B, ndim, *spatial)
    m = [[differences[j][:, i] for j in range(ndim)] for i in range(ndim)]           # m[i][j] = step · ∂y_i/∂x_j
    for i in range(ndim):
        m[i][i].add_(step)
    determinant = _determinant(m)
    return determinant if step == 1 else determinant.mul_(1 / step**ndim)


def jacobian_determinant(displacement, *, spacing=None, stencil="central"):
    """The Jacobian determinant ``J(x) = det(∂y/∂x)`` of ``y(x) = x + u(x)`` (not of ``u``).

    ``J`` is the local change of volume: 1 keeps it, 2 doubles it, 0.5 halves
    it, and ``J ≤ 0`` means the transformation **folds** there (it is not
    invertible; space is turned inside out).

    Finite differences in voxels. The result is the same in mm, because
    ``det(S (I + ∇u) S⁻¹) = det(I + ∇u)`` for a field in voxels (``S`` = the
    spacing), so ``spacing`` is accepted like everywhere else and changes nothing.
    The stencils:

    * ``"central"`` (default): ``(u[i+1] - u[i-1]) / 2``, as SimpleITK's
      ``DisplacementFieldJacobianDeterminantFilter`` - identical to it, borders included;
    * ``"forward"``: ``u[i+1] - u[i]``; ``"backward"``: ``u[i] - u[i-1]``.

    Border: values beyond the grid repeat the border value (ITK's zero-flux
    Neumann condition), so at the outermost voxels the central difference is
    half the one-sided difference. ``np.gradient`` (voxelmorph) uses full
    one-sided differences there instead; the interiors agree.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        spacing: voxel size in mm, axis order (optional, see above).
        stencil: ``"central"``, ``"forward"`` or ``"backward"``.

    Returns:
        Tensor ``(B, *spatial)``, dimensionless.

    Raises:
        ValueError: a wrongly shaped field or an unknown stencil.

    Example:
        >>> u = torch.zeros(1, 2, 4, 4)
        >>> u[:, 0] = 0.5 * torch.arange(4.0)[:, None]                # rows stretched by 1.5
        >>> jacobian_determinant(u)[0, 1:3, 1:3]
        tensor([[1.5000, 1.5000],
                [1.5000, 1.5000]])

    Lab 08. References: the lecture's ``J(y(x))``; SimpleITK ``DisplacementFieldJacobianDeterminantFilter``.
    """
    determinant = _determinant_field("jacobian_determinant", displacement, stencil)
    if spacing is not None:                                                           # validated; J does not depend on it
        check_spacing("jacobian_determinant", spacing, displacement.shape[1], displacement)
    return determinant


def folding_fraction(displacement, *, stencil="central"):
    """The share of voxels where the transformation folds: ``mean(J ≤ 0)``.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        stencil: finite differences of :func:`jacobian_determinant`; state it when you report the number.

    Returns:
        Tensor ``(B,)`` in ``[0, 1]`` (multiply by 100 for a percentage).

    Example:
        >>> u = torch.zeros(1, 2, 5, 5); u[:, 1, :, 2] = 3.0          # column 2 jumps past its neighbours
        >>> folding_fraction(u)
        tensor([0.2000])

    Lab 08.
    """
    determinant = _determinant_field("folding_fraction", displacement, stencil)
    return (determinant <= 0).flatten(1).float().mean(dim=1).to(displacement.dtype)


def sdlogj(displacement, *, stencil="central", eps=1e-9):
    """Standard deviation of the log Jacobian determinant: ``std(log(clip(J, eps, 1/eps)))``.

    A measure of how smooth (how uniformly volume-changing) a field is: 0 for
    any affine map. ``J`` is clipped so that folded voxels (``J ≤ 0``) count as a
    very small determinant instead of giving NaN. This is the definition the
    Learn2Reg papers state; the challenge's evaluation script computes
    ``log(J + 3)`` instead, which hides folding and shrinks the number (0.13
    against 1.86 on one field), so its values are not comparable with these.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        stencil: finite differences of :func:`jacobian_determinant`.
        eps: clipping bound (Learn2Reg uses 1e-9).

    Returns:
        Tensor ``(B,)``: the population standard deviation (``np.std``, ``ddof=0``) over all voxels,
        in the field's dtype. A float16/bfloat16 field is differentiated and logged in float32
        (``1/eps`` = 1e9 does not fit in float16).

    Example:
        >>> sdlogj(torch.full((1, 2, 4, 4), 0.7))                # a translation: J = 1 everywhere
        tensor([0.])

    Lab 08. References: Learn2Reg (Hering et al., IEEE TMI 2023); MDL-UzL/L2R issues #7, #8.
    """
    check_displacement("sdlogj", "displacement", displacement)
    check_number("sdlogj", "eps", eps, minimum=0)
    if not 0 < eps < 1:
        raise ValueError(f"sdlogj(): expected `eps` between 0 and 1 (the clipping bounds eps, 1/eps), got {eps!r}.")
    precise = displacement.float() if displacement.dtype in (torch.float16, torch.bfloat16) else displacement
    determinant = _determinant_field("sdlogj", precise, stencil)
    logj = determinant.clamp(eps, 1 / eps).log().flatten(1)
    return logj.std(dim=1, correction=0).to(displacement.dtype)


def curl(displacement, *, spacing=None, stencil="central"):
    """The curl ``∇ × y`` of ``y(x) = x + u(x)`` (equal to the curl of ``u``): the local rotation.

    In 3D it is a vector field, ``c_0 = ∂y_2/∂x_1 - ∂y_1/∂x_2``,
    ``c_1 = ∂y_0/∂x_2 - ∂y_2/∂x_0``, ``c_2 = ∂y_1/∂x_0 - ∂y_0/∂x_1`` (axis order);
    in 2D the scalar ``∂y_1/∂x_0 - ∂y_0/∂x_1``. A rotation by ``θ`` (from axis 0
    towards axis 1) has curl ``2 sin θ`` everywhere; a gradient field has none.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        spacing: voxel size in mm, axis order; derivatives are then taken in mm.
        stencil: finite differences of :func:`jacobian_determinant`.

    Returns:
        Tensor ``(B, *spatial)`` in 2D, ``(B, 3, *spatial)`` in 3D; dimensionless.

    Example:
        >>> theta = torch.tensor(0.1)
        >>> x0, x1 = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
        >>> u = torch.stack([x0 * theta.cos() - x1 * theta.sin() - x0, x0 * theta.sin() + x1 * theta.cos() - x1])[None]
        >>> round(curl(u)[0, 2, 2].item(), 4), round(2 * theta.sin().item(), 4)
        (0.1997, 0.1997)

    Lab 08. References: the lecture's CURL formula (§7).
    """
    m = _jacobian("curl", displacement, spacing, stencil)                             # m[i][j] = ∂y_i/∂x_j
    if len(m) == 2:
        return m[1][0] - m[0][1]
    return torch.stack([m[2][1] - m[1][2], m[0][2] - m[2][0], m[1][0] - m[0][1]], dim=1)
