"""Static pictures of images: fixed / moving / warped, overlay, checkerboard, difference, stages, 3D slices.

:func:`show_registration` (fixed / moving / warped with one intensity range),
:func:`overlay` (magenta-green, built by :func:`overlay_image`), :func:`checkerboard`
(built by :func:`checkerboard_image`), :func:`difference`, :func:`compare_view` (one of
:data:`MODES`, before or after registration), :func:`show_stages` (the lecture's panels:
before, after initial alignment, after nonrigid registration), :func:`orthogonal_slices` (3D).

Labs 02, 04, 05, 06, 07 and 08 use this module.
"""

import numpy as np
import torch  # noqa: F401  (the examples below build tensors)

from reglab.visualization._slicing import _axes, _draw, _numpy, _range, _slice, _volume

MODES = ("side by side", "overlay", "checkerboard", "difference")
"""What :func:`compare_view` and :func:`~reglab.visualization.viewer` can show."""


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
        ax: axes to draw on. axis, index, spacing: as everywhere in this package.
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

    This is what :func:`~reglab.visualization.viewer` draws each time a control changes; calling it
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
        >>> compare_view(f, m, m, mode="difference", stage="after")[0].get_title()
        'after: fixed − warped'
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
        ax.set_title("fixed − moving" if stage == "before" else "fixed − warped")
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
