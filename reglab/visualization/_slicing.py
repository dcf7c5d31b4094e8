"""Slicing and axes: from a reglab tensor to a labelled 2D picture, shared by every plot of the package.

The conventions of :mod:`reglab.visualization` live here: an image ``(B, C, *spatial)``
shows element 0, channel 0 (:func:`_volume`); a displacement keeps its vector axis
second (:func:`_field`); a 3D volume shows the slice ``index`` across ``axis``
(:func:`_slice`); ``spacing`` turns voxel axes into mm (:func:`_scale`, :func:`_draw`).
Private: the plotting files import these helpers, users do not.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch


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
