"""The user's files, read for the command line, and the checks that catch a mistake before a run starts.

Every check ends in one line: a :class:`~reglab.cli.errors.CommandError` (exit code 2) when the run could not
mean anything, or a warning on stderr when it may still be right. Images are read with SimpleITK here (not
:func:`reglab.io.read_image`) because the command line needs what the reader knows before the pixels are
loaded: the number of volumes of a 4D file, and whether a compressed file is complete.

Geometry is ITK's: ``point = origin + direction · diag(spacing) · index``, indices and points in ``(x, y[, z])``.
"""

import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from reglab.cli.errors import CommandError

MAX_EXTENT_RATIO = 50.0
"""Two images whose physical extents differ more than this along an axis are an error (a unit or header mistake)."""

MIN_OVERLAP = 0.1
"""Below this share of the fixed image inside the moving image, a warning."""

ZERO_TAIL = 0.5
"""An image whose last half or more (in file order) is exact zeros may have been cut short: a warning."""


def warn(message):
    """One warning line on stderr."""
    print(f"reglab: warning: {message}", file=sys.stderr)


# ----------------------------------------------------------------------------- reading


def read_sitk(path, role):
    """A scalar 2D or 3D SimpleITK image from a file or DICOM folder; 4D files with one volume are accepted."""
    path = Path(path)
    if not path.exists():
        raise CommandError(f"cannot read the {role} image: no such file or folder: {path}")
    try:
        if path.is_dir():
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path))
            if not files:
                raise CommandError(f"cannot read the {role} image: no DICOM series in the folder {path}")
            image = sitk.ReadImage(files)
        else:
            check_complete(path, role)
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            size = reader.GetSize()
            if len(size) == 4 and size[3] > 1:
                raise CommandError(f"the {role} image {path} holds {size[3]} volumes of {_times(size[:3])} voxels "
                                   "(a 4D series); give one 3D volume (e.g. extract it with SimpleITK or fslroi).")
            if len(size) not in (2, 3, 4):
                raise CommandError(f"the {role} image {path} is {len(size)}D; expected a 2D or 3D image.")
            image = reader.Execute()
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise CommandError(f"cannot read the {role} image: SimpleITK cannot read {path}: {reason}") from None
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]                          # the one volume of a 4D file
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise CommandError(f"the {role} image {path} has {image.GetNumberOfComponentsPerPixel()} components per "
                           "voxel; expected a scalar image.")
    if min(image.GetSize()) < 4:
        raise CommandError(f"the {role} image {path} is too small or empty: size {_times(image.GetSize())} voxels "
                           "(at least 4 per axis).")
    return image


def read_intensities(path, role, *, constant_ok=False):
    """An intensity image as float32 SimpleITK; NaN/Inf, a constant image and a zero-filled tail are caught."""
    image = sitk.Cast(read_sitk(path, role), sitk.sitkFloat32)
    array = sitk.GetArrayViewFromImage(image)
    if not np.isfinite(array).all():
        raise CommandError(f"the {role} image {path} contains NaN or Inf values.")
    low, high = float(array.min()), float(array.max())
    if low == high and not constant_ok:
        raise CommandError(f"the {role} image {path} is empty: every voxel is {low:g}.")
    flat = array.reshape(-1)                                # file order: x fastest
    nonzero = np.flatnonzero(flat)
    tail = 1.0 - (nonzero[-1] + 1) / flat.size if nonzero.size else 0.0
    if tail >= ZERO_TAIL:
        warn(f"the last {tail:.0%} of the {role} image {path} (in file order) is exact zeros; if the file was cut "
             "short (an interrupted download or copy), SimpleITK fills what is missing with zeros.")
    return image


def read_labels(path, role):
    """A label map (non-negative whole numbers) as SimpleITK, in its own pixel type."""
    image = read_sitk(path, role)
    array = sitk.GetArrayViewFromImage(image)
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise CommandError(f"the {role} {path} holds fractional values; expected a label map of whole numbers.")
    if array.min() < 0:
        raise CommandError(f"the {role} {path} holds negative values; expected labels >= 0.")
    return image


def check_complete(path, role):
    """Catch a truncated file that SimpleITK would read without complaint, filling the rest with zeros.

    A ``.gz`` file is decompressed (not stored) to the end of its stream; a NIfTI header says how many bytes
    of voxels follow it, so a short ``.nii`` or ``.nii.gz`` is caught too.
    """
    name = path.name.lower()
    with open(path, "rb") as file:
        gzipped = file.read(2) == b"\x1f\x8b"
    if gzipped:
        header, length = _gunzip_length(path, role)
    elif name.endswith((".nii", ".nii.gz")):
        with open(path, "rb") as file:
            header = file.read(540)
        length = path.stat().st_size
    else:
        return
    if name.endswith((".nii", ".nii.gz")):
        needed = _nifti_bytes(header)
        if needed is not None and length < needed:
            raise CommandError(f"cannot read the {role} image: {path} is truncated: its header promises {needed} "
                               f"bytes, the file holds {length}; SimpleITK would fill the rest with zeros. Copy or download it again.")


def _gunzip_length(path, role):
    """The first 540 uncompressed bytes and the uncompressed length of a gzip file; a cut stream is an error."""
    header, length = b"", 0
    with open(path, "rb") as file:
        data = file.read(1 << 20)
        decompressor = zlib.decompressobj(wbits=31)
        try:
            while data:
                chunk = decompressor.decompress(data)
                header = header if len(header) >= 540 else (header + chunk)[:540]
                length += len(chunk)
                if decompressor.eof:                         # another gzip member may follow
                    data = decompressor.unused_data
                    if data:
                        decompressor = zlib.decompressobj(wbits=31)
                    continue
                data = file.read(1 << 20)
        except zlib.error as error:
            raise CommandError(f"cannot read the {role} image: {path} is corrupt: {error}.") from None
        if not decompressor.eof:
            raise CommandError(f"cannot read the {role} image: {path} is truncated: its compressed data end early "
                               f"(after {length} bytes); SimpleITK would fill the rest with zeros. Copy or download it again.")
    return header, length


