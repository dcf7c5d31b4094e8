"""Images and transforms on disk, and the physical geometry that comes with them.

Inside reglab everything is in voxels (tensor axis order, see :mod:`reglab.grid`).
Millimetres enter and leave here. A :class:`Geometry` says where the voxels of
a tensor sit in physical space::

    physical point p = origin + direction · diag(spacing) · index      (ITK's definition)

Two orders meet at this edge, so be careful with them:

* **tensor axis order** ``(i, j[, k])`` = the order of ``tensor.shape[2:]``; this is
  the reverse of ITK's index order ``(x, y[, z])`` (SimpleITK's
  ``GetArrayFromImage`` reverses the axes). ``Geometry.spacing`` is given in
  tensor axis order, like every ``spacing=`` argument in reglab.
* **physical coordinates** are ITK's world coordinates (LPS, in mm, ordered
  ``(x, y[, z])``): ``Geometry.origin``, ``Geometry.direction`` and the points of
  ``index_to_physical`` are in that order, exactly as SimpleITK reports them.

Transforms exported here are read back by SimpleITK (and so by 3D Slicer) and
move points to the same places as reglab does; the tests check it with
SimpleITK's ``TransformPoint`` and ``Resample``.

Lab 01 ("How to transform images") uses this module for voxel vs physical space.

It is longer than ~300 lines because it is one thing, the edge where millimetres enter and leave: the
:class:`Geometry` both halves use, then images (read, write), then transforms (to ITK and back). It reads top to
bottom in that order; the transforms half needs the Geometry's matrices, so it stays beside them.
"""

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import SimpleITK as sitk
import torch

from reglab.grid import identity_grid
from reglab.validation import check_displacement, check_size, check_tensor


@dataclass(frozen=True)
class Geometry:
    """Where the voxels of a tensor sit in physical space.

    Attributes:
        spacing: voxel size in mm per axis, in **tensor axis order**.
        origin: physical position (mm, ITK ``(x, y[, z])``) of the centre of voxel 0.
        direction: ITK direction cosines, row-major ``ndim × ndim`` (physical axis ×
            ITK index axis), as ``sitk.Image.GetDirection()`` returns them.

    Example:
        >>> g = Geometry(spacing=(2.0, 1.0), origin=(10.0, 20.0), direction=(1.0, 0.0, 0.0, 1.0))
        >>> g.index_to_physical(torch.tensor([[3.0, 5.0]]))   # row 3, column 5 -> x = 10 + 5, y = 20 + 2·3
        tensor([[15., 26.]], dtype=torch.float64)
    """

    spacing: tuple
    origin: tuple
    direction: tuple

    def __post_init__(self):
        ndim = len(self.spacing)
        if ndim not in (2, 3) or len(self.origin) != ndim or len(self.direction) != ndim * ndim:
            raise ValueError(
                f"Geometry(): expected spacing and origin of length 2 or 3 and direction of length ndim², "
                f"got {len(self.spacing)}, {len(self.origin)} and {len(self.direction)}."
            )
        if any(s <= 0 for s in self.spacing):
            raise ValueError(f"Geometry(): expected positive `spacing` (mm), got {self.spacing}.")

    @classmethod
    def default(cls, ndim, *, spacing=None):
        """Unit (or given) spacing, origin 0, identity direction."""
        spacing = tuple(float(s) for s in (spacing or (1.0,) * ndim))
        return cls(spacing, (0.0,) * ndim, tuple(np.eye(ndim).flatten().tolist()))

    @property
    def ndim(self):
        return len(self.spacing)

    def matrix(self):
        """``(ndim + 1, ndim + 1)`` float64 homogeneous map: tensor-order voxel index → physical point."""
        n = self.ndim
        direction = torch.tensor(self.direction, dtype=torch.float64).reshape(n, n)
        itk_spacing = torch.tensor(self.spacing[::-1], dtype=torch.float64)         # ITK index order
        reverse = torch.eye(n, dtype=torch.float64).flip(0)                          # tensor order -> ITK order
        m = torch.eye(n + 1, dtype=torch.float64)
        m[:n, :n] = direction @ torch.diag(itk_spacing) @ reverse
        m[:n, n] = torch.tensor(self.origin, dtype=torch.float64)
        return m

    def index_to_physical(self, points):
        """``(..., ndim)`` voxel coordinates (tensor axis order) → physical points (mm, ITK order), float64."""
        m = self.matrix().to(points.device)
        return points.to(torch.float64) @ m[:-1, :-1].T + m[:-1, -1]

    def physical_to_index(self, points):
        """``(..., ndim)`` physical points (mm, ITK order) → voxel coordinates (tensor axis order), float64."""
        m = torch.linalg.inv(self.matrix()).to(points.device)
        return points.to(torch.float64) @ m[:-1, :-1].T + m[:-1, -1]


class Image(NamedTuple):
    """What :func:`read_image` returns."""

    data: torch.Tensor
    """``(1, C, *spatial)``: floating point (a scan, see :func:`read_image`), or int64 for a label map read with
    ``labels=True``."""
    geometry: Geometry


