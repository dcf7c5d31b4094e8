"""Tests for reglab.registration.resampling: registration across grids in physical space, against SimpleITK.

Ground truth from SimpleITK's Resample and TransformPoint.
"""

import numpy as np
import SimpleITK as sitk

from reglab import io
from reglab.registration.engine import register
from tests.registration._cases import brain


def test_physical_space_registration_and_itk_export(device):
    """Moving on another grid (spacing 2 mm vs 1 mm, another origin), shifted by a known physical translation."""
    fixed_data = brain(2, device)
    fixed_geometry = io.Geometry((1.0, 1.0), (10.0, -5.0), (1.0, 0.0, 0.0, 1.0))
    fixed_itk = io.to_sitk(fixed_data.cpu(), fixed_geometry)
    shift = sitk.TranslationTransform(2, (2.5, -1.5))                   # fixed point p ↦ moving point p + shift (mm)
    moving_grid = sitk.Image([40, 36], sitk.sitkFloat32)
    moving_grid.SetSpacing((2.0, 2.0))
    moving_grid.SetOrigin((0.0, -12.0))
    moving_itk = sitk.Resample(fixed_itk, moving_grid, shift.GetInverse(), sitk.sitkLinear, 0.0)
    moving = io.from_sitk(moving_itk)
    fixed = io.Image(fixed_data, fixed_geometry)
    result = register(fixed, io.Image(moving.data.to(device), moving.geometry), transform="rigid", similarity="ncc",
                      optimizer="lbfgs", levels=2, iterations=40, progress=False)
    exported = result.to_itk()
    inner = [(20.0, 10.0), (40.0, 30.0), (55.0, 45.0)]
    for point in inner:
        mapped = np.array(exported.TransformPoint(point))
        assert np.allclose(mapped, np.array(point) + np.array([2.5, -1.5]), atol=0.15)
    resampled = sitk.GetArrayFromImage(sitk.Resample(moving_itk, fixed_itk, exported, sitk.sitkLinear, 0.0))
    warped = result.warped[0, 0].cpu().numpy()
    assert np.abs(resampled - warped)[8:-8, 8:-8].max() < 1e-3          # reglab's warp == SimpleITK's Resample
