"""Tests of reglab.similarity.local_ncc: windows cut at the border (NumPy oracle), bias fields, faint windows."""

import itertools

import numpy as np
import pytest
import torch

from reglab import similarity as sim
from tests.similarity.shared import np_pearson, pair


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("squared", [False, True])
def test_local_ncc_matches_numpy_windows(ndim, squared, device):
    """Mean over voxels of the Pearson correlation of the window cut at the image border."""
    fixed, warped = pair(device, ndim, batch=1)
    f, m = fixed[0, 0].cpu().numpy(), warped[0, 0].cpu().numpy()
    values = []
    for centre in itertools.product(*[range(n) for n in f.shape]):
        box = tuple(slice(max(c - 1, 0), c + 2) for c in centre)           # window 3, cut at the border
        r = np_pearson(f[box], m[box])
        values.append(r**2 if squared else r)
    expected = np.mean(values)
    assert sim.local_ncc(fixed, warped, window=3, squared=squared).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("ndim", [2, 3])
def test_local_ncc_survives_bias_field_global_does_not(ndim, device):
    textured = torch.rand(1, 1, *(24,) * ndim, device=device, dtype=torch.float64)
    bias = torch.exp(torch.linspace(-1, 1, 24, device=device, dtype=torch.float64))   # smooth gain e^-1 .. e^1
    biased = textured * bias
    assert sim.local_ncc(textured, biased, window=5).item() > 0.95
    assert sim.ncc(textured, biased).item() < 0.7


def test_low_contrast_windows_are_not_biased(device):
    """A window with tiny (but real) variance keeps its exact correlation: eps is relative, not additive."""
    fixed = torch.rand(1, 1, 12, 12, device=device, dtype=torch.float64)
    faint = 1e-3 * fixed + 0.5
    assert sim.local_ncc(fixed, faint, window=3).item() == pytest.approx(1, abs=1e-9)
    assert sim.ncc(fixed, faint).item() == pytest.approx(1, abs=1e-12)
