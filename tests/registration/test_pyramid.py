"""Tests for reglab.registration.pyramid: level sizes, smoothing of constants, exact B-spline refinement."""

import pytest
import torch

from reglab.registration.pyramid import downsample, gaussian_pyramid, pyramid_size, refine_bspline
from reglab.transforms import BSpline


@pytest.mark.parametrize("ndim", [2, 3])
def test_refine_bspline_keeps_the_displacement(ndim, device):
    size = (33, 30) if ndim == 2 else (17, 20, 14)
    coarse = BSpline(size, spacing=4).to(device)
    with torch.no_grad():
        coarse.control.normal_()
    fine = refine_bspline(coarse)
    assert fine.spacing == (2,) * ndim
    assert torch.allclose(fine(), coarse(), atol=1e-5)
    points = torch.rand(1, 50, ndim, device=device) * (torch.tensor(size, device=device) - 1)
    assert torch.allclose(fine.transform_points(points), coarse.transform_points(points), atol=1e-5)
    with pytest.raises(ValueError, match="even control spacing"):
        refine_bspline(BSpline(size, spacing=3))


def test_pyramid(device):
    image = torch.rand(1, 1, 65, 40, device=device)
    levels = gaussian_pyramid(image, 3)
    assert [tuple(level.shape[2:]) for level in levels] == [(17, 11), (33, 21), (65, 40)]
    assert torch.equal(levels[-1], image)
    constant = torch.full((1, 1, 20, 20, 20), 3.0, device=device)
    assert torch.allclose(downsample(constant, pyramid_size((20, 20, 20), 2), sigma=1.0), torch.tensor(3.0), atol=1e-5)
    assert pyramid_size((10, 200), 8) == (8, 26)