def _scan_dtype(dtype):
    """The floating dtype that holds every value of a NumPy ``dtype`` exactly (float32 up to 16-bit integers)."""
    if np.issubdtype(dtype, np.floating):
        return np.float64 if dtype == np.float64 else np.float32
    return np.float32 if np.dtype(dtype).itemsize <= 2 else np.float64     # 32/64-bit integers need float64


def from_sitk(image, *, labels=False):
    """A SimpleITK image → :class:`Image` (tensor ``(1, C, *spatial)`` in tensor axis order + geometry).

    ``labels=False``: floating point with the image's values (see :func:`read_image`);
    ``labels=True``: int64 label numbers.
    """
    array = sitk.GetArrayFromImage(image)                    # (z, y, x[, C]): reversed axes
    if image.GetNumberOfComponentsPerPixel() == 1:
        array = array[None]
    else:
        array = np.moveaxis(array, -1, 0)
    if labels:
        if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool or np.array_equal(array, np.round(array))):
            raise ValueError("from_sitk(): expected whole label numbers with labels=True, got fractional values.")
        data = torch.from_numpy(array.astype(np.int64))
    else:
        data = torch.from_numpy(array.astype(_scan_dtype(array.dtype)))
    geometry = Geometry(tuple(image.GetSpacing()[::-1]), tuple(image.GetOrigin()), tuple(image.GetDirection()))
    return Image(data[None], geometry)


def to_sitk(data, geometry=None):
    """A tensor ``(1, C, *spatial)`` (+ geometry) → SimpleITK image (vector image when C > 1)."""
    check_tensor("to_sitk", "data", data)
    if data.dim() not in (4, 5) or data.shape[0] != 1:
        raise ValueError(f"to_sitk(): expected `data` of shape (1, C, H, W) or (1, C, D, H, W), got {tuple(data.shape)}.")
    ndim = data.dim() - 2
    geometry = geometry or Geometry.default(ndim)
    if geometry.ndim != ndim:
        raise ValueError(f"to_sitk(): expected a {ndim}D `geometry` for this tensor, got {geometry.ndim}D.")
    array = data[0].detach().cpu().numpy()
    if array.shape[0] == 1:
        image = sitk.GetImageFromArray(array[0])
    else:
        image = sitk.GetImageFromArray(np.moveaxis(array, 0, -1), isVector=True)
    image.SetSpacing(geometry.spacing[::-1])
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    return image


