"""Tests for reglab.evaluation.tre: direction of the mapping, units, errors."""

import numpy as np
import pytest
import torch

from reglab import evaluation as ev
from tests.evaluation._synthetic import SIZES, SPACINGS, smooth_field


@pytest.mark.parametrize("ndim", [2, 3])
def test_shapes(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device, batch=2).float()
    points = torch.rand(2, 5, ndim, device=device) * 8
    assert ev.tre(points, points, u).shape == (2, 5)


def test_errors(device):
    with pytest.raises(ValueError, match=r"tre\(\): expected `fixed_points` and `moving_points` of the same"):
        ev.tre(torch.zeros(1, 4, 2, device=device), torch.zeros(1, 3, 2, device=device))
    with pytest.raises(TypeError, match=r"tre\(\): expected `fixed_points` to be a torch.Tensor.*from_numpy"):
        ev.tre(np.zeros((1, 4, 2)), torch.zeros(1, 4, 2, device=device))


@pytest.mark.parametrize("ndim", [2, 3])
def test_tre_direction_and_units(ndim, device):
    size = SIZES[ndim]
    t = torch.tensor([2.0, -1.0, 1.5][:ndim], device=device)
    u = t.reshape(1, ndim, *[1] * ndim).expand(2, ndim, *size).contiguous()
    fixed_points = torch.rand(2, 6, ndim, device=device) * 6 + 2
    moving_points = fixed_points + t                                  # fixed point p sits at p + t in the moving image
    assert ev.tre(fixed_points, moving_points, u).abs().max() < 1e-5  # carried the right way: no error
    assert ev.tre(fixed_points, moving_points, -u).min() > 2 * t.norm() - 1e-4   # the wrong way doubles it
    spacing = torch.tensor(SPACINGS[ndim], device=device)
    expected = ((fixed_points - moving_points) * spacing).norm(dim=-1)
    torch.testing.assert_close(ev.tre(fixed_points, moving_points, spacing=SPACINGS[ndim]), expected)


def test_tre_errors_name_tre_and_reject_nan(device):
    """They named warp_points(), and NaN landmarks gave NaN (issue 14)."""
    p, q = torch.zeros(1, 3, 2, device=device), torch.ones(1, 3, 2, device=device)
    with pytest.raises(ValueError, match=r"tre\(\): expected `displacement` of shape \(B, 2, H, W\)"):
        ev.tre(p, q, torch.zeros(1, 2, 5, device=device))
    with pytest.raises(ValueError, match=r"tre\(\): expected `fixed_points` and `displacement` with the same batch size"):
        ev.tre(torch.zeros(2, 3, 2, device=device), torch.ones(2, 3, 2, device=device),
               torch.zeros(3, 2, 5, 5, device=device))
    with pytest.raises(ValueError, match=r"tre\(\): `fixed_points` contains NaN or Inf"):
        ev.tre(torch.full((1, 3, 2), float("nan"), device=device), q)
    with pytest.raises(ValueError, match=r"tre\(\): `moving_points` contains NaN or Inf"):
        ev.tre(p, torch.full((1, 3, 2), float("inf"), device=device))
    with pytest.raises(TypeError, match=r"tre\(\): expected `spacing` as a number"):
        ev.tre(p, q, spacing="1")
    torch.testing.assert_close(ev.tre(p, q, spacing=2.0), ev.tre(p, q, spacing=(2.0, 2.0)))
    assert ev.tre(p.long(), q.long(), spacing=(0.5, 0.5))[0].tolist() == pytest.approx([0.5**0.5] * 3)   # integer indices
    assert ev.tre(torch.zeros(1, 0, 2), torch.zeros(1, 0, 2), torch.zeros(1, 2, 4, 4)).shape == (1, 0)
