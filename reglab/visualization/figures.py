"""Visual assessment of a registration: the pictures that go with the numbers of :mod:`reglab.evaluation`.

Images:
    :func:`show_registration` (fixed / moving / warped with one intensity range),
    :func:`overlay` (magenta-green), :func:`checkerboard`, :func:`difference`,
    :func:`show_stages` (the lecture's panels: before, after initial alignment,
    after nonrigid registration), :func:`orthogonal_slices` (3D).
Fields:
    :func:`deformation_grid`, :func:`quiver`, :func:`jacobian_map`, :func:`curl_map`.
Landmarks:
    :func:`landmarks` (with TRE segments).
Interactive:
    :func:`viewer`, an ipywidgets viewer whose drawing is the plain function :func:`compare_view`.

Conventions shared by every function:

* inputs are reglab tensors (``(B, C, *spatial)`` images, ``(B, ndim, *spatial)``
  displacements in voxels; the first batch element and channel are shown) or
  plain 2D/3D arrays;
* a 3D volume is shown as the slice ``index`` (default: the middle) across
  ``axis`` (default 0); the two remaining axes become rows and columns;
* ``spacing`` (mm, axis order) scales the axes to mm; without it they are in voxels;
* every plot takes an optional ``ax`` (or ``axes``), labels its axes with units
  and returns the axes it drew on (an ``Axes``, or a NumPy array of them).

Lab 08 ("Evaluation") uses every function here.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap, TwoSlopeNorm

from reglab import evaluation
from reglab.warping import warp_points

MODES = ("side by side", "overlay", "checkerboard", "difference")
"""What :func:`compare_view` and :func:`viewer` can show."""


# --------------------------------------------------------------------------- slicing and axes


def _numpy(value):
    """A NumPy float array from a tensor (any device) or array."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().astype(np.float64)
    return np.asarray(value, dtype=np.float64)


def _volume(fn, image):
    """The spatial array of an image: ``(B, C, *spatial)`` → element 0, channel 0; 2D/3D arrays as they are."""
    array = _numpy(image)
    if array.ndim in (4, 5):
        return array[0, 0]
    if array.ndim in (2, 3):
        return array
    raise ValueError(f"{fn}(): expected an image (B, C, H, W), (B, C, D, H, W) or a 2D/3D array, got shape {array.shape}.")


def _field(fn, displacement):
    """The ``(ndim, *spatial)`` array of a displacement ``(B, ndim, *spatial)`` or ``(ndim, *spatial)``."""
    array = _numpy(displacement)
    if array.ndim in (4, 5) and array.shape[1] == array.ndim - 2:
        array = array[0]
    if array.ndim != array.shape[0] + 1 or array.shape[0] not in (2, 3):
        raise ValueError(f"{fn}(): expected a displacement (B, ndim, *spatial) or (ndim, *spatial), "
                         f"got shape {array.shape}. Hint: reglab keeps the vector axis second, not last.")
    return array


def _plane_axes(ndim, axis):
    """The two axes shown as (rows, columns)."""
    return (0, 1) if ndim == 2 else tuple(a for a in range(3) if a != axis)


def _slice(array, axis, index):
    """A 2D slice of a 2D/3D spatial array: itself in 2D, ``index`` across ``axis`` in 3D (middle by default)."""
    if array.ndim == 2:
        return array
    index = array.shape[axis] // 2 if index is None else index
    return np.take(array, index, axis=axis)


def _scale(spacing, ndim, axis):
    """(row, column) voxel size of the shown plane and the unit name."""
    rows, columns = _plane_axes(ndim, axis)
    if spacing is None:
        return 1.0, 1.0, "voxels"
    return float(spacing[rows]), float(spacing[columns]), "mm"


def _label_axes(ax, ndim, axis, unit):
    rows, columns = _plane_axes(ndim, axis)
    ax.set_xlabel(f"axis {columns} ({unit})")
    ax.set_ylabel(f"axis {rows} ({unit})")


def _draw(ax, plane, ndim, axis, spacing, **style):
    """``imshow`` of a 2D plane with the voxel centres at ``index * spacing``; labels the axes; returns the image."""
    sy, sx, unit = _scale(spacing, ndim, axis)
    h, w = plane.shape[:2]
    extent = (-0.5 * sx, (w - 0.5) * sx, (h - 0.5) * sy, -0.5 * sy)
    shown = ax.imshow(plane, extent=extent, interpolation="nearest", **style)
    _label_axes(ax, ndim, axis, unit)
    return shown


def _axes(ax, count=1, size=3.2):
    """``ax`` when given, else a new figure with ``count`` axes in a row."""
    if ax is not None:
        return ax
    figure, axes = plt.subplots(1, count, figsize=(size * count, size), squeeze=False, layout="constrained")
    return axes[0, 0] if count == 1 else axes[0]