def read_image(path, *, labels=False):
    """Read an image file (NIfTI, MHA/MHD, NRRD, PNG, ...) or a DICOM series folder.

    A scan is read as **floating point with the scan's own values**, ready for
    ``register`` and the similarity measures: CT in Hounsfield units stays
    -1000 … 3000, an 8-bit MR stays 0 … 255 (no rescaling). Files of 8- and
    16-bit integers (the usual uint8/int16/uint16 scans) and of float16/float32
    give float32, which holds all their values exactly; 32/64-bit integers and
    float64 give float64. DICOM rescale slope/intercept are applied by SimpleITK.
    Label maps (segmentations) are read with ``labels=True`` as int64, for
    :func:`reglab.evaluation.dice` and ``warp(..., mode="nearest")``.

    Args:
        path: a file, or a folder holding one DICOM series.
        labels: read a label map: int64 label numbers instead of floating point.

    Returns:
        :class:`Image` ``(data, geometry)``: ``data`` is ``(1, C, *spatial)`` in tensor
        axis order (the reverse of ITK's x, y, z), float32/float64, or int64 with ``labels=True``.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: SimpleITK cannot read it, a folder holds no DICOM series, or
            ``labels=True`` and the file holds fractional values.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"read_image(): no such file or folder: {path}")
    try:
        if path.is_dir():
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path))
            if not files:
                raise ValueError(f"read_image(): expected a DICOM series in folder {path}, found none.")
            image = sitk.ReadImage(files)
        else:
            image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"read_image(): SimpleITK cannot read {path}: {str(error).strip().splitlines()[-1]}") from None
    return from_sitk(image, labels=labels)


def _atomic(path, write):
    """Call ``write(temporary_path)`` then rename onto ``path``: never a half-written file."""
    path = Path(path)
    temporary = path.with_name(f".{uuid.uuid4().hex}.tmp-{path.name}")
    try:
        write(str(temporary))
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_image(path, data, geometry=None):
    """Write a tensor ``(1, C, *spatial)`` with its geometry; the format follows the extension.

    The file is written to a temporary name and renamed, so an error never
    leaves a half-written file. PNG needs a 2D ``uint8`` (or ``uint16``) tensor.
    """
    image = to_sitk(data, geometry)
    try:
        _atomic(path, lambda name: sitk.WriteImage(image, name))
    except RuntimeError as error:
        raise ValueError(
            f"write_image(): SimpleITK cannot write {path} ({data.dtype}, {tuple(data.shape)}): "
            f"{str(error).strip().splitlines()[-1]}"
        ) from None


def write_transform(path, transform):
    """Write a SimpleITK transform (``.tfm``, ``.txt``, ``.h5``) atomically."""
    _atomic(path, lambda name: sitk.WriteTransform(transform, name))


def affine_to_itk(matrix, fixed_geometry, moving_geometry):
    """A voxel-space affine map → the ``sitk.AffineTransform`` that does the same in mm.

    reglab's ``matrix`` maps fixed voxels to moving voxels, ``y = A x + t`` (tensor
    axis order). ITK's transform maps fixed physical points to moving physical
    points: ``T = M_moving · [A | t] · M_fixed⁻¹``, with ``M`` from
    :meth:`Geometry.matrix`.

    Args:
        matrix: ``(ndim, ndim + 1)`` or ``(1, ndim, ndim + 1)`` (or homogeneous).
        fixed_geometry, moving_geometry: :class:`Geometry` of the two images.

    Returns:
        ``sitk.AffineTransform`` (centre 0), usable with ``sitk.Resample(moving, fixed, transform)``.
    """
    check_tensor("affine_to_itk", "matrix", matrix)
    n = fixed_geometry.ndim
    matrix = matrix.detach().to("cpu", torch.float64).reshape(-1, n + 1)[:n]
    if matrix.shape != (n, n + 1):
        raise ValueError(f"affine_to_itk(): expected `matrix` of shape ({n}, {n + 1}), got {tuple(matrix.shape)}.")
    homogeneous = torch.eye(n + 1, dtype=torch.float64)
    homogeneous[:n] = matrix
    physical = moving_geometry.matrix() @ homogeneous @ torch.linalg.inv(fixed_geometry.matrix())
    transform = sitk.AffineTransform(n)
    transform.SetMatrix(physical[:n, :n].flatten().tolist())
    transform.SetTranslation(physical[:n, n].tolist())
    return transform


def displacement_to_itk(displacement, fixed_geometry, moving_geometry):
    """A voxel displacement → ``sitk.DisplacementFieldTransform`` in mm on the fixed image's grid.

    Fixed voxel ``x`` goes to moving voxel ``x + u(x)``; in physical space the ITK
    field holds ``d(p) = M_moving(x + u(x)) - M_fixed(x)`` at ``p = M_fixed(x)``.

    Args:
        displacement: ``(1, ndim, *spatial)`` in voxels on the fixed grid.
        fixed_geometry, moving_geometry: :class:`Geometry` of the two images.

    Returns:
        ``sitk.DisplacementFieldTransform`` (float64 vectors, linear interpolation).
    """
    check_displacement("displacement_to_itk", "displacement", displacement)
    if displacement.shape[0] != 1:
        raise ValueError(f"displacement_to_itk(): expected a batch of 1, got {displacement.shape[0]}.")
    u = displacement.detach().to("cpu", torch.float64)
    x = identity_grid(u.shape[2:], dtype=torch.float64)
    fixed_points = fixed_geometry.index_to_physical((x)[0].movedim(0, -1))
    moving_points = moving_geometry.index_to_physical((x + u)[0].movedim(0, -1))
    vectors = (moving_points - fixed_points).numpy()                      # (*spatial, ndim) physical x, y, z
    field = sitk.GetImageFromArray(vectors, isVector=True)
    field.SetSpacing(fixed_geometry.spacing[::-1])
    field.SetOrigin(fixed_geometry.origin)
    field.SetDirection(fixed_geometry.direction)
    return sitk.DisplacementFieldTransform(field)


def itk_to_displacement(transform, fixed_geometry, size, moving_geometry, *, dtype=None):
    """Any SimpleITK transform → reglab displacement ``(1, ndim, *size)`` in moving voxels.

    The inverse of :func:`displacement_to_itk` (and of :func:`affine_to_itk` on a grid):
    ``u(x) = M_moving⁻¹(T(M_fixed(x))) - x``. ITK evaluates the transform in
    float64 and the field is computed in float64; it is then given in ``dtype``.

    Args:
        transform: a SimpleITK transform (fixed physical points → moving physical points).
        fixed_geometry, moving_geometry: :class:`Geometry` of the two images.
        size: spatial shape of the fixed grid, tensor axis order.
        dtype: floating dtype of the result; None for torch's default dtype (float32
            unless changed with ``torch.set_default_dtype``), as for a tensor made from
            Python numbers. Pass ``torch.float64`` to keep ITK's precision.

    Returns:
        Tensor ``(1, ndim, *size)`` in voxels of the moving image.
    """
    ndim = fixed_geometry.ndim
    size = check_size("itk_to_displacement", size, ndim)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"itk_to_displacement(): expected a floating-point `dtype` (e.g. torch.float64), got {dtype!r}.")
    field = sitk.TransformToDisplacementField(
        transform, sitk.sitkVectorFloat64, size[::-1], fixed_geometry.origin,
        fixed_geometry.spacing[::-1], fixed_geometry.direction,
    )
    vectors = torch.from_numpy(sitk.GetArrayFromImage(field))                # (*size, ndim) physical x, y, z
    x = identity_grid(size, dtype=torch.float64)[0].movedim(0, -1)          # (*size, ndim) voxels
    y = moving_geometry.physical_to_index(fixed_geometry.index_to_physical(x) + vectors)
    return (y - x).movedim(-1, 0)[None].to(dtype)
