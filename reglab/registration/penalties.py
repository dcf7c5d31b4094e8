"""Additional penalties P of the lecture's objective ``C + λ R + μ P``: landmarks and label overlap.

Each builder takes the annotations once and returns a function ``P(u) -> 0-d
tensor`` of the full-resolution displacement, for ``penalty=`` of
:func:`~reglab.registration.engine.register` (weight ``μ``: ``penalty_weight=``).

Lab 05 ("Classical registration").
"""

import torch

from reglab.validation import check_image, check_points
from reglab.warping import warp, warp_points


def landmark_penalty(fixed_points, moving_points):
    """P(u) = mean ``‖p + u(p) - q‖²`` over corresponding landmarks ``p`` (fixed) and ``q`` (moving), in voxels².

    Args:
        fixed_points, moving_points: ``(B, N, ndim)`` voxel coordinates on the fixed and moving grids.

    Returns:
        A function of the displacement ``(B, ndim, *spatial)`` (full resolution), for ``penalty=`` of :func:`register`.

    Example:
        >>> p = torch.tensor([[[2.0, 3.0]]]); u = torch.zeros(1, 2, 8, 8); u[:, 0] = 1.0
        >>> landmark_penalty(p, p + torch.tensor([1.0, 2.0]))(u)
        tensor(4.)
    """
    check_points("landmark_penalty", "fixed_points", fixed_points, fixed_points.shape[-1])
    check_points("landmark_penalty", "moving_points", moving_points, fixed_points.shape[-1])

    def penalty(displacement):
        points = fixed_points.to(displacement)
        mapped = warp_points(points.expand(displacement.shape[0], -1, -1), displacement)
        return (mapped - moving_points.to(displacement)).pow(2).sum(-1).mean()

    return penalty


def label_penalty(fixed_labels, moving_labels, *, labels=None):
    """P(u) = 1 - mean soft Dice of the label maps: moving labels warped linearly (one indicator per label).

    Args:
        fixed_labels, moving_labels: ``(B, 1, *spatial)`` integer label maps on the fixed grid.
        labels: the labels to compare (default: the non-zero labels of ``fixed_labels``).

    Returns:
        A function of the displacement, for ``penalty=`` of :func:`register`; 0 for a perfect overlap.

    Example:
        >>> fixed = torch.zeros(1, 1, 8, 8, dtype=torch.long); fixed[..., 2:6, 2:6] = 1
        >>> label_penalty(fixed, fixed)(torch.zeros(1, 2, 8, 8)).item()
        0.0
    """
    check_image("label_penalty", "fixed_labels", fixed_labels, allow_integer=True)
    check_image("label_penalty", "moving_labels", moving_labels, allow_integer=True)
    chosen = [int(v) for v in (labels if labels is not None else fixed_labels.unique()) if int(v) != 0]

    def penalty(displacement):
        scores = []
        for value in chosen:
            fixed = (fixed_labels == value).to(displacement)
            warped = warp((moving_labels == value).to(displacement), displacement)
            overlap = 2 * (fixed * warped).flatten(1).sum(1)
            scores.append(overlap / (fixed.flatten(1).sum(1) + warped.flatten(1).sum(1)).clamp_min(1e-6))
        return 1 - torch.stack(scores).mean() if scores else displacement.new_zeros(())

    return penalty