def _range(*arrays):
    """One intensity range (min, max) over several arrays."""
    low = min(float(a.min()) for a in arrays)
    high = max(float(a.max()) for a in arrays)
    return low, (high if high > low else low + 1.0)


# --------------------------------------------------------------------------- images


def show_registration(fixed, moving, warped=None, *, axes=None, axis=0, index=None, spacing=None, cmap="gray"):
    """Fixed, moving and (optionally) warped images side by side, in that order, with one intensity range.

    One range matters: with separate ranges a change of contrast looks like a
    change of anatomy, and a good registration can look bad.

    Args:
        fixed, moving, warped: images ``(B, C, *spatial)`` or 2D/3D arrays of the same shape.
        axes: 2 or 3 axes to draw on; None makes a figure.
        axis, index: the slice of a 3D volume. spacing: mm, axis order.
        cmap: colour map.

    Returns:
        NumPy array of the axes (2 or 3).

    Example:
        >>> axes = show_registration(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
        >>> [a.get_title() for a in axes], axes[0].get_xlabel()
        (['fixed', 'moving', 'warped'], 'axis 1 (voxels)')
    """
    given = {"fixed": fixed, "moving": moving, "warped": warped}
    images = [(title, _volume("show_registration", image)) for title, image in given.items() if image is not None]
    axes = _axes(axes, len(images))
    low, high = _range(*(v for _, v in images))
    for ax, (title, volume) in zip(axes, images):
        shown = _draw(ax, _slice(volume, axis, index), volume.ndim, axis, spacing, cmap=cmap, vmin=low, vmax=high)
        ax.set_title(title)
    axes[0].figure.colorbar(shown, ax=list(axes), label="intensity", shrink=0.8)
    return np.asarray(axes)


def overlay_image(fixed, moving, *, value_range=None):
    """The magenta-green overlay of two 2D arrays: ``RGB = (moving, fixed, moving)``, each scaled to ``[0, 1]``.

    Where the images agree the result is grey; fixed-only structure is green,
    moving-only structure magenta.

    Args:
        fixed, moving: 2D arrays of the same shape.
        value_range: ``(low, high)`` shared by both; None takes it from both images.

    Returns:
        Array ``(H, W, 3)`` in ``[0, 1]``.

    Example:
        >>> overlay_image(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))[0]
        array([[1., 0., 1.],
               [1., 1., 1.]])
    """
    fixed, moving = _numpy(fixed), _numpy(moving)
    low, high = _range(fixed, moving) if value_range is None else value_range
    f = np.clip((fixed - low) / (high - low), 0, 1)
    m = np.clip((moving - low) / (high - low), 0, 1)
    return np.stack([m, f, m], axis=-1)


def overlay(fixed, moving, *, ax=None, axis=0, index=None, spacing=None, title="fixed (green) / moving (magenta)"):
    """Magenta-green overlay of two images (see :func:`overlay_image`).

    Args:
        fixed, moving: images ``(B, C, *spatial)`` or 2D/3D arrays of the same shape.
        ax: axes to draw on. axis, index, spacing: as everywhere in this module.
        title: the axes title.

    Returns:
        The ``Axes``.

    Example:
        >>> ax = overlay(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
        >>> ax.get_title()
        'fixed (green) / moving (magenta)'
    """
    f, m = _volume("overlay", fixed), _volume("overlay", moving)
    ax = _axes(ax)
    low, high = _range(f, m)
    _draw(ax, overlay_image(_slice(f, axis, index), _slice(m, axis, index), value_range=(low, high)), f.ndim, axis,
          spacing)
    ax.set_title(title)
    return ax


