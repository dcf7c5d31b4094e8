"""Tests of reglab.similarity.intensity: SSD, MSE, SAD, NCC against NumPy and SimpleITK; NCC's invariance."""

import numpy as np
import pytest
import torch

from reglab import similarity as sim
from tests.similarity.shared import np_pearson, pair, sitk_metric


# ----------------------------------------------------------------------------- NumPy oracles of the lecture's formulas


@pytest.mark.parametrize("ndim", [2, 3])
def test_intensity_measures_match_numpy(ndim, device):
    fixed, warped = pair(device, ndim)
    f, m = fixed.cpu().numpy(), warped.cpu().numpy()
    for i in range(2):
        d = f[i, 0] - m[i, 0]
        assert sim.ssd(fixed, warped, reduction="none")[i].item() == pytest.approx((d**2).sum(), rel=1e-12)
        assert sim.mse(fixed, warped, reduction="none")[i].item() == pytest.approx((d**2).mean(), rel=1e-12)
        assert sim.sad(fixed, warped, reduction="none")[i].item() == pytest.approx(np.abs(d).mean(), rel=1e-12)
        assert sim.ncc(fixed, warped, reduction="none")[i].item() == pytest.approx(np_pearson(f[i, 0], m[i, 0]), rel=1e-10)


# ----------------------------------------------------------------------------- SimpleITK's metrics


@pytest.mark.parametrize("ndim", [2, 3])
def test_simpleitk_mean_squares_and_correlation(ndim, device):
    fixed, warped = pair(device, ndim, batch=1)
    f, m = fixed[0, 0].cpu().numpy(), warped[0, 0].cpu().numpy()
    assert sim.mse(fixed, warped).item() == pytest.approx(sitk_metric(f, m, lambda r: r.SetMetricAsMeanSquares()), rel=1e-10)
    # ITK's Correlation metric is -NCC² (sign-blind); reglab's ncc keeps the sign.
    itk = sitk_metric(f, m, lambda r: r.SetMetricAsCorrelation())
    assert sim.ncc(fixed, warped).item() ** 2 == pytest.approx(-itk, rel=1e-10)


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("ndim", [2, 3])
def test_ncc_invariant_to_affine_intensity_change(ndim, device):
    fixed, warped = pair(device, ndim)
    for measure in (sim.ncc, lambda f, w: sim.local_ncc(f, w, window=3)):
        base = measure(fixed, warped)
        torch.testing.assert_close(measure(fixed, 3.5 * warped - 2), base)
        torch.testing.assert_close(measure(fixed, -3.5 * warped - 2), -base)
    torch.testing.assert_close(sim.local_ncc(fixed, -warped, window=3, squared=True), sim.local_ncc(fixed, warped, window=3, squared=True))


@pytest.mark.parametrize("name", ["ssd", "mse", "sad", "ncc"])
def test_empty_images_are_rejected_by_name(name, device):
    """ncc() crashed inside amax(), mse() returned NaN (issue 14)."""
    empty = torch.zeros(1, 1, 0, 5, device=device)
    with pytest.raises(ValueError, match=rf"{name}\(\): expected a non-empty `fixed`"):
        getattr(sim, name)(empty, empty)
