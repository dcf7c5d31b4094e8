"""Tests of reglab.similarity.ngf: NGF against NumPy's gradients."""

import numpy as np
import pytest

from reglab import similarity as sim
from tests.similarity.shared import pair


@pytest.mark.parametrize("ndim", [2, 3])
def test_ngf_matches_numpy(ndim, device):
    fixed, warped = pair(device, ndim, batch=1)
    eps = 0.05
    gf = np.stack(np.gradient(fixed[0, 0].cpu().numpy()))
    gm = np.stack(np.gradient(warped[0, 0].cpu().numpy()))
    norm = lambda g: np.sqrt((g**2).sum(0) + eps**2)                        # noqa: E731
    expected = (1 - ((gf * gm).sum(0) / (norm(gf) * norm(gm))) ** 2).mean()
    assert sim.ngf(fixed, warped, eps=eps).item() == pytest.approx(expected, rel=1e-10)
