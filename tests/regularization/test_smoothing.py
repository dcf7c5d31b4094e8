"""Tests of reglab.regularization.smoothing: Gaussian smoothing against SciPy, on translations and linear fields."""

import numpy as np
import pytest
import scipy.ndimage
import torch

from reglab.regularization.smoothing import gaussian_smoothing
from tests.regularization._fields import SIZES, _grid, _linear


def test_errors(device):
    u = torch.zeros(1, 2, 6, 6, device=device)
    with pytest.raises(ValueError, match=r"gaussian_smoothing\(\): expected `sigma` >= 0"):
        gaussian_smoothing(u, (1.0, -1.0))


@pytest.mark.parametrize("ndim", [2, 3])
def test_translation_is_unchanged(ndim, device):
    u = torch.ones(2, ndim, *SIZES[ndim], device=device, dtype=torch.float64) * torch.tensor(
        [1.5, -2.0, 0.7][:ndim], device=device, dtype=torch.float64).reshape(1, ndim, *([1] * ndim))
    torch.testing.assert_close(gaussian_smoothing(u, 1.5), u)


@pytest.mark.parametrize("ndim", [2, 3])
def test_gaussian_smoothing_matches_scipy(ndim, device):
    u = torch.randn(2, ndim, *SIZES[ndim], device=device, dtype=torch.float64)
    sigma = (1.0, 0.6, 1.4)[:ndim]
    actual = gaussian_smoothing(u, sigma).cpu().numpy()
    for b in range(2):
        for c in range(ndim):
            expected = scipy.ndimage.gaussian_filter(u[b, c].cpu().numpy(), sigma, mode="nearest", truncate=3.0)
            np.testing.assert_allclose(actual[b, c], expected, atol=1e-12)
    # sigma in mm: 2 mm on 2 mm voxels is 1 voxel
    spacing = (2.0,) * ndim
    torch.testing.assert_close(gaussian_smoothing(u, 2.0, spacing=spacing), gaussian_smoothing(u, 1.0))


def test_gaussian_smoothing_keeps_linear_fields_inside(device):
    x = _grid(device, 2, size=(20, 20))
    u = _linear(x, torch.tensor([[0.1, 0.2], [-0.3, 0.05]], device=device, dtype=torch.float64))
    smoothed = gaussian_smoothing(u, 1.0)
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))      # beyond the kernel radius from the border
    torch.testing.assert_close(smoothed[inner], u[inner])


@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(ndim, device):
    size = (5, 6) if ndim == 2 else (4, 4, 5)
    u = (0.3 * torch.randn(1, ndim, *size, device=device, dtype=torch.float64)).requires_grad_(True)
    function = lambda v: gaussian_smoothing(v, 0.8)               # noqa: E731
    assert torch.autograd.gradcheck(function, (u,), eps=1e-6, atol=1e-6)


def test_input_not_modified(device):
    u = torch.randn(1, 3, 5, 6, 7, device=device)
    copy = u.clone()
    gaussian_smoothing(u, 1.0)
    assert torch.equal(u, copy)


def test_scipy_agrees_only_with_truncate_3(device):
    """SciPy's default truncate is 4 (a wider kernel): equality needs truncate=3 on SciPy's side (issue 14)."""
    u = torch.randn(1, 2, 15, 16, device=device, dtype=torch.float64)
    ours = gaussian_smoothing(u, 1.5)[0, 0].cpu().numpy()
    image = u[0, 0].cpu().numpy()
    np.testing.assert_allclose(ours, scipy.ndimage.gaussian_filter(image, 1.5, mode="nearest", truncate=3.0), atol=1e-12)
    assert np.abs(ours - scipy.ndimage.gaussian_filter(image, 1.5, mode="nearest")).max() > 1e-4
    np.testing.assert_allclose(gaussian_smoothing(u, 1.5, truncate=4.0)[0, 0].cpu().numpy(),
                               scipy.ndimage.gaussian_filter(image, 1.5, mode="nearest"), atol=1e-12)


def test_spacing_number_and_bad_arguments_are_named(device):
    u = torch.randn(1, 2, 6, 7, device=device, dtype=torch.float64)
    torch.testing.assert_close(gaussian_smoothing(u, 2.0, spacing=2.0), gaussian_smoothing(u, 1.0))
    with pytest.raises(TypeError, match=r"gaussian_smoothing\(\): expected `spacing` as a number"):
        gaussian_smoothing(u, 1.0, spacing="2")
    with pytest.raises(ValueError, match=r"gaussian_smoothing\(\): expected `sigma` >= 0.*got '12'"):
        gaussian_smoothing(u, "12")
    with pytest.raises(ValueError, match=r"gaussian_smoothing\(\): expected `truncate` to be a finite number >= 0"):
        gaussian_smoothing(u, 1.0, truncate=float("nan"))
