"""Tests of reglab.regularization.first_order (diffusion, elastic) on analytic fields: linear maps, rotations, borders."""

import numpy as np
import pytest
import torch

from reglab.grid import identity_grid
from reglab.regularization.first_order import diffusion, elastic
from tests.regularization._fields import SIZES, _grid, _linear, _random, _rotation

# ----------------------------------------------------------------------------- errors


def test_errors(device):
    u = torch.zeros(1, 2, 6, 6, device=device)
    with pytest.raises(ValueError, match=r"diffusion\(\): expected `displacement` of shape .*channels-last"):
        diffusion(u.movedim(1, -1))
    with pytest.raises(ValueError, match=r"elastic\(\): expected weights"):
        elastic(u, alpha=-1.0)
    with pytest.raises(ValueError, match=r"diffusion\(\): expected `reduction`"):
        diffusion(u, reduction="max")


# ----------------------------------------------------------------------------- analytic fields


@pytest.mark.parametrize("ndim", [2, 3])
def test_linear_fields_known_values(ndim, device):
    """For u = A x + t: diffusion = ‖A‖², elastic = α tr(A)² + β/2 ‖A + Aᵀ‖²."""
    x = _grid(device, ndim)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    u = _linear(x, a, shift=_random(ndim, device, (ndim,), seed=3))
    assert diffusion(u).item() == pytest.approx((a**2).sum().item(), rel=1e-12)
    expected = 0.7 * torch.trace(a) ** 2 + 1.3 / 2 * ((a + a.T) ** 2).sum()
    assert elastic(u, alpha=0.7, beta=1.3).item() == pytest.approx(expected.item(), rel=1e-12)


def test_polynomial_values_in_2d(device):
    x0, x1 = identity_grid((6, 7), device=device, dtype=torch.float64)[0]
    zero = torch.zeros_like(x0)
    # diffusion of u_0 = x_0²: forward differences 2 x_0 + 1 on the 5 row gaps
    assert diffusion(torch.stack([x0**2, zero])[None]).item() == pytest.approx(np.mean((2.0 * np.arange(5) + 1) ** 2))


@pytest.mark.parametrize("ndim", [2, 3])
def test_rotation_invariance(ndim, device):
    """Rotating the field and the grid together, u'(x) = R u(Rᵀ x), leaves every penalty unchanged."""
    x = _grid(device, ndim)
    r = _rotation(ndim, device)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    first, first_rotated = _linear(x, a), _linear(x, r @ a @ r.T)
    for penalty in (diffusion, elastic):
        assert penalty(first_rotated).item() == pytest.approx(penalty(first).item(), rel=1e-10)


@pytest.mark.parametrize("ndim", [2, 3])
def test_border_stencil(ndim, device):
    """A unit spike in the corner voxel: diffusion sees it only through the differences inside the grid."""
    size = SIZES[ndim]
    u = torch.zeros(1, ndim, *size, device=device, dtype=torch.float64)
    u[(0, 0) + (0,) * ndim] = 1.0
    n = np.prod(size)
    expected = sum(1.0 / (n / size[k] * (size[k] - 1)) for k in range(ndim))   # one difference of 1 per axis
    assert diffusion(u).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_spacing_in_mm(ndim, device):
    """With spacing the field is in mm: ∂(s_j u_j)/∂(s_k x_k) = s_j / s_k ∂u_j/∂x_k."""
    x = _grid(device, ndim)
    spacing = torch.tensor([0.5, 2.0, 1.5][:ndim], device=device, dtype=torch.float64)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    a_mm = a * spacing[:, None] / spacing[None, :]
    u = _linear(x, a)
    assert diffusion(u, spacing=spacing).item() == pytest.approx((a_mm**2).sum().item(), rel=1e-12)
    expected = torch.trace(a_mm) ** 2 + 0.5 * ((a_mm + a_mm.T) ** 2).sum()
    assert elastic(u, spacing=spacing.tolist()).item() == pytest.approx(expected.item(), rel=1e-12)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("penalty", [diffusion, elastic], ids=["diffusion", "elastic"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(penalty, ndim, device):
    size = (5, 6) if ndim == 2 else (4, 4, 5)
    u = (0.3 * torch.randn(1, ndim, *size, device=device, dtype=torch.float64)).requires_grad_(True)
    function = lambda v: penalty(v, spacing=(0.9, 1.1, 1.3)[:ndim])  # noqa: E731
    assert torch.autograd.gradcheck(function, (u,), eps=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- issue 14


@pytest.mark.parametrize("ndim", [2, 3])
def test_diffusion_of_y_adds_ndim_plus_twice_the_mean_divergence(ndim, device):
    """The module's claim: differentiating y = x + u instead of u adds ndim + 2·mean(div u), which is not a constant."""
    x = _grid(device, ndim)
    offsets = []
    for seed in (0, 1):
        u = _random(ndim, device, x.shape, seed=seed)
        mean_divergence = sum(u[:, k].diff(dim=k + 1).mean() for k in range(ndim))   # forward differences
        offset = diffusion(x + u) - diffusion(u)
        torch.testing.assert_close(offset, ndim + 2 * mean_divergence)
        offsets.append(float(offset))
    assert abs(offsets[0] - offsets[1]) > 1e-3                           # depends on u: not a constant


@pytest.mark.parametrize("name", ["diffusion", "elastic"])
def test_spacing_as_a_number_is_isotropic_and_bad_weights_are_named(name, device):
    """`spacing=2.0` crashed with "'float' object is not iterable" (issue 14)."""
    u = torch.randn(2, 2, 6, 7, device=device, dtype=torch.float64)
    function = {"diffusion": diffusion, "elastic": elastic}[name]
    torch.testing.assert_close(function(u, spacing=2.0), function(u, spacing=(2.0, 2.0)))
    with pytest.raises(TypeError, match=rf"{name}\(\): expected `spacing` as a number .* got the string '2'"):
        function(u, spacing="2")


def test_elastic_rejects_infinite_weights(device):
    with pytest.raises(ValueError, match=r"elastic\(\): expected `alpha` to be a finite number >= 0, got inf"):
        elastic(torch.zeros(1, 2, 4, 4, device=device), alpha=float("inf"))