def _nifti_bytes(header):
    """Header + voxel bytes that a NIfTI-1 or NIfTI-2 header promises, or None when it is not one."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:
            dims = struct.unpack(order + "8h", header[40:56])
            bitpix = struct.unpack(order + "h", header[72:74])[0]
            offset = struct.unpack(order + "f", header[108:112])[0]
            break
        if len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:
            dims = struct.unpack(order + "8q", header[16:80])
            bitpix = struct.unpack(order + "h", header[14:16])[0]
            offset = struct.unpack(order + "q", header[168:176])[0]
            break
    else:
        return None
    if not 1 <= dims[0] <= 7 or bitpix <= 0:
        return None
    count = math.prod(max(int(n), 1) for n in dims[1:dims[0] + 1])
    return int(offset) + count * bitpix // 8


# ----------------------------------------------------------------------------- geometry


def describe(image):
    """``'43×52×42 voxels of 1×1×1 mm at (0, 0, 0) mm'``: an image's grid, for messages."""
    origin = ", ".join(f"{o:g}" for o in image.GetOrigin())
    return f"{_times(image.GetSize())} voxels of {_times(image.GetSpacing())} mm at ({origin}) mm"


def same_grid(a, b):
    """True when two images have the same size, spacing, origin and direction (to 1e-4)."""
    return (a.GetSize() == b.GetSize() and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=1e-4)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-4))


def index_to_physical(image, index):
    """``(N, ndim)`` continuous ITK indices → physical points (mm), float64."""
    n = image.GetDimension()
    matrix = np.array(image.GetDirection()).reshape(n, n) @ np.diag(image.GetSpacing())
    return np.asarray(index, dtype=np.float64) @ matrix.T + np.array(image.GetOrigin())


def physical_to_index(image, points):
    """``(N, ndim)`` physical points (mm) → continuous ITK indices, float64."""
    n = image.GetDimension()
    matrix = np.array(image.GetDirection()).reshape(n, n) @ np.diag(image.GetSpacing())
    return (np.asarray(points, dtype=np.float64) - np.array(image.GetOrigin())) @ np.linalg.inv(matrix).T


def _corners(image):
    """``(2**ndim, ndim)`` physical corners of the region an image covers (voxel edges, not centres)."""
    size = np.array(image.GetSize())
    grid = np.stack(np.meshgrid(*[[-0.5, n - 0.5] for n in size], indexing="ij"), -1).reshape(-1, len(size))
    return index_to_physical(image, grid)


def _span(image):
    corners = _corners(image)
    low, high = corners.min(0), corners.max(0)
    return " ".join(f"{axis} [{a:.1f}, {b:.1f}]" for axis, a, b in zip("xyz", low, high)) + " mm"


def _inside_fraction(source, target, samples=24):
    """The share of ``source``'s voxel centres (a sub-sampled grid) that lie inside ``target``."""
    axes = [np.linspace(0, n - 1, min(n, samples)) for n in source.GetSize()]
    index = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
    inside = physical_to_index(target, index_to_physical(source, index))
    size = np.array(target.GetSize())
    return float(((inside >= -0.5) & (inside <= size - 0.5)).all(axis=1).mean())


def check_overlap(fixed, moving):
    """Stop before a meaningless run: images that do not overlap, or whose extents differ wildly."""
    extents = [np.ptp(_corners(image), axis=0) for image in (fixed, moving)]
    ratio = np.maximum(extents[0] / extents[1], extents[1] / extents[0])
    if ratio.max() > MAX_EXTENT_RATIO:
        raise CommandError(
            f"the images' extents differ wildly ({ratio.max():.0f}×): fixed {_times(extents[0])} mm "
            f"(spacing {_times(fixed.GetSpacing())} mm), moving {_times(extents[1])} mm (spacing "
            f"{_times(moving.GetSpacing())} mm); is one header in m, or its spacing wrong?")
    fraction = _inside_fraction(fixed, moving)
    if fraction == 0 and _inside_fraction(moving, fixed) == 0:
        raise CommandError(f"the images do not overlap in physical space: fixed spans {_span(fixed)}, moving spans "
                           f"{_span(moving)}; their headers place them apart (origin or direction). Align them first "
                           "(e.g. reset both origins to the image centre) or check the files.")
    if fraction < MIN_OVERLAP:
        warn(f"only {fraction:.0%} of the fixed image lies inside the moving image (fixed spans {_span(fixed)}, "
             f"moving {_span(moving)}); the result may be meaningless.")


def _times(values):
    return "×".join(f"{v:g}" for v in values)


# ----------------------------------------------------------------------------- options


def parse_device(name):
    """``--device``: a device this torch build has, else a one-line error listing the ones it has."""
    from reglab import default_device

    if name is None:
        return default_device()
    try:
        device = torch.device(name)
        if device.type == "meta":
            raise ValueError("'meta' holds no data")
        torch.zeros(1, device=device)
    except (RuntimeError, ValueError, AssertionError, NotImplementedError) as error:
        available = ["cpu"]
        accelerator = getattr(torch, "accelerator", None)
        if accelerator is not None and accelerator.is_available():
            kind = accelerator.current_accelerator().type
            available += [f"{kind}:{i}" for i in range(accelerator.device_count())]
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CommandError(f"--device {name!r} is not available in this PyTorch build ({reason}); "
                           f"available: {', '.join(available)}.") from None
    return device
