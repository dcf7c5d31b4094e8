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


@pytest.mark.parametrize("shape", [(1, 1, 1, 6), (1, 1, 5, 1), (1, 1, 1, 1, 6)])
def test_ngf_of_a_single_voxel_axis(shape):
    """A 1-voxel axis has no gradient along it (torch.gradient crashed); the other axes are as in a thicker image."""
    import torch
    f = torch.rand(shape, dtype=torch.float64)
    w = torch.rand(shape, dtype=torch.float64)
    thick = [2 if n == 1 else n for n in shape[2:]]
    stacked_f, stacked_w = f.expand(1, 1, *thick), w.expand(1, 1, *thick)      # repeating along the axis: no gradient
    torch.testing.assert_close(sim.ngf(f, w), sim.ngf(stacked_f, stacked_w))
    with pytest.raises(ValueError, match=r"ngf\(\): expected a non-empty `fixed`"):
        sim.ngf(f[..., :0], w[..., :0])
