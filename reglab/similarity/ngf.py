"""Normalized gradient fields: images match where their edges are parallel.

=======  =============================================  ==========  ======
measure  formula (per channel, averaged over channels)  range       better
=======  =============================================  ==========  ======
``ngf``  ``1/N Σ 1 - (∇F·∇M / ‖∇F‖_ε‖∇M‖_ε)²``          ``[0, 1]``  lower
=======  =============================================  ==========  ======

A multimodal measure for images whose intensity changes occur at corresponding
places (the lecture's equation 2.22). Lab 03, exercise 3.4.

References:
    Haber & Modersitzki 2006.
"""

import torch

from reglab.similarity._reduction import _check_pair, _reduce, _weighted_mean


def _image_gradient(image):
    """Central differences (one-sided at the borders) along every spatial axis: ``(B, C, ndim, *spatial)``.

    An axis of 1 voxel has no neighbour to differ from: its derivative is 0.
    """
    derivatives = [torch.gradient(image, dim=axis)[0] if image.shape[axis] > 1 else torch.zeros_like(image)
                   for axis in range(2, image.dim())]
    return torch.stack(derivatives, dim=2)


def ngf(fixed, warped, *, eps=0.01, mask=None, reduction="mean"):
    """Normalized gradient fields distance; lower is better.

    ``NGF = 1/N Σ_i 1 - (⟨∇F, ∇M⟩ / (‖∇F‖_ε ‖∇M‖_ε))²`` with ``‖v‖_ε = sqrt(‖v‖² + ε²)``.
    Two images match when their edges are parallel (or anti-parallel: the square
    ignores the contrast direction), whatever their intensities. The lecture writes
    the sum; dividing by ``N`` keeps the value in ``[0, 1]`` for any image size.
    Gradients are central differences (one-sided at the borders), in intensity per voxel;
    0 along an axis of a single voxel.

    Args:
        fixed, warped, mask, reduction: as :func:`ssd`.
        eps: edge-noise level ``ε > 0`` in intensity units per voxel: gradients much
            smaller than ``ε`` count as no edge (their voxel scores 1). Scale it with
            the intensity range (0.01 suits images in [0, 1]).

    Returns:
        Tensor in ``[0, 1]``; 1 where either image has no edge.

    Example:
        >>> f = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> ngf(f, -2 * f, eps=1e-3) < 1e-5, round(ngf(f, f.transpose(2, 3), eps=1e-3).item(), 4)
        (tensor(True), 0.7785)

    Lab 03, exercise 3.4. References: Haber & Modersitzki 2006.
    """
    _, weights = _check_pair("ngf", fixed, warped, mask, reduction)
    if not eps > 0:
        raise ValueError(f"ngf(): expected `eps` > 0 (it keeps ‖∇I‖_ε away from 0), got {eps!r}.")
    grad_f, grad_m = _image_gradient(fixed), _image_gradient(warped)    # (B, C, ndim, *spatial)
    inner = (grad_f * grad_m).sum(dim=2)
    norm_f = (grad_f.pow(2).sum(dim=2) + eps**2).sqrt()
    norm_m = (grad_m.pow(2).sum(dim=2) + eps**2).sqrt()
    distance = 1 - (inner / (norm_f * norm_m)) ** 2
    return _reduce(_weighted_mean(distance, weights), reduction)
