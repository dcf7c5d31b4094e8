"""Tests for reglab.evaluation.field_quality: RMSE against its formula, inverse consistency of exact and wrong pairs."""

import numpy as np
import pytest
import torch

from reglab import evaluation as ev
from reglab.fields import integrate_velocity
from tests.evaluation._synthetic import SIZES, SPACINGS, smooth_field


@pytest.mark.parametrize("ndim", [2, 3])
def test_shapes(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device, batch=2).float()
    assert ev.rmse(u, u).shape == ev.inverse_consistency(u, -u).shape == (2,)


def test_errors(device):
    u = torch.zeros(1, 2, 8, 8, device=device)
    with pytest.raises(ValueError, match=r"rmse\(\): expected `spacing` with 2 positive"):
        ev.rmse(u, u, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"rmse\(\): expected `v` on the spatial grid"):
        ev.rmse(u, torch.zeros(1, 2, 8, 9, device=device))


@pytest.mark.parametrize("ndim", [2, 3])
def test_rmse_against_formula(ndim, device):
    u, v = smooth_field(ndim, SIZES[ndim], device, seed=1), smooth_field(ndim, SIZES[ndim], device, seed=2)
    spacing = np.array(SPACINGS[ndim]).reshape(ndim, *[1] * ndim)
    difference = (u - v)[0].cpu().numpy() * spacing
    expected = np.sqrt((difference**2).sum(axis=0).mean())
    np.testing.assert_allclose(ev.rmse(u, v, spacing=SPACINGS[ndim]).item(), expected)
    assert ev.rmse(u, u).item() == 0


@pytest.mark.parametrize("ndim", [2, 3])
def test_inverse_consistency(ndim, device):
    velocity = smooth_field(ndim, SIZES[ndim], device, amplitude=1.0)
    forward, backward = integrate_velocity(velocity), integrate_velocity(-velocity)
    good = ev.inverse_consistency(forward, backward).item()
    bad = ev.inverse_consistency(forward, forward).item()
    assert good < bad / 20
    t = torch.tensor([1.0, -2.0, 0.5][:ndim], dtype=torch.float64, device=device).reshape(1, ndim, *[1] * ndim)
    shift = t.expand(1, ndim, *SIZES[ndim]).contiguous()
    expected = 2 * float((t.flatten() * torch.tensor(SPACINGS[ndim], dtype=torch.float64, device=device)).norm())
    assert ev.inverse_consistency(shift, shift, spacing=SPACINGS[ndim]).item() == pytest.approx(expected)


def test_spacing_as_a_number_and_batch_errors(device):
    u, v = smooth_field(2, (6, 7), device, amplitude=1.0), smooth_field(2, (6, 7), device, amplitude=1.0, seed=1)
    torch.testing.assert_close(ev.rmse(u, v, spacing=3.0), 3 * ev.rmse(u, v))
    torch.testing.assert_close(ev.inverse_consistency(u, v, spacing=3.0), 3 * ev.inverse_consistency(u, v))
    with pytest.raises(TypeError, match=r"rmse\(\): expected `spacing` as a number"):
        ev.rmse(u, v, spacing="3")
    with pytest.raises(ValueError, match=r"inverse_consistency\(\): expected `forward` and `backward` with the same batch"):
        ev.inverse_consistency(u, torch.zeros(2, 2, 6, 7, device=device))
    with pytest.raises(TypeError, match=r"inverse_consistency\(\): expected `forward` and `backward` of the same dtype"):
        ev.inverse_consistency(u, v.float())
