"""Pictures of a displacement ``u``: the deformed grid, arrows, Jacobian-determinant and curl maps.

:func:`deformation_grid` (the fixed grid's lines carried through ``x + u(x)``),
:func:`quiver` (arrows from ``x`` to ``x + u(x)``), :func:`jacobian_map` (centred at 1,
folds in black), :func:`curl_map` (local rotation, centred at 0). The numbers come
from :mod:`reglab.evaluation`.

Labs 02, 04, 06, 07 and 08 use this module.
"""

import numpy as np
import torch
from matplotlib.colors import ListedColormap, TwoSlopeNorm

from reglab import evaluation
from reglab.visualization._slicing import _axes, _draw, _field, _label_axes, _plane_axes, _scale, _slice, _volume


def _in_plane(fn, displacement, axis, index):
    """The displacement's two in-plane components on the shown slice, ``(2, h, w)``, and ndim."""
    field = _field(fn, displacement)
    ndim = field.shape[0]
    rows, columns = _plane_axes(ndim, axis)
    return np.stack([_slice(field[rows], axis, index), _slice(field[columns], axis, index)]), ndim


def deformation_grid(displacement, *, image=None, step=4, ax=None, axis=0, index=None, spacing=None, color="C1"):
    """The fixed grid's lines carried through ``y(x) = x + u(x)``, drawn over ``image``.

    Every ``step``-th row and column of the fixed grid is drawn at its
    transformed position ``x + u(x)``, i.e. where it lands in the moving image,
    so draw it over the moving image. Straight, evenly spaced lines mean no
    deformation; crossing lines mean folding.

    Args:
        displacement: ``(B, ndim, *spatial)`` or ``(ndim, *spatial)`` in voxels.
        image: optional background image on the same grid (e.g. the moving image).
        step: distance between drawn lines, in voxels.
        ax, axis, index, spacing: as everywhere in this package. color: line colour.

    Returns:
        The ``Axes``.

    Example:
        >>> ax = deformation_grid(torch.zeros(1, 2, 9, 9), step=4)
        >>> len(ax.lines)                     # 3 rows and 3 columns of the grid
        6
    """
    plane, ndim = _in_plane("deformation_grid", displacement, axis, index)
    sy, sx, unit = _scale(spacing, ndim, axis)
    ax = _axes(ax)
    if image is not None:
        volume = _volume("deformation_grid", image)
        _draw(ax, _slice(volume, axis, index), ndim, axis, spacing, cmap="gray")
    h, w = plane.shape[1:]
    rows, columns = np.indices((h, w))
    y_row, y_column = (rows + plane[0]) * sy, (columns + plane[1]) * sx            # transformed positions in mm
    for r in range(0, h, step):
        ax.plot(y_column[r], y_row[r], color=color, linewidth=0.8)
    for c in range(0, w, step):
        ax.plot(y_column[:, c], y_row[:, c], color=color, linewidth=0.8)
    ax.set_xlim(-0.5 * sx, (w - 0.5) * sx)
    ax.set_ylim((h - 0.5) * sy, -0.5 * sy)
    ax.set_aspect("equal")
    _label_axes(ax, ndim, axis, unit)
    ax.set_title("deformation grid")
    return ax


def quiver(displacement, *, image=None, step=4, ax=None, axis=0, index=None, spacing=None, color="C1"):
    """Arrows from ``x`` to ``x + u(x)`` on every ``step``-th voxel (in-plane components, true length).

    Returns:
        The ``Axes``.

    Example:
        >>> u = torch.zeros(1, 2, 8, 8); u[:, 1] = 1.0
        >>> quiver(u, step=4).collections[0].get_offsets().shape    # 2 x 2 arrows
        (4, 2)
    """
    plane, ndim = _in_plane("quiver", displacement, axis, index)
    sy, sx, unit = _scale(spacing, ndim, axis)
    ax = _axes(ax)
    if image is not None:
        volume = _volume("quiver", image)
        _draw(ax, _slice(volume, axis, index), ndim, axis, spacing, cmap="gray")
    h, w = plane.shape[1:]
    rows, columns = np.mgrid[0:h:step, 0:w:step]
    ax.quiver(columns * sx, rows * sy, plane[1, rows, columns] * sx, plane[0, rows, columns] * sy,
              angles="xy", scale_units="xy", scale=1, color=color, width=0.004)
    if image is None:
        ax.set_xlim(-0.5 * sx, (w - 0.5) * sx)
        ax.set_ylim((h - 0.5) * sy, -0.5 * sy)
        ax.set_aspect("equal")
        _label_axes(ax, ndim, axis, unit)
    ax.set_title("displacement u(x)")
    return ax


def jacobian_map(displacement, *, ax=None, axis=0, index=None, spacing=None, stencil="central"):
    """Map of the Jacobian determinant, diverging colours centred at 1, folds (``J ≤ 0``) in black.

    Blue shrinks (J < 1), red expands (J > 1), white keeps the volume.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        ax, axis, index, spacing: as everywhere in this package. stencil: of :func:`reglab.evaluation.jacobian_determinant`.

    Returns:
        The ``Axes``; its title counts the folded voxels of the slice.

    Example:
        >>> u = torch.zeros(1, 2, 5, 5); u[:, 1, :, 2] = 3.0
        >>> jacobian_map(u).get_title()
        'Jacobian determinant: 5 folded'
    """
    field = torch.as_tensor(_field("jacobian_map", displacement))[None]
    determinant = evaluation.jacobian_determinant(field, stencil=stencil)[0].numpy()
    ndim = determinant.ndim
    plane = _slice(determinant, axis, index)
    ax = _axes(ax)
    norm = TwoSlopeNorm(vmin=min(float(plane.min()), 0.0), vcenter=1.0, vmax=max(float(plane.max()), 2.0))
    shown = _draw(ax, plane, ndim, axis, spacing, cmap="RdBu_r", norm=norm)
    folded = plane <= 0
    if folded.any():
        _draw(ax, np.ma.masked_where(~folded, folded.astype(float)), ndim, axis, spacing,
              cmap=ListedColormap(["black"]))
    ax.figure.colorbar(shown, ax=ax, label="J (black: J ≤ 0)", shrink=0.8)
    ax.set_title(f"Jacobian determinant: {int(folded.sum())} folded")
    return ax


def curl_map(displacement, *, ax=None, axis=0, index=None, spacing=None):
    """Map of the curl (local rotation), diverging colours centred at 0.

    In 3D the component across the slice is shown (axis ``axis``): the rotation within the plane.

    Returns:
        The ``Axes``.

    Example:
        >>> curl_map(torch.zeros(1, 3, 4, 5, 6)).get_title()
        'curl, component 0'
    """
    field = torch.as_tensor(_field("curl_map", displacement))[None]
    rotation = evaluation.curl(field, spacing=spacing)[0].numpy()
    ndim = field.shape[1]
    plane = _slice(rotation, axis, index) if ndim == 2 else _slice(rotation[axis], axis, index)
    ax = _axes(ax)
    limit = max(float(np.abs(plane).max()), 1e-6)
    shown = _draw(ax, plane, ndim, axis, spacing, cmap="PuOr_r", vmin=-limit, vmax=limit)
    ax.figure.colorbar(shown, ax=ax, label="curl (2 sin θ for a rotation by θ)", shrink=0.8)
    ax.set_title("curl" if ndim == 2 else f"curl, component {axis}")
    return ax
