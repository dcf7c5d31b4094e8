"""Evaluation of a registration: field quality, landmarks, overlap and surface distances.

The lecture's measures (§7), in its order:

* **field quality** - :func:`rmse` between two fields, :func:`jacobian_determinant`
  of ``y(x) = x + u(x)`` with :func:`folding_fraction` and :func:`sdlogj`,
  :func:`curl`, :func:`inverse_consistency` of a forward/backward pair;
* **landmarks** - :func:`tre`, the target registration error in mm;
* **overlap** - :func:`dice` and :func:`iou` per label;
* **surfaces** - :func:`hausdorff` (and its 95th percentile :func:`hd95`) and
  :func:`assd`, distances between label boundaries in mm;
* :func:`report` prints all of them before vs after registration.

Units. Displacements are in voxels (see :mod:`reglab.grid`). Measures that
have a length take ``spacing=``: the voxel size in mm **in the tensor's axis
order** ``(D, H, W)`` - the reverse of SimpleITK's ``GetSpacing()``, which is
``(x, y, z) = (W, H, D)``. Without ``spacing`` lengths are in voxels.

Label maps are ``(B, 1, *spatial)`` tensors of non-negative integers (bool,
integer, or floating point holding whole numbers); 0 is the background.
Every per-label measure returns ``(B, L)`` for the ``L`` labels compared, and
never builds a one-hot tensor of all labels.

Lab 08 ("Evaluation") teaches this module.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from reglab.fields import compose
from reglab.validation import check_choice, check_displacement, check_image, check_spacing, check_tensor
from reglab.warping import warp_points

STENCILS = ("central", "forward", "backward")


# --------------------------------------------------------------------------- helpers


def _label_map(fn, name, labels):
    """Check a label map ``(B, 1, *spatial)``; return its number of spatial axes."""
    ndim = check_image(fn, name, labels, allow_integer=True)
    if labels.shape[1] != 1:
        raise ValueError(
            f"{fn}(): expected `{name}` as a label map of shape (B, 1, *spatial), got {tuple(labels.shape)}. "
            "Hint: turn a one-hot or probability tensor into a label map with x.argmax(1, keepdim=True)."
        )
    if labels.is_floating_point() and not torch.equal(labels, labels.round()):
        raise ValueError(
            f"{fn}(): expected `{name}` to hold whole label numbers, got fractional values. "
            "Hint: threshold probabilities (p > 0.5) or warp label maps with mode='nearest' or mode='label'."
        )
    if labels.dtype != torch.bool and labels.numel() and labels.min() < 0:
        raise ValueError(f"{fn}(): expected non-negative labels in `{name}`, got {labels.min().item()}.")
    return ndim


def _pair(fn, fixed, moving):
    """Check two label maps of the same shape; return the number of spatial axes."""
    ndim = _label_map(fn, "fixed", fixed)
    _label_map(fn, "moving", moving)
    if fixed.shape != moving.shape:
        raise ValueError(
            f"{fn}(): expected `fixed` and `moving` of the same shape, got {tuple(fixed.shape)} and "
            f"{tuple(moving.shape)}. Hint: warp the moving labels onto the fixed grid first."
        )
    return ndim


def _flat_integers(labels):
    """``(B, N)`` label values as integers ``bincount`` accepts: bool -> uint8, floats -> int64, integers as they are."""
    flat = labels.reshape(labels.shape[0], -1)
    if flat.dtype == torch.bool:
        return flat.to(torch.uint8)
    return flat.long() if flat.is_floating_point() else flat


def _label_counts(fn, fixed, moving, labels):
    """The labels compared ``(L,)`` and, per sample and label, ``|F_l|, |M_l|, |F_l ∩ M_l|``, each ``(B, L)``.

    One ``bincount`` of the pairs ``(fixed label, moving label)`` gives the joint
    histogram (the confusion matrix) of the two maps: row ``k`` sums to ``|F_k|``,
    column ``k`` to ``|M_k|``, and the diagonal holds ``|F_k ∩ M_k|``. No one-hot
    tensor is built. Label numbers of 4096 and more are first renumbered
    0, 1, 2, ... (in order) so that the histogram stays small.
    """
    f, m = _flat_integers(fixed), _flat_integers(moving)                              # (B, N) each
    top = int(max(f.max(), m.max())) if f.numel() else 0
    numbers = None                                                                    # the label number of every bin
    if top >= 4096:
        numbers, inverse = torch.unique(torch.cat([f, m], dim=1), return_inverse=True)
        f, m = inverse.split(f.shape[1], dim=1)
        top = len(numbers) - 1
    bins = top + 1
    if bins * bins > torch.iinfo(f.dtype).max:                                        # room for the pair index below
        f, m = f.long(), m.long()
    numbers = torch.arange(bins, device=f.device) if numbers is None else numbers
    pairs = torch.stack([torch.bincount(torch.add(b, a, alpha=bins), minlength=bins * bins) for a, b in zip(f, m)])
    joint = pairs.reshape(-1, bins, bins)                                             # (B, fixed label, moving label)
    size_f, size_m, both = joint.sum(dim=2), joint.sum(dim=1), joint.diagonal(dim1=1, dim2=2)
    if labels is None:
        columns = (((size_f + size_m).sum(dim=0) > 0) & (numbers != 0)).nonzero()[:, 0]
        chosen = numbers[columns]
    else:
        chosen = torch.as_tensor(labels, device=f.device).long().reshape(-1)
        if chosen.numel() and chosen.min() < 0:
            raise ValueError(f"{fn}(): expected non-negative `labels`, got {chosen.tolist()}.")
        position = torch.searchsorted(numbers, chosen).clamp(max=bins - 1)
        columns = torch.where(numbers[position] == chosen, position, bins)              # absent: the zero column
    pad = torch.zeros(f.shape[0], 1, dtype=size_f.dtype, device=f.device)
    return chosen, *(torch.cat([counts, pad], dim=1)[:, columns] for counts in (size_f, size_m, both))


def _percentile(values, q):
    """The ``q``-th percentile of a 1-D tensor with linear interpolation (NumPy's and ``torch.quantile``'s default)."""
    ordered = values.sort().values
    position = q / 100 * (ordered.numel() - 1)
    low = int(math.floor(position))
    high = min(low + 1, ordered.numel() - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


# --------------------------------------------------------------------------- field quality


def rmse(u, v, *, spacing=None):
    """Root-mean-square distance between two transformations: ``sqrt(1/N Σ_x |y_u(x) - y_v(x)|²)``.

    Because ``y_u(x) - y_v(x) = u(x) - v(x)``, this is the RMS of the difference
    of the displacements, e.g. a predicted field against the ground truth.

    Args:
        u, v: ``(B, ndim, *spatial)`` displacements in voxels on the same grid.
        spacing: voxel size in mm, axis order; None for voxels.

    Returns:
        Tensor ``(B,)``: in mm with ``spacing``, else in voxels.

    Example:
        >>> u = torch.zeros(1, 2, 4, 4); v = torch.zeros(1, 2, 4, 4); v[:, 0] = 3.0; v[:, 1] = 4.0
        >>> rmse(u, v), rmse(u, v, spacing=(2.0, 1.0))
        (tensor([5.]), tensor([7.2111]))

    Lab 08. References: the lecture's RMSE formula (§7).
    """
    ndim = check_displacement("rmse", "u", u)
    check_displacement("rmse", "v", v, ndim=ndim, spatial=u.shape[2:])
    if u.shape[0] != v.shape[0]:
        raise ValueError(f"rmse(): expected `u` and `v` with the same batch size, got {u.shape[0]} and {v.shape[0]}.")
    scale = check_spacing("rmse", spacing, ndim, u).reshape(1, ndim, *([1] * ndim))
    squared = ((u - v) * scale).square().sum(dim=1)                                   # (B, *spatial)
    return squared.flatten(1).mean(dim=1).sqrt()


def _derivatives(displacement, stencil):
    """Finite differences ``∂u/∂x_j`` along every axis ``j``: a list of ``ndim`` tensors ``(B, ndim, *spatial)``.

    The field is first padded by repeating its border values (ITK's zero-flux
    Neumann condition), so at the first and last voxel a central difference is
    half the one-sided difference, and a forward (backward) difference is 0 at
    the last (first) voxel.
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
            result.append((shifted(1) - shifted(-1)).mul_(0.5))
    return result


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
    """Determinant of a 2 x 2 or 3 x 3 matrix given as nested lists of tensors, written out."""
    if len(m) == 2:
        return m[0][0] * m[1][1] - m[0][1] * m[1][0]
    return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))


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
    if spacing is not None:                                                           # validated; J does not depend on it
        check_spacing("jacobian_determinant", spacing, displacement.shape[1], displacement)
    return _determinant(_jacobian("jacobian_determinant", displacement, None, stencil))


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
    determinant = _determinant(_jacobian("folding_fraction", displacement, None, stencil))
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
        Tensor ``(B,)``: the population standard deviation (``np.std``, ``ddof=0``) over all voxels.

    Example:
        >>> sdlogj(torch.full((1, 2, 4, 4), 0.7))                # a translation: J = 1 everywhere
        tensor([0.])

    Lab 08. References: Learn2Reg (Hering et al., IEEE TMI 2023); MDL-UzL/L2R issues #7, #8.
    """
    determinant = _determinant(_jacobian("sdlogj", displacement, None, stencil))
    logj = determinant.clamp(eps, 1 / eps).log().flatten(1)
    return logj.std(dim=1, correction=0)


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


def inverse_consistency(forward, backward, *, spacing=None):
    """Inverse consistency: ``IC = 1/N Σ_x |(y ∘ y⁻¹)(x) - x|``, the mean round-trip error.

    ``forward`` is ``y`` and ``backward`` its claimed inverse ``y⁻¹``; a point
    goes through ``backward`` first, then ``forward``, and should come back
    where it started. The composition is :func:`reglab.fields.compose`.

    Args:
        forward, backward: ``(B, ndim, *spatial)`` displacements in voxels on the same grid.
        spacing: voxel size in mm, axis order; None for voxels.

    Returns:
        Tensor ``(B,)``: in mm with ``spacing``, else in voxels (0 for an exact inverse pair).

    Example:
        >>> u = torch.full((1, 2, 4, 4), 1.5)
        >>> inverse_consistency(u, -u).round(decimals=4), inverse_consistency(u, u)
        (tensor([0.]), tensor([4.2426]))

    Lab 08. References: the lecture's IC formula (§7).
    """
    ndim = check_displacement("inverse_consistency", "forward", forward)
    check_displacement("inverse_consistency", "backward", backward, ndim=ndim, spatial=forward.shape[2:])
    if forward.shape[0] != backward.shape[0]:
        raise ValueError(f"inverse_consistency(): expected `forward` and `backward` with the same batch size, "
                         f"got {forward.shape[0]} and {backward.shape[0]}.")
    scale = check_spacing("inverse_consistency", spacing, ndim, forward).reshape(1, ndim, *([1] * ndim))
    round_trip = compose(forward, backward) * scale                                   # (y ∘ y⁻¹)(x) - x
    return round_trip.norm(dim=1).flatten(1).mean(dim=1)


# --------------------------------------------------------------------------- landmarks


def tre(fixed_points, moving_points, displacement=None, *, spacing=None):
    """Target registration error: ``TRE = |(p + u(p)) - q|`` per landmark pair, in mm.

    Direction: a fixed-image landmark ``p`` is carried through the
    transformation with :func:`reglab.warp_points` (``p ↦ p + u(p)``, where
    the registered moving image took its value for ``p``) and compared with its
    partner ``q`` in the moving image. This is the direction of backward
    warping: ``u`` lives on the fixed grid, so it is evaluated at fixed points.
    Without a displacement the TRE before registration is ``|p - q|``.

    Args:
        fixed_points: ``(B, N, ndim)`` landmarks in voxels of the fixed image, axis order.
        moving_points: ``(B, N, ndim)`` the corresponding landmarks in the moving image.
        displacement: ``(B, ndim, *spatial)`` in voxels, or None (identity, "before").
        spacing: voxel size in mm, axis order (shared by both images); None for voxels.

    Returns:
        Tensor ``(B, N)``: the error of every landmark, in mm with ``spacing``, else in voxels.

    Example:
        >>> p = torch.tensor([[[2.0, 2.0]]]); q = torch.tensor([[[5.0, 6.0]]])
        >>> u = torch.zeros(1, 2, 8, 8); u[:, 0] = 3.0                 # the registration found the row shift
        >>> tre(p, q), tre(p, q, u), tre(p, q, u, spacing=(1.0, 0.5))
        (tensor([[5.]]), tensor([[4.]]), tensor([[2.]]))

    Lab 08. References: the lecture's TRE formula (§7); voxelmorph issues #84, #86.
    """
    check_tensor("tre", "fixed_points", fixed_points)
    check_tensor("tre", "moving_points", moving_points)
    if fixed_points.shape != moving_points.shape or fixed_points.dim() != 3 or fixed_points.shape[-1] not in (2, 3):
        raise ValueError(
            f"tre(): expected `fixed_points` and `moving_points` of the same shape (B, N, ndim) in voxels, "
            f"got {tuple(fixed_points.shape)} and {tuple(moving_points.shape)}."
        )
    ndim = fixed_points.shape[-1]
    mapped = fixed_points if displacement is None else warp_points(fixed_points, displacement)
    scale = check_spacing("tre", spacing, ndim, moving_points)
    return ((mapped - moving_points) * scale).norm(dim=-1)


# --------------------------------------------------------------------------- overlap


def dice(fixed, moving, *, labels=None, empty=1.0):
    """Dice similarity coefficient per label: ``DSC = 2 |F ∩ M| / (|F| + |M|)``.

    Also the F1 score of the voxel classification. Pass the **warped** moving
    labels to score a registration, the moving labels themselves for the
    baseline.

    Args:
        fixed, moving: ``(B, 1, *spatial)`` label maps of the same shape (bool masks are label 1).
        labels: the labels to score; None for every non-zero label present in either map.
        empty: the value for a label absent from both maps of a sample
            (default 1: two empty sets agree perfectly; pass ``float("nan")`` and
            ``torch.nanmean`` to leave them out instead).

    Returns:
        Tensor ``(B, L)`` in ``[0, 1]``, one column per label (sorted when ``labels`` is None).

    Raises:
        ValueError: shapes differ, a map has several channels, negative or fractional labels.

    Example:
        >>> fixed = torch.tensor([[[[1, 1, 2, 2, 0]]]]); moving = torch.tensor([[[[1, 2, 2, 2, 0]]]])
        >>> dice(fixed, moving)                    # label 1: 2·1/(2+1); label 2: 2·2/(2+3)
        tensor([[0.6667, 0.8000]])

    Lab 08. References: the lecture's DICE formula (§7); Dice, Ecology 1945.
    """
    _pair("dice", fixed, moving)
    _, *counts = _label_counts("dice", fixed, moving, labels)
    size_f, size_m, both = (c.to(torch.get_default_dtype()) for c in counts)
    total = size_f + size_m
    return torch.where(total > 0, 2 * both / total.clamp_min(1), torch.full_like(total, empty))


def iou(fixed, moving, *, labels=None, empty=1.0):
    """Intersection over union (Jaccard index) per label: ``IoU = |F ∩ M| / |F ∪ M|``.

    Related to Dice by ``DSC = 2 IoU / (1 + IoU)`` and ``IoU = DSC / (2 - DSC)``:
    the two rank registrations the same way, IoU is just stricter.

    Args:
        fixed, moving, labels, empty: as in :func:`dice`.

    Returns:
        Tensor ``(B, L)`` in ``[0, 1]``.

    Example:
        >>> fixed = torch.tensor([[[[1, 1, 2, 2, 0]]]]); moving = torch.tensor([[[[1, 2, 2, 2, 0]]]])
        >>> iou(fixed, moving)                     # label 1: 1/2; label 2: 2/3
        tensor([[0.5000, 0.6667]])

    Lab 08. References: the lecture's IoU formula (§7); Jaccard 1912.
    """
    _pair("iou", fixed, moving)
    _, *counts = _label_counts("iou", fixed, moving, labels)
    size_f, size_m, both = (c.to(torch.get_default_dtype()) for c in counts)
    union = size_f + size_m - both
    return torch.where(union > 0, both / union.clamp_min(1), torch.full_like(union, empty))


# --------------------------------------------------------------------------- surfaces


def surface_voxels(labels):
    """Boundary voxels of every label: voxels with a face neighbour of another label (or outside the grid).

    Face connectivity (4 neighbours in 2D, 6 in 3D), as ``mask ^ binary_erosion(mask)``
    in SciPy and MONAI; voxels on the edge of the grid count as boundary. The
    background is a label too: the boundary of one object ``mask`` is
    ``surface_voxels(mask) & mask``.

    Args:
        labels: ``(B, 1, *spatial)`` label map.

    Returns:
        Bool tensor ``(B, 1, *spatial)``.

    Example:
        >>> mask = torch.zeros(1, 1, 5, 5, dtype=torch.long); mask[0, 0, 1:4, 1:4] = 1
        >>> surface_voxels(mask)[0, 0].int()
        tensor([[1, 1, 1, 1, 1],
                [1, 1, 1, 1, 1],
                [1, 1, 0, 1, 1],
                [1, 1, 1, 1, 1],
                [1, 1, 1, 1, 1]], dtype=torch.int32)
    """
    ndim = check_image("surface_voxels", "labels", labels, allow_integer=True)
    edge = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
    for axis in range(2, ndim + 2):
        n = labels.shape[axis]
        change = labels.narrow(axis, 1, n - 1) != labels.narrow(axis, 0, n - 1)        # between i and i + 1
        edge.narrow(axis, 1, n - 1).logical_or_(change)
        edge.narrow(axis, 0, n - 1).logical_or_(change)
        edge.narrow(axis, 0, 1).fill_(True)
        edge.narrow(axis, n - 1, 1).fill_(True)
    return edge


def _surface_indices(labels):
    """Per sample: the boundary voxels' linear indices ``(K,)`` sorted by label (raster order within one) and their labels."""
    edge = surface_voxels(labels).flatten(1)                                           # (B, N)
    flat = labels.flatten(1)
    result = []
    for sample in range(labels.shape[0]):
        index = edge[sample].nonzero()[:, 0]                                           # raster order
        values, order = flat[sample, index].long().sort(stable=True)
        result.append((index[order], values))
    return result


