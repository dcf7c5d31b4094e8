"""Tests of reglab.similarity.information: the B-spline joint histogram, MI and NMI against NumPy and SimpleITK."""

import numpy as np
import pytest
import torch

from reglab import similarity as sim
from tests.similarity.shared import pair, phantom, sitk_metric


# ----------------------------------------------------------------------------- NumPy oracles of the lecture's formulas


def _np_bspline_histogram(f, m, bins):
    """Joint histogram with a cubic B-spline Parzen window, data range mapped onto bins 1 .. bins-2."""
    def kernel(x):
        x = np.abs(x)
        return np.where(x < 1, (4 - 6 * x**2 + 3 * x**3) / 6, np.where(x < 2, (2 - x) ** 3 / 6, 0.0))

    def weights(v):                                                         # (N, bins)
        t = 1 + (v - v.min()) / (v.max() - v.min()) * (bins - 3)
        return kernel(t[:, None] - np.arange(bins)[None, :])

    joint = weights(f.ravel()).T @ weights(m.ravel())
    return joint / joint.sum()


def _np_entropy(p):
    p = p[p > 0]
    return -(p * np.log(p)).sum()


@pytest.mark.parametrize("ndim", [2, 3])
def test_mi_nmi_match_numpy(ndim, device):
    fixed, warped = pair(device, ndim)
    for i in range(2):
        p = _np_bspline_histogram(fixed[i, 0].cpu().numpy(), warped[i, 0].cpu().numpy(), 12)
        h_f, h_m, h_fm = _np_entropy(p.sum(1)), _np_entropy(p.sum(0)), _np_entropy(p)
        hist = sim.joint_histogram(fixed, warped, bins=12)[i, 0].cpu().numpy()
        np.testing.assert_allclose(hist, p, atol=1e-12)
        assert sim.mi(fixed, warped, bins=12, reduction="none")[i].item() == pytest.approx(h_f + h_m - h_fm, rel=1e-10)
        assert sim.nmi(fixed, warped, bins=12, reduction="none")[i].item() == pytest.approx((h_f + h_m) / h_fm, rel=1e-10)


# ----------------------------------------------------------------------------- SimpleITK's metrics


def test_simpleitk_mattes_mi_close(device):
    """ITK's Mattes MI uses a box (zero-order) Parzen window for the fixed image and cubic for the moving one,
    so its values are somewhat higher than reglab's (cubic for both); they agree within ~20% and rank pairs alike."""
    t1, t2 = phantom(device, 3, size=24)
    generator = torch.Generator(device=device).manual_seed(1)
    ours, itk = [], []
    for noise in (0.05, 0.15, 0.4):
        moving = t2 + noise * torch.randn(t2.shape, generator=generator, device=device, dtype=t2.dtype)
        ours.append(sim.mi(t1, moving, bins=32).item())
        itk.append(-sitk_metric(t1[0, 0].cpu().numpy(), moving[0, 0].cpu().numpy(),
                                 lambda r: r.SetMetricAsMattesMutualInformation(32)))
    np.testing.assert_allclose(ours, itk, rtol=0.2)
    assert np.argsort(ours).tolist() == np.argsort(itk).tolist() == [2, 1, 0]


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("ndim", [2, 3])
def test_mi_symmetric(ndim, device):
    fixed, warped = pair(device, ndim)
    for measure in (sim.mi, sim.nmi):
        torch.testing.assert_close(measure(fixed, warped, fixed_range=(0, 1), warped_range=(0, 1)),
                                   measure(warped, fixed, fixed_range=(0, 1), warped_range=(0, 1)))


def test_mi_maximal_at_alignment(device):
    t1, _ = phantom(device, 2)
    values = [sim.mi(t1, torch.roll(t1, s, dims=3)).item() for s in range(-3, 4)]
    assert int(np.argmax(values)) == 3


# ----------------------------------------------------------------------------- issue 14


def _entropy(p):
    return float(-torch.special.xlogy(p, p).sum())


def test_parzen_mi_of_an_image_with_itself_is_below_its_entropy_and_nmi_below_2():
    """What the docstrings say: MI(F, F) < H(F) and NMI(F, F) < 2 for a Parzen estimate (the issue's numbers)."""
    f = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = sim.joint_histogram(f, f, bins=32)[0, 0]
    h_f, h_ff = _entropy(p.sum(dim=-1)), _entropy(p)
    assert h_ff > h_f + 1.0                                                     # the kernel smears the diagonal
    assert round(h_f, 2) == 3.41 and round(sim.mi(f, f).item(), 2) == 2.20 and round(sim.nmi(f, f).item(), 2) == 1.48
    values = [sim.nmi(f, f, bins=bins).item() for bins in (8, 32, 128, 512)]
    assert values == sorted(values) and 1 < values[0] and values[-1] < 2        # towards 2 only as bins grow


@pytest.mark.parametrize("name", ["mi", "nmi"])
def test_bins_and_range_errors_name_the_measure(name, device):
    """mi(bins=2) blamed joint_histogram() (issue 14)."""
    f = torch.rand(1, 1, 8, 8, device=device)
    function = getattr(sim, name)
    with pytest.raises(ValueError, match=rf"{name}\(\): expected `bins` to be an int >= 5, got 2"):
        function(f, f, bins=2)
    with pytest.raises(ValueError, match=rf"{name}\(\): expected `fixed_range` as \(low, high\)"):
        function(f, f, fixed_range="ab")
    with pytest.raises(ValueError, match=rf"{name}\(\): expected `warped_range` as \(low, high\)"):
        function(f, f, warped_range=(0.0, float("inf")))
    with pytest.raises(ValueError, match=rf"{name}\(\): expected a non-empty `fixed`"):
        function(f[..., :0], f[..., :0])