def checkerboard_image(fixed, moving, *, tile=8):
    """Alternate square tiles of two 2D arrays: fixed where ``(row // tile + column // tile)`` is even.

    Edges that continue straight across tile borders mean the images are aligned.

    Args:
        fixed, moving: 2D arrays of the same shape.
        tile: tile side in voxels (>= 1).

    Returns:
        Array ``(H, W)``.

    Example:
        >>> checkerboard_image(np.zeros((4, 4)), np.ones((4, 4)), tile=2)
        array([[0., 0., 1., 1.],
               [0., 0., 1., 1.],
               [1., 1., 0., 0.],
               [1., 1., 0., 0.]])
    """
    fixed, moving = _numpy(fixed), _numpy(moving)
    if not isinstance(tile, (int, np.integer)) or tile < 1:
        raise ValueError(f"checkerboard_image(): expected `tile` to be an int >= 1 (voxels), got {tile!r}.")
    rows, columns = np.indices(fixed.shape[:2])
    return np.where(((rows // tile + columns // tile) % 2 == 0), fixed, moving)


def checkerboard(fixed, moving, *, tile=8, ax=None, axis=0, index=None, spacing=None, cmap="gray"):
    """Checkerboard of two images with ``tile`` x ``tile`` voxel tiles (see :func:`checkerboard_image`).

    Returns:
        The ``Axes``.

    Example:
        >>> ax = checkerboard(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), tile=4)
        >>> ax.get_title()
        'checkerboard (4-voxel tiles)'
    """
    f, m = _volume("checkerboard", fixed), _volume("checkerboard", moving)
    ax = _axes(ax)
    low, high = _range(f, m)
    plane = checkerboard_image(_slice(f, axis, index), _slice(m, axis, index), tile=tile)
    _draw(ax, plane, f.ndim, axis, spacing, cmap=cmap, vmin=low, vmax=high)
    ax.set_title(f"checkerboard ({tile}-voxel tiles)")
    return ax


def difference(fixed, moving, *, ax=None, axis=0, index=None, spacing=None, colorbar=True):
    """The difference image ``fixed - moving`` in a diverging map centred at 0 (white = equal).

    Returns:
        The ``Axes``.

    Example:
        >>> ax = difference(torch.ones(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
        >>> ax.get_title(), float(ax.images[0].get_array().max())
        ('fixed − moving', 1.0)
    """
    f, m = _volume("difference", fixed), _volume("difference", moving)
    ax = _axes(ax)
    plane = _slice(f, axis, index) - _slice(m, axis, index)
    limit = max(float(np.abs(plane).max()), 1e-12)
    shown = _draw(ax, plane, f.ndim, axis, spacing, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, label="intensity difference", shrink=0.8)
    ax.set_title("fixed − moving")
    return ax


def compare_view(fixed, moving, warped=None, *, mode="overlay", stage="after", axis=0, index=None, tile=8,
                 spacing=None, axes=None):
    """One picture of a registration: ``mode`` of fixed vs moving (``stage="before"``) or vs warped (``"after"``).

    This is what :func:`viewer` draws each time a control changes; calling it
    directly gives the same picture without widgets.

    Args:
        fixed, moving, warped: images; ``warped`` is needed for ``stage="after"``.
        mode: one of :data:`MODES`.
        stage: ``"before"`` or ``"after"`` registration.
        axis, index, spacing: the slice and the units. tile: checkerboard tile in voxels.
        axes: axes to draw on (3 for ``"side by side"``, else 1); None makes a figure.

    Returns:
        NumPy array of the axes drawn on.

    Example:
        >>> f, m = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
        >>> compare_view(f, m, m, mode="checkerboard", stage="before", tile=2)[0].get_title()
        'before: checkerboard (2-voxel tiles)'
    """
    if mode not in MODES or stage not in ("before", "after"):
        raise ValueError(f"compare_view(): expected `mode` in {MODES} and `stage` in ('before', 'after'), "
                         f"got {mode!r} and {stage!r}.")
    if stage == "after" and warped is None:
        raise ValueError("compare_view(): expected a `warped` image for stage='after'.")
    other = moving if stage == "before" else warped
    slicing = {"axis": axis, "index": index, "spacing": spacing}
    if mode == "side by side":
        return show_registration(fixed, moving, warped if stage == "after" else None, axes=axes, **slicing)
    ax = _axes(axes[0] if axes is not None else None)
    if mode == "overlay":
        overlay(fixed, other, ax=ax, **slicing)
    elif mode == "checkerboard":
        checkerboard(fixed, other, tile=tile, ax=ax, **slicing)
    else:
        difference(fixed, other, ax=ax, **slicing)
    ax.set_title(f"{stage}: {ax.get_title()}")
    return np.asarray([ax])


def show_stages(fixed, stages, *, mode="overlay", axes=None, axis=0, index=None, tile=8, spacing=None):
    """The lecture's assessment panels: fixed vs each stage, e.g. before, after initial alignment, after nonrigid.

    Args:
        fixed: the fixed image.
        stages: ``{title: image}`` in order, e.g. ``{"before": moving, "IA": affine, "NR": warped}``.
        mode: ``"overlay"``, ``"checkerboard"`` or ``"difference"``.

    Returns:
        NumPy array of the axes, one per stage.

    Example:
        >>> f = torch.rand(1, 1, 8, 8)
        >>> [a.get_title() for a in show_stages(f, {"before": f.flip(2), "NR": f})]
        ['before', 'NR']
    """
    if mode not in MODES[1:]:
        raise ValueError(f"show_stages(): expected `mode` in {MODES[1:]}, got {mode!r}.")
    axes = np.atleast_1d(_axes(axes, len(stages)))
    for ax, (title, image) in zip(axes, stages.items()):
        compare_view(fixed, image, mode=mode, stage="before", axis=axis, index=index, tile=tile, spacing=spacing,
                     axes=[ax])
        ax.set_title(title)
    return axes


def orthogonal_slices(image, *, index=None, spacing=None, axes=None, cmap="gray", vmin=None, vmax=None, title=None):
    """Three orthogonal slices of a 3D volume through one point (default: the centre).

    Args:
        image: ``(B, C, D, H, W)`` or a 3D array.
        index: ``(i, j, k)`` the voxel the three planes go through.
        spacing: mm, axis order. axes: three axes; None makes a figure.
        cmap, vmin, vmax: display; the range is shared by the three panels.
        title: put before each panel's "axis n = i" title.

    Returns:
        NumPy array of the three axes (slices across axis 0, 1, 2).

    Example:
        >>> axes = orthogonal_slices(torch.rand(1, 1, 6, 7, 8))
        >>> [a.get_title() for a in axes]
        ['axis 0 = 3', 'axis 1 = 3', 'axis 2 = 4']
    """
    volume = _volume("orthogonal_slices", image)
    if volume.ndim != 3:
        raise ValueError(f"orthogonal_slices(): expected a 3D volume, got a {volume.ndim}D image.")
    index = [n // 2 for n in volume.shape] if index is None else list(index)
    axes = _axes(axes, 3)
    low, high = _range(volume) if vmin is None or vmax is None else (vmin, vmax)
    for axis, ax in enumerate(axes):
        shown = _draw(ax, _slice(volume, axis, index[axis]), 3, axis, spacing, cmap=cmap, vmin=low, vmax=high)
        ax.set_title(f"{title + ': ' if title else ''}axis {axis} = {index[axis]}")
    axes[0].figure.colorbar(shown, ax=list(axes), label="intensity", shrink=0.8)
    return np.asarray(axes)


# --------------------------------------------------------------------------- fields


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
        ax, axis, index, spacing: as everywhere in this module. color: line colour.

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
        ax, axis, index, spacing: as everywhere in this module. stencil: of :func:`reglab.evaluation.jacobian_determinant`.

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


# --------------------------------------------------------------------------- landmarks


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
        ax, axis, spacing: as everywhere in this module.

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


# --------------------------------------------------------------------------- interactive


def viewer(fixed, moving, warped=None, *, spacing=None, tile=8):
    """An interactive viewer: mode switch, before/after toggle, slice slider (3D) and tile size.

    Works in JupyterLab and Colab with plain ipywidgets and inline matplotlib;
    every change calls :func:`compare_view`, which you can also call yourself.

    Args:
        fixed, moving, warped: images of the same shape; without ``warped`` only "before" is offered.
        spacing: mm, axis order. tile: the initial checkerboard tile in voxels.

    Returns:
        An ``ipywidgets.interactive`` widget (display it as a cell's last expression).

    Example:
        >>> import contextlib, io
        >>> f = torch.rand(1, 1, 6, 8, 8)
        >>> with contextlib.redirect_stdout(io.StringIO()):     # outside a notebook the widget prints escape codes
        ...     widget = viewer(f, f.flip(2), f)
        >>> [child.description for child in widget.children[:-1]]
        ['mode', 'stage', 'axis', 'slice', 'tile']
    """
    import ipywidgets as widgets

    shape = _volume("viewer", fixed).shape
    three_d = len(shape) == 3
    controls = {
        "mode": widgets.ToggleButtons(options=MODES, value="overlay", description="mode"),
        "stage": widgets.ToggleButtons(options=("before", "after") if warped is not None else ("before",),
                                       value="after" if warped is not None else "before", description="stage"),
        "axis": widgets.IntSlider(0, 0, 2, description="axis") if three_d else widgets.fixed(0),
        "index": widgets.IntSlider(shape[0] // 2, 0, shape[0] - 1, description="slice") if three_d
        else widgets.fixed(None),
        "tile": widgets.IntSlider(tile, 1, 64, description="tile"),
    }
    if three_d:
        def follow_axis(change):                                     # the slider spans the chosen axis
            controls["index"].max = shape[change["new"]] - 1
            controls["index"].value = shape[change["new"]] // 2
        controls["axis"].observe(follow_axis, names="value")

    def draw(mode, stage, axis, index, tile):
        compare_view(fixed, moving, warped, mode=mode, stage=stage, axis=axis, index=index, tile=tile,
                     spacing=spacing)
        plt.show()

    return widgets.interactive(draw, **controls)
