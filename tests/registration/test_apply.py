"""Tests for Registration.apply: images and label maps on the moving grid or any other grid, onto the fixed grid.

Oracle: SimpleITK's ``Resample`` with the exported transform (``Registration.to_itk``), on a grid with another
spacing, origin and size than both images (linear for intensities, ``sitkLabelLinear`` for labels).
"""

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import torch.nn.functional as F

from reglab import io
from reglab.data import random_affine
from reglab.registration import register, register_stages
from reglab.warping import warp
from tests.registration._cases import brain


def _pair(ndim):
    """A brain and a moved copy (fixed grid 1 mm, moving grid 1.2 mm with another origin), and blob labels."""
    fixed = brain(ndim, "cpu").double()
    size = fixed.shape[2:]
    moving = warp(fixed, random_affine(tuple(size), rotation=6, translation=2, scale=0.04, shear=0.0, seed=1).inverse)
    fixed_geometry = io.Geometry.default(ndim)
    moving_geometry = io.Geometry((1.2,) * ndim, (-3.0, 2.0, 1.0)[:ndim], fixed_geometry.direction)
    return io.Image(fixed, fixed_geometry), io.Image(moving, moving_geometry)


def _other_grid(image, ndim):
    """``image`` resampled onto a coarser, shifted grid (another spacing, origin and size), as an Image."""
    size = tuple(max(8, round(n * 0.8)) for n in image.data.shape[2:])
    geometry = io.Geometry((1.5,) * ndim, (-5.0, 4.0, -2.0)[:ndim], image.geometry.direction)
    source = io.to_sitk(image.data, image.geometry)
    reference = io.to_sitk(torch.zeros(1, 1, *size), geometry)
    resampled = sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, 0.0)
    return io.Image(torch.from_numpy(sitk.GetArrayFromImage(resampled))[None, None].double(), geometry)


def _labels(image):
    """Three labels from intensity bands (int16), smooth enough that label-linear and nearest differ little."""
    data = image.data
    labels = (data > 0.2).short() + (data > 0.5).short() + (data > 0.75).short()
    return io.Image(labels, image.geometry)


@pytest.fixture(scope="module", params=[2, 3])
def case(request):
    ndim = request.param
    fixed, moving = _pair(ndim)
    result = register_stages(fixed, moving, ["affine", {"transform": "bspline", "transform_options": {"spacing": 8}}],
                             similarity="ssd", levels=2, iterations=20, progress=False)
    return ndim, fixed, moving, result


def _sitk_resample(image, fixed, transform, interpolator):
    source = io.to_sitk(image.data, image.geometry)
    reference = io.to_sitk(torch.zeros_like(fixed.data), fixed.geometry)
    return sitk.GetArrayFromImage(sitk.Resample(source, reference, transform, interpolator, 0.0))


def _inside(fixed, ndim, margin=2):
    """Voxels away from the fixed border (where zero padding and ITK's bounds tests may disagree)."""
    return tuple(slice(margin, n - margin) for n in fixed.data.shape[2:])


def test_linear_on_another_grid_matches_simpleitk(case):
    ndim, fixed, moving, result = case
    other = _other_grid(moving, ndim)
    ours = result.apply(other)[0, 0].numpy()
    theirs = _sitk_resample(other, fixed, result.to_itk(), sitk.sitkLinear)
    inside = result.apply(torch.ones_like(other.data), geometry=other.geometry)[0, 0].numpy() > 1 - 1e-9
    assert inside.mean() > 0.5                  # ITK and grid_sample treat the last half voxel differently
    assert np.abs(ours[inside] - theirs[inside]).max() < 1e-4


def test_linear_on_the_moving_grid_is_warped(case):
    ndim, fixed, moving, result = case
    torch.testing.assert_close(result.apply(moving.data), result.warped)
    torch.testing.assert_close(result.apply(moving), result.warped)


@pytest.mark.parametrize("mode, interpolator, agreement", [("label", sitk.sitkLabelLinear, 0.999),
                                                            ("nearest", sitk.sitkNearestNeighbor, 0.999)])
def test_labels_on_another_grid_match_simpleitk(case, mode, interpolator, agreement):
    ndim, fixed, moving, result = case
    labels = _labels(_other_grid(moving, ndim))
    ours = result.apply(labels.data, mode=mode, geometry=labels.geometry)
    assert ours.dtype == torch.int16
    theirs = _sitk_resample(labels, fixed, result.to_itk(), interpolator)
    inner = _inside(fixed, ndim)
    assert (ours[0, 0].numpy()[inner] == theirs[inner]).mean() >= agreement     # ties at exactly 0.5 may differ


def test_labels_keep_their_values_and_dtype(case):
    ndim, fixed, moving, result = case
    labels = (_labels(moving).data * 7).to(torch.int64)                # labels 0, 7, 14, 21
    warped = result.apply(labels, mode="label")
    assert warped.dtype == torch.int64 and set(warped.unique().tolist()) <= {0, 7, 14, 21}


def test_errors(case):
    ndim, fixed, moving, result = case
    with pytest.raises(ValueError, match="`mode` to be one of"):
        result.apply(moving.data, mode="cubic")
    with pytest.raises(ValueError, match="on the moving grid"):
        result.apply(F.pad(moving.data, (1, 1)))
    with pytest.raises(TypeError, match="integer label map"):
        result.apply(moving.data, mode="label")
    with pytest.raises(TypeError, match="`geometry` a reglab.io.Geometry"):
        result.apply(moving.data, geometry=(1.0,) * ndim)


def test_tensors_without_geometry():
    fixed = brain(2, "cpu")
    moving = torch.roll(fixed, 3, dims=3)
    result = register(fixed, moving, transform="rigid", similarity="ssd", levels=2, iterations=60, progress=False)
    labels = (moving > 0.3).to(torch.uint8)
    warped = result.apply(labels, mode="label")
    assert warped.dtype == torch.uint8
    assert (warped == (fixed > 0.3)).float().mean() > 0.98
