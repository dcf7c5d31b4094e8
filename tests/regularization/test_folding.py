"""Tests of reglab.regularization.folding: det(I + ∇u) of linear maps, mirrors, rotations."""

import pytest
import torch

from reglab.regularization.folding import folding_penalty
from tests.regularization._fields import SIZES, _grid, _linear, _random, _rotation


def test_errors(device):
    u = torch.zeros(1, 2, 6, 6, device=device)
    with pytest.raises(ValueError, match=r"folding_penalty\(\): expected `margin` to be a finite number >= 0"):
        folding_penalty(u, margin=-0.1)


@pytest.mark.parametrize("ndim", [2, 3])
def test_linear_fields_known_values(ndim, device):
    """For u = A x + t: det(I + A) is constant."""
    x = _grid(device, ndim)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    u = _linear(x, a, shift=_random(ndim, device, (ndim,), seed=3))
    det = torch.det(torch.eye(ndim, device=device, dtype=torch.float64) + a).item()
    assert folding_penalty(u, margin=2.0).item() == pytest.approx(max(0.0, 2.0 - det), rel=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_rotation_invariance(ndim, device):
    """Rotating the field and the grid together, u'(x) = R u(Rᵀ x), leaves the penalty unchanged."""
    x = _grid(device, ndim)
    r = _rotation(ndim, device)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    first, first_rotated = _linear(x, a), _linear(x, r @ a @ r.T)
    assert folding_penalty(first_rotated, margin=2.0).item() == pytest.approx(
        folding_penalty(first, margin=2.0).item(), rel=1e-10)


@pytest.mark.parametrize("ndim", [2, 3])
def test_folding_detected(ndim, device):
    x = _grid(device, ndim)
    mirror = torch.zeros(ndim, ndim, device=device, dtype=torch.float64)
    mirror[0, 0] = -2.0                                                   # y_0 = -x_0: det = -1 everywhere
    assert folding_penalty(_linear(x, mirror)).item() == pytest.approx(1.0)
    smooth = 0.1 * torch.randn(1, ndim, *SIZES[ndim], device=device, dtype=torch.float64)
    assert folding_penalty(smooth).item() == 0


@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(ndim, device):
    size = (5, 6) if ndim == 2 else (4, 4, 5)
    u = (0.3 * torch.randn(1, ndim, *size, device=device, dtype=torch.float64)).requires_grad_(True)
    function = lambda v: folding_penalty(v, margin=1.0)          # noqa: E731  (active everywhere)
    assert torch.autograd.gradcheck(function, (u,), eps=1e-6, atol=1e-6)


def test_folding_penalty_rejects_an_infinite_margin(device):
    from reglab.regularization import folding_penalty
    with pytest.raises(ValueError, match=r"folding_penalty\(\): expected `margin` to be a finite number >= 0, got inf"):
        folding_penalty(torch.zeros(1, 2, 4, 4, device=device), margin=float("inf"))
