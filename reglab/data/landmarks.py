"""Landmarks with exact correspondences: detect distinctive points, carry them through a known field.

Target registration error (TRE) needs pairs of corresponding points. On real
data an expert clicks them, with an error of a voxel or two. Here the pairs are
exact by construction:

1. :func:`detect_landmarks` finds distinctive points in the fixed image (corners
   and blobs, by the Förstner measure of the structure tensor) at integer voxels;
2. :func:`landmark_pairs` carries them into the moving image with
   :func:`reglab.warp_points`: fixed landmark ``p`` goes to ``p + u(p)``. At
   integer voxels ``u(p)`` is a stored value of the field, so no interpolation
   error enters (beyond float rounding).

The TRE of a registration result ``φ`` is then ``|(p + φ(p)) − q|``
(:func:`reglab.evaluation.tre`), in voxels, or in mm with ``spacing=``.

Labs 02-08 use these for TRE; Lab 00 shows them.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from reglab.data.noise import _blur
from reglab.validation import check_displacement, check_image
from reglab.warping import warp_points


def _structure_tensor(image, sigma, rho):
    """Entries ``J_ij = G_rho * (∂_i I_sigma · ∂_j I_sigma)``, as a dict {(i, j): (B, 1, *spatial)} for i <= j."""
    ndim = image.dim() - 2
    smooth = _blur(image, sigma)
    gradient = torch.gradient(smooth, dim=tuple(range(2, ndim + 2)))           # central differences per axis
    return {(i, j): _blur(gradient[i] * gradient[j], rho) for i in range(ndim) for j in range(i, ndim)}


def _determinant_and_trace(tensor, ndim):
    """det and trace of the symmetric 2 x 2 or 3 x 3 structure tensor, voxel by voxel."""
    J = lambda i, j: tensor[(min(i, j), max(i, j))]                             # noqa: E731
    trace = sum(J(i, i) for i in range(ndim))
    if ndim == 2:
        return J(0, 0) * J(1, 1) - J(0, 1) ** 2, trace
    det = (J(0, 0) * (J(1, 1) * J(2, 2) - J(1, 2) ** 2)
           - J(0, 1) * (J(0, 1) * J(2, 2) - J(1, 2) * J(0, 2))
           + J(0, 2) * (J(0, 1) * J(1, 2) - J(1, 1) * J(0, 2)))
    return det, trace


def _max_filter(image, radius):
    """The largest value within ``radius`` voxels along every axis (a cube), as separable 1D max-pooling."""
    for axis in range(2, image.dim()):
        moved = image.movedim(axis, -1)
        lines = F.max_pool1d(moved.reshape(-1, 1, moved.shape[-1]), 2 * radius + 1, stride=1, padding=radius)
        image = lines.reshape(moved.shape).movedim(-1, axis)
    return image


def cornerness(image, *, sigma=1.0, rho=2.0, eps=1e-12):
    """The Förstner measure ``w = det(J) / trace(J)`` of the structure tensor ``J``.

    ``J = G_rho * (∇I_sigma ∇I_sigmaᵀ)`` sums the gradient's outer products over a
    neighbourhood. ``det(J)`` is large only where the gradient varies in every
    direction (a corner or a blob), not along a straight edge, where ``J`` has a
    zero eigenvalue; dividing by the trace makes the measure scale like the
    squared gradient instead of its square.

    Args:
        image: ``(B, 1, *spatial)`` float image.
        sigma: Gaussian pre-smoothing of the image, voxels.
        rho: Gaussian integration scale of the structure tensor, voxels.

    Returns:
        Tensor ``(B, 1, *spatial)``, ≥ 0.

    Example:
        >>> square = torch.zeros(1, 1, 21, 21); square[..., 5:16, 5:16] = 1.0
        >>> w = cornerness(square)
        >>> divmod(int(w.argmax()), 21) in [(6, 6), (6, 14), (14, 6), (14, 14)]   # just inside a corner
        True
    """
    ndim = check_image("cornerness", "image", image)
    if image.shape[1] != 1:
        raise ValueError(f"cornerness(): expected a single-channel image (B, 1, *spatial), got {tuple(image.shape)}.")
    det, trace = _determinant_and_trace(_structure_tensor(image, sigma, rho), ndim)
    return (det / (trace + eps)).clamp_min(0)


def detect_landmarks(image, *, count=20, mask=None, sigma=1.0, rho=2.0, min_distance=5, border=3):
    """The ``count`` most distinctive, well-separated points of an image (local maxima of :func:`cornerness`).

    A voxel is a candidate when its cornerness is the largest within
    ``min_distance`` voxels (a max-pooling window), when it lies inside ``mask``
    and at least ``border`` voxels away from the image border; the ``count``
    strongest candidates are returned, strongest first.

    Args:
        image: ``(B, 1, *spatial)`` float image (the fixed image).
        count: how many landmarks per batch element.
        mask: optional ``(B, 1, *spatial)`` bool/int/float tensor; landmarks only where it is nonzero
            (e.g. ``labels > 0`` for the brain).
        sigma, rho: scales of :func:`cornerness`, voxels.
        min_distance: the smallest distance between two landmarks, voxels (Chebyshev).
        border: keep this many voxels away from the image border.

    Returns:
        Tensor ``(B, count, ndim)`` of integer-valued voxel coordinates (axis order), in the image's dtype.

    Raises:
        ValueError: bad shapes, or fewer than ``count`` candidates (lower ``count`` or ``min_distance``).

    Example:
        >>> square = torch.zeros(1, 1, 21, 21); square[..., 5:16, 5:16] = 1.0
        >>> detect_landmarks(square, count=4).squeeze(0).tolist()   # the corners, one voxel inside
        [[6.0, 6.0], [6.0, 14.0], [14.0, 6.0], [14.0, 14.0]]
    """
    ndim = check_image("detect_landmarks", "image", image)
    if mask is not None and (mask.shape[0] != image.shape[0] or mask.shape[2:] != image.shape[2:]):
        raise ValueError(f"detect_landmarks(): expected `mask` of shape {(image.shape[0], 1, *image.shape[2:])}, "
                         f"got {tuple(mask.shape)}.")
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"detect_landmarks(): expected `count` to be an int >= 1, got {count!r}.")
    response = cornerness(image, sigma=sigma, rho=rho)
    peak = response == _max_filter(response, min_distance)
    candidate = peak & (response > 0)
    if mask is not None:
        candidate = candidate & (mask != 0)
    inside = torch.zeros_like(candidate)
    inside[(..., *[slice(border, n - border) for n in image.shape[2:]])] = True
    candidate = candidate & inside
    scores = torch.where(candidate, response, torch.full_like(response, -1.0)).flatten(1)   # (B, N)
    available = int(candidate.flatten(1).sum(dim=1).min())
    if available < count:
        raise ValueError(
            f"detect_landmarks(): expected at least count={count} candidate points, found {available}. "
            "Hint: lower `count` or `min_distance`, or use a larger mask."
        )
    # order: strongest first; equal scores broken by the lower index (torch.sort is stable)
    index = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :count]      # (B, count)
    coordinates = torch.stack(torch.unravel_index(index, tuple(image.shape[2:])), dim=-1)   # (B, count, ndim)
    order = torch.argsort(index, dim=1)                                                     # report in raster order
    return torch.gather(coordinates, 1, order[..., None].expand(-1, -1, ndim)).to(image.dtype)


class LandmarkPairs(NamedTuple):
    """What :func:`landmark_pairs` returns."""

    fixed: torch.Tensor
    """``(B, N, ndim)`` landmarks in the fixed image, voxels."""
    moving: torch.Tensor
    """``(B, N, ndim)`` the same anatomical points in the moving image: ``fixed + u(fixed)``."""


def landmark_pairs(fixed, displacement, *, count=20, mask=None, **options):
    """Landmarks on the fixed image and their exact partners in the moving image.

    Detects points ``p`` on ``fixed`` (:func:`detect_landmarks`) and maps them
    with the true displacement: ``q = p + u(p)`` (:func:`reglab.warp_points`).
    Because ``p`` is a voxel centre, ``u(p)`` is a stored value: the pairs are exact.

    Args:
        fixed: ``(B, 1, *spatial)`` fixed image.
        displacement: ``(B, ndim, *spatial)`` true displacement, voxels, on the fixed grid.
        count, mask, options: passed to :func:`detect_landmarks`.

    Returns:
        :class:`LandmarkPairs` ``(fixed, moving)``, each ``(B, count, ndim)`` in voxels.

    Example:
        >>> dot = torch.zeros(1, 1, 16, 16); dot[0, 0, 8, 5] = 1.0
        >>> u = torch.zeros(1, 2, 16, 16); u[:, 1] = 2.0            # the moving dot is 2 columns to the right
        >>> pairs = landmark_pairs(dot, u, count=1)
        >>> pairs.fixed.tolist(), pairs.moving.tolist()
        ([[[8.0, 5.0]]], [[[8.0, 7.0]]])
    """
    ndim = check_image("landmark_pairs", "fixed", fixed)
    check_displacement("landmark_pairs", "displacement", displacement, ndim=ndim, spatial=fixed.shape[2:])
    points = detect_landmarks(fixed, count=count, mask=mask, **options).to(displacement.dtype)
    return LandmarkPairs(points, warp_points(points, displacement))