def _positions(index, size, spacing):
    """Linear voxel indices ``(K,)`` -> positions ``(K, ndim)`` in mm."""
    coordinates = []
    for n in reversed(size):
        coordinates.append(index % n)
        index = index // n
    return torch.stack(coordinates[::-1], dim=1).to(spacing.dtype) * spacing


def _nearest_distances(points, targets, *, method=None):
    """Distance from every point ``(P, ndim)`` to its nearest target ``(T, ndim)``: ``(P,)``.

    On the CPU a k-d tree over the targets (SciPy ``cKDTree``; built by the
    sliding-midpoint rule, which is quicker to build here than a balanced tree):
    ``O(T log T)`` to build and about ``O(log T)`` per query, far less than all
    ``P · T`` pairs or a distance transform of the whole grid for every label.
    It uses as many threads as torch (``torch.get_num_threads()``). On other
    devices (a GPU) the tensors stay where they are and ``torch.cdist`` computes
    all pairs in chunks of at most 2**24 distances, which a GPU does faster than
    a tree; ``donot_use_mm`` keeps the distances exact (the matrix-product
    shortcut loses ~0.05 mm near zero in float32). ``method`` forces one of the two.
    """
    method = method or ("kdtree" if points.device.type == "cpu" else "cdist")
    if method == "kdtree":
        tree = cKDTree(targets.double().numpy(), leafsize=32, balanced_tree=False, compact_nodes=False)
        distances, _ = tree.query(points.double().numpy(), k=1, workers=torch.get_num_threads())
        return torch.from_numpy(np.asarray(distances)).to(points.dtype)
    rows = max(1, 2**24 // max(targets.shape[0], 1))
    parts = [torch.cdist(block[None], targets[None], compute_mode="donot_use_mm_for_euclid_dist")[0].amin(dim=1)
             for block in points.split(rows)]
    return torch.cat(parts)


def _directed(points, targets, size, spacing):
    """Distances (mm) from boundary voxels ``points`` to the nearest of ``targets`` (sorted linear indices).

    Voxels on both boundaries are at distance 0 without a search.
    """
    distances = torch.zeros(len(points), device=points.device, dtype=spacing.dtype)
    position = torch.searchsorted(targets, points).clamp(max=len(targets) - 1)
    elsewhere = targets[position] != points
    if elsewhere.any():
        distances[elsewhere] = _nearest_distances(_positions(points[elsewhere], size, spacing),
                                                  _positions(targets, size, spacing))
    return distances


def _directed_distances(fn, fixed, moving, labels, spacing, empty):
    """For every sample and label the two directed surface-distance sets in mm.

    Returns a nested list ``[sample][label]``: a pair ``(d(∂F → ∂M), d(∂M → ∂F))``
    of 1-D tensors, or a number where a surface is missing: ``empty`` when the
    label is in neither map, ``inf`` when it is in only one. Every label present
    has boundary voxels, so the labels are found among the boundary voxels alone.
    """
    ndim = _pair(fn, fixed, moving)
    scale = check_spacing(fn, spacing, ndim, torch.empty(0, device=fixed.device, dtype=torch.get_default_dtype()))
    surfaces = list(zip(_surface_indices(fixed), _surface_indices(moving)))
    if labels is None:
        found = torch.cat([torch.unique_consecutive(v) for pair in surfaces for _, v in pair] +
                          [torch.zeros(1, dtype=torch.long, device=fixed.device)])
        chosen = torch.unique(found)[1:]                                               # without the background
    else:
        chosen = torch.as_tensor(labels, device=fixed.device).long().reshape(-1)
        if chosen.numel() and chosen.min() < 0:
            raise ValueError(f"{fn}(): expected non-negative `labels`, got {chosen.tolist()}.")
    result = []
    for (index_f, labels_f), (index_m, labels_m) in surfaces:
        row = []
        for label in chosen.tolist():
            a = index_f[torch.searchsorted(labels_f, label):torch.searchsorted(labels_f, label, right=True)]
            b = index_m[torch.searchsorted(labels_m, label):torch.searchsorted(labels_m, label, right=True)]
            if len(a) and len(b):
                row.append((_directed(a, b, fixed.shape[2:], scale), _directed(b, a, fixed.shape[2:], scale)))
            else:
                row.append(float(empty) if len(a) == len(b) else math.inf)
        result.append(row)
    return result


def _summarize(directed, summary, like):
    """``summary(d_fm, d_mf)`` for every (sample, label) pair as a ``(B, L)`` tensor; numbers pass through."""
    rows = []
    for row in directed:
        values = [torch.tensor(entry, device=like.device) if isinstance(entry, float) else summary(*entry)
                  for entry in row]
        rows.append(torch.stack([v.to(like.device, torch.get_default_dtype()) for v in values]) if values
                    else torch.zeros(0, device=like.device))
    return torch.stack(rows)


def _check_percentile(fn, percentile):
    if not isinstance(percentile, (int, float)) or not 0 <= percentile <= 100:
        raise ValueError(f"{fn}(): expected `percentile` between 0 and 100, got {percentile!r}.")


def hausdorff(fixed, moving, *, labels=None, spacing=None, percentile=100, pooled=False, empty=0.0):
    """Hausdorff distance between label boundaries: ``HD = max(h(F, M), h(M, F))`` in mm.

    ``h(F, M) = max_{f ∈ ∂F} min_{m ∈ ∂M} |f - m|`` is the directed distance:
    how far the worst boundary voxel of ``F`` is from the boundary of ``M``.
    With ``percentile < 100`` the maxima become percentiles (linear
    interpolation), e.g. :func:`hd95`, the symmetric maximum of the two directed
    95th percentiles (as MONAI). With ``pooled=True`` the percentile is taken
    over both directed sets together (as medpy's ``hd95``), which gives smaller
    values; it is offered only for comparison with such tools. The maximum
    (``percentile=100``) is the same either way.

    Boundaries are :func:`surface_voxels` (face connectivity), distances between
    voxel centres in mm with anisotropic ``spacing``. On hole-free shapes this
    equals SimpleITK's ``HausdorffDistanceImageFilter``, which uses all voxels.

    Args:
        fixed, moving: ``(B, 1, *spatial)`` label maps of the same shape.
        labels: labels to compare; None for every non-zero label present in either map.
        spacing: voxel size in mm, axis order; None for voxels.
        percentile: 100 for the Hausdorff distance, 95 for HD95.
        pooled: percentile of the pooled distances instead of the maximum of the two directed ones.
        empty: the value when a label is absent from both maps. A label present in only one
            map is infinitely far from the other: ``inf``.

    Returns:
        Tensor ``(B, L)`` in mm (voxels without ``spacing``), on the device of the inputs.

    Example:
        >>> fixed = torch.zeros(1, 1, 8, 8, dtype=torch.long); fixed[..., 2:5, 2:5] = 1
        >>> moving = torch.roll(fixed, 2, dims=3)                  # shifted 2 columns
        >>> hausdorff(fixed, moving), hausdorff(fixed, moving, spacing=(1.0, 0.5))
        (tensor([[2.]]), tensor([[1.]]))

    Lab 08. References: the lecture's HD and HD95 (§7); Huttenlocher et al., IEEE TPAMI 1993.
    """
    return _hausdorff("hausdorff", fixed, moving, labels, spacing, percentile, pooled, empty)


def _hausdorff(fn, fixed, moving, labels, spacing, percentile, pooled, empty):
    """:func:`hausdorff` with errors in the name of the public function ``fn``."""
    _check_percentile(fn, percentile)
    directed = _directed_distances(fn, fixed, moving, labels, spacing, empty)
    if pooled:
        summary = lambda a, b: _percentile(torch.cat([a, b]), percentile)                # noqa: E731
    else:
        summary = lambda a, b: torch.maximum(_percentile(a, percentile), _percentile(b, percentile))  # noqa: E731
    return _summarize(directed, summary, fixed)


def hd95(fixed, moving, *, labels=None, spacing=None, pooled=False, empty=0.0):
    """The 95th-percentile Hausdorff distance: ``HD95 = max(d95(F, M), d95(M, F))`` in mm.

    Robust to a few outlying boundary voxels, which set the plain Hausdorff
    distance alone. Same as ``hausdorff(..., percentile=95)``; see :func:`hausdorff`.

    Example:
        >>> fixed = torch.zeros(1, 1, 20, 20, dtype=torch.long); fixed[..., 5:15, 5:15] = 1
        >>> moving = fixed.clone(); moving[..., 0, 0] = 1               # one stray voxel far away
        >>> hausdorff(fixed, moving), hd95(fixed, moving)
        (tensor([[7.0711]]), tensor([[0.]]))

    Lab 08.
    """
    return _hausdorff("hd95", fixed, moving, labels, spacing, 95, pooled, empty)


def assd(fixed, moving, *, labels=None, spacing=None, empty=0.0):
    """Average symmetric surface distance: the mean of all boundary-to-boundary distances in both directions.

    ``ASSD = (Σ_{f ∈ ∂F} d(f, ∂M) + Σ_{m ∈ ∂M} d(m, ∂F)) / (|∂F| + |∂M|)``, as
    MONAI's ``SurfaceDistanceMetric(symmetric=True)``. (SimpleITK's "average
    Hausdorff distance" averages over all voxels, not boundaries: another number.)

    Args:
        fixed, moving, labels, spacing, empty: as in :func:`hausdorff`.

    Returns:
        Tensor ``(B, L)`` in mm (voxels without ``spacing``).

    Example:
        >>> fixed = torch.zeros(1, 1, 8, 8, dtype=torch.long); fixed[..., 2:5, 2:5] = 1
        >>> assd(fixed, torch.roll(fixed, 1, dims=2))
        tensor([[0.5000]])

    Lab 08. References: Heimann et al., IEEE TMI 2009.
    """
    directed = _directed_distances("assd", fixed, moving, labels, spacing, empty)
    summary = lambda a, b: (a.sum() + b.sum()) / (len(a) + len(b))                      # noqa: E731
    return _summarize(directed, summary, fixed)


# --------------------------------------------------------------------------- the report


class Report:
    """What :func:`report` returns: one row per measure, before and after registration.

    Attributes:
        rows: list of ``(measure, unit, before, after)``; ``before``/``after`` are floats
            averaged over the batch (and over labels or landmarks).

    ``print(report)`` (or the notebook's display) shows the table; :meth:`as_dict`
    gives ``{measure: (before, after)}``.
    """

    def __init__(self, rows):
        self.rows = list(rows)

    def as_dict(self):
        """``{measure: (before, after)}``."""
        return {measure: (before, after) for measure, _, before, after in self.rows}

    def __str__(self):
        width = max(len(f"{measure} ({unit})") for measure, unit, _, _ in self.rows)
        lines = [f"{'measure':<{width}}  {'before':>10}  {'after':>10}"]
        for measure, unit, before, after in self.rows:
            name = f"{measure} ({unit})" if unit else measure
            lines.append(f"{name:<{width}}  {before:>10.4g}  {after:>10.4g}")
        return "\n".join(lines)

    __repr__ = __str__


def report(fixed, moving, warped, displacement, *, fixed_points=None, moving_points=None, spacing=None,
           labels=None, inverse=None):
    """Every measure of this module before vs after registration, in one table (as Learn2Reg reports).

    "Before" compares ``fixed`` with ``moving`` (the identity transformation);
    "after" compares ``fixed`` with ``warped`` and judges ``displacement``. Label
    measures are averaged over labels and the batch, TRE over landmarks and the batch.

    Args:
        fixed, moving, warped: ``(B, 1, *spatial)`` label maps; ``warped`` is ``moving``
            warped by ``displacement`` (e.g. ``reglab.warp(moving, u, mode="nearest")``).
        displacement: ``(B, ndim, *spatial)`` the registration's result, in voxels.
        fixed_points, moving_points: optional ``(B, N, ndim)`` corresponding landmarks for the TRE.
        spacing: voxel size in mm, axis order; None reports lengths in voxels.
        labels: the labels to score; None for all non-zero labels present.
        inverse: optional ``(B, ndim, *spatial)`` backward field for the inverse consistency.

    Returns:
        :class:`Report`.

    Example:
        >>> fixed = torch.zeros(1, 1, 12, 12, dtype=torch.long); fixed[..., 3:9, 3:9] = 1
        >>> moving = torch.roll(fixed, 2, dims=2)                     # the moving square sits 2 rows lower
        >>> u = torch.zeros(1, 2, 12, 12); u[:, 0] = 2.0              # ... and the registration found it
        >>> from reglab import warp
        >>> warped = warp(moving, u, mode="nearest")
        >>> print(report(fixed, moving, warped, u))
        measure               before       after
        Dice                  0.6667           1
        IoU                      0.5           1
        HD (vox)                   2           0
        HD95 (vox)                 2           0
        ASSD (vox)                 1           0
        Jacobian ≤ 0 (%)           0           0
        SDlogJ                     0           0
        Jacobian min               1           1

    Lab 08.
    """
    unit = "mm" if spacing is not None else "vox"
    identity = torch.zeros_like(displacement)
    pairs = (moving, warped)
    rows = []
    for name, fn, row_unit, extra in (("Dice", dice, "", {}), ("IoU", iou, "", {}),
                                      ("HD", hausdorff, unit, {"spacing": spacing}),
                                      ("HD95", hd95, unit, {"spacing": spacing}),
                                      ("ASSD", assd, unit, {"spacing": spacing})):
        before, after = (float(fn(fixed, other, labels=labels, **extra).mean()) for other in pairs)
        rows.append((name, row_unit, before, after))
    if fixed_points is not None or moving_points is not None:
        before, after = (float(tre(fixed_points, moving_points, field, spacing=spacing).mean())
                         for field in (None, displacement))
        rows.append(("TRE", unit, before, after))
    fields = (identity, displacement)
    rows.append(("Jacobian ≤ 0", "%", *(100 * float(folding_fraction(u).mean()) for u in fields)))
    rows.append(("SDlogJ", "", *(float(sdlogj(u).mean()) for u in fields)))
    rows.append(("Jacobian min", "", *(float(jacobian_determinant(u).amin()) for u in fields)))
    if inverse is not None:
        rows.append(("inverse consistency", unit,
                     float(inverse_consistency(identity, identity, spacing=spacing).mean()),
                     float(inverse_consistency(displacement, inverse, spacing=spacing).mean())))
    return Report(rows)
