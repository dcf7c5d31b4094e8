"""A saved transform applied to an image or a label map, onto a reference grid: what ``reglab apply`` does.

``reglab register`` writes its warped image and labels through the same functions from the
``transform.h5`` it writes, so what it prints is what SimpleITK, Slicer or ANTs get from that file.
The transform maps reference (fixed) physical points to moving physical points (ITK's convention); values
are pulled back: ``warped(p) = image(T(p))``, zero outside the image.

* intensities: SimpleITK's linear ``Resample`` (float32);
* labels: every label's indicator is resampled linearly and each voxel takes the label with the largest
  share (the ``mode="label"`` of :func:`reglab.warp`): never a value that is not a label, smoother
  boundaries than nearest-neighbour, and the file's integer type is kept.
"""

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F

from reglab.cli.inputs import physical_to_index
from reglab.grid import ALIGN_CORNERS, to_grid_sample


def identity(ndim):
    """The identity transform: resampling through physical space only (the images' geometries)."""
    return sitk.Transform(ndim, sitk.sitkIdentity)


def resample_intensities(image, transform, reference):
    """``image`` (SimpleITK) on ``reference``'s grid through ``transform``: linear, float32, 0 outside."""
    return sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), reference, transform, sitk.sitkLinear, 0.0,
                         sitk.sitkFloat32)


def resample_labels(labels, transform, reference):
    """A label map on ``reference``'s grid through ``transform``: the arg-max of linearly resampled indicators.

    Args:
        labels: SimpleITK label map (any grid, any integer or whole-number pixel type).
        transform: a SimpleITK transform, reference physical points → ``labels`` physical points.
        reference: SimpleITK image whose grid (size, spacing, origin, direction) the result takes.

    Returns:
        SimpleITK image of ``labels``'s pixel type on the reference grid; 0 where no label reaches.
    """
    size = reference.GetSize()
    points = sitk.PhysicalPointSource(sitk.sitkVectorFloat64, size, reference.GetOrigin(), reference.GetSpacing(),
                                      reference.GetDirection())
    moved = sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, size, reference.GetOrigin(),
                                              reference.GetSpacing(), reference.GetDirection())
    physical = sitk.GetArrayViewFromImage(points) + sitk.GetArrayViewFromImage(moved)     # (*spatial, ndim) mm
    index = physical_to_index(labels, physical.reshape(-1, labels.GetDimension()))         # ITK order (x, y, z)
    # tensor axis order (the reverse of ITK's) with channels first: (1, ndim, *spatial)
    coordinates = torch.from_numpy(index[:, ::-1].T.copy()).reshape(1, -1, *physical.shape[:-1])
    array = sitk.GetArrayFromImage(labels)
    values = torch.from_numpy(array.astype(np.int64))[None, None]
    grid = to_grid_sample(coordinates, values.shape[2:]).float()
    best_share = torch.zeros(1, 1, *physical.shape[:-1])
    best_label = torch.zeros(1, 1, *physical.shape[:-1], dtype=torch.int64)
    for label in torch.unique(values):
        share = F.grid_sample((values == label).float(), grid, mode="bilinear", padding_mode="zeros",
                              align_corners=ALIGN_CORNERS)
        better = share > best_share
        best_share = torch.where(better, share, best_share)
        best_label = torch.where(better, label, best_label)
    result = sitk.GetImageFromArray(best_label[0, 0].numpy().astype(array.dtype))
    result.CopyInformation(reference)
    return result
