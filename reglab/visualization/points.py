"""Landmarks with their target registration error (TRE) segments, before or after registration.

:func:`landmarks` draws fixed and moving landmarks and the segments whose mean
length is :func:`reglab.evaluation.tre`.

Lab 08 ("Evaluation") uses this module.
"""

import torch

from reglab import evaluation
from reglab.visualization._slicing import _axes, _draw, _field, _label_axes, _plane_axes, _scale, _slice, _volume
from reglab.warping import warp_points


def landmarks(fixed_points, moving_points, *, displacement=None, image=None, ax=None, axis=0, spacing=None):
    """Landmarks with their TRE segments: fixed (green circles), moving (magenta crosses).

    Without ``displacement`` the segments join every fixed landmark ``p`` to its
    partner ``q`` (TRE before registration). With it, ``p`` is carried to
    ``p + u(p)`` (orange dots, :func:`reglab.warp_points`) and the segments join
    ``p + u(p)`` to ``q``: the error left after registration. In 3D the points
    are projected onto the plane of the two axes other than ``axis``.

    Args:
        fixed_points, moving_points: ``(B, N, ndim)`` or ``(N, ndim)`` in voxels.
        displacement: optional ``(B, ndim, *spatial)`` in voxels.
        image: optional background, e.g. the moving image (its slice through the middle).
        ax, axis, spacing: as everywhere in this package.

    Returns:
        The ``Axes``; its title gives the mean TRE.

    Example:
        >>> p = torch.tensor([[[2.0, 2.0], [5.0, 3.0]]])
        >>> landmarks(p, p + torch.tensor([0.0, 3.0])).get_title()
        'mean TRE 3.000 voxels'
    """
    fixed_points = torch.as_tensor(fixed_points, dtype=torch.float64)
    moving_points = torch.as_tensor(moving_points, dtype=torch.float64)
    if fixed_points.dim() == 2:
        fixed_points, moving_points = fixed_points[None], moving_points[None]
    ndim = fixed_points.shape[-1]
    field = None if displacement is None else torch.as_tensor(_field("landmarks", displacement))[None]
    errors = evaluation.tre(fixed_points, moving_points, field, spacing=spacing)
    mapped = fixed_points if field is None else warp_points(fixed_points, field)
    rows, columns = _plane_axes(ndim, axis)
    sy, sx, unit = _scale(spacing, ndim, axis)
    ax = _axes(ax)
    if image is not None:
        _draw(ax, _slice(_volume("landmarks", image), axis, None), ndim, axis, spacing, cmap="gray")
    p, q, m = (x[0].numpy() for x in (fixed_points, moving_points, mapped))
    for start, end in zip(m, q):
        ax.plot([start[columns] * sx, end[columns] * sx], [start[rows] * sy, end[rows] * sy], color="yellow",
                linewidth=1)
    ax.scatter(p[:, columns] * sx, p[:, rows] * sy, facecolors="none", edgecolors="lime", label="fixed")
    ax.scatter(q[:, columns] * sx, q[:, rows] * sy, marker="x", color="magenta", label="moving")
    if field is not None:
        ax.scatter(m[:, columns] * sx, m[:, rows] * sy, s=12, color="orange", label="fixed, mapped")
    if image is None:
        ax.invert_yaxis()
        ax.set_aspect("equal")
        _label_axes(ax, ndim, axis, unit)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"mean TRE {float(errors.mean()):.3f} {unit}")
    return ax
