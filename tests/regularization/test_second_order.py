"""Tests of reglab.regularization.second_order (bending energy, curvature) on affine maps, polynomials, rotations, borders."""

import numpy as np
import pytest
import torch

from reglab.grid import identity_grid
from reglab.regularization.second_order import _mean_square, _second_difference, bending_energy, curvature
from tests.regularization._fields import SIZES, _grid, _linear, _quadratic, _random, _rotation

# ----------------------------------------------------------------------------- errors


def test_errors(device):
    u = torch.zeros(1, 2, 6, 6, device=device)
    with pytest.raises(ValueError, match=r"bending_energy\(\): expected `spacing` with 2 positive"):
        bending_energy(u, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"curvature\(\): expected at least 3 voxels"):
        curvature(torch.zeros(1, 2, 2, 6, device=device))


# ----------------------------------------------------------------------------- analytic fields


@pytest.mark.parametrize("ndim", [2, 3])
def test_linear_fields_cost_nothing(ndim, device):
    """For u = A x + t: curvature = bending = 0."""
    x = _grid(device, ndim)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    u = _linear(x, a, shift=_random(ndim, device, (ndim,), seed=3))
    assert bending_energy(u).item() == pytest.approx(0, abs=1e-20)
    assert curvature(u).item() == pytest.approx(0, abs=1e-20)


@pytest.mark.parametrize("ndim", [2, 3])
def test_quadratic_fields_known_values(ndim, device):
    """For u_j = ½ xᵀ H_j x: bending = Σ_j ‖H_j‖², curvature = Σ_j tr(H_j)²."""
    x = _grid(device, ndim)
    h = _random(ndim, device, (ndim, ndim, ndim), seed=4)
    h = 0.1 * (h + h.transpose(1, 2))
    u = _quadratic(x, h)
    assert bending_energy(u).item() == pytest.approx((h**2).sum().item(), rel=1e-10)
    expected = (torch.diagonal(h, dim1=1, dim2=2).sum(-1) ** 2).sum()
    assert curvature(u).item() == pytest.approx(expected.item(), rel=1e-10)


def test_polynomial_values_in_2d(device):
    x0, x1 = identity_grid((6, 7), device=device, dtype=torch.float64)[0]
    zero = torch.zeros_like(x0)
    assert bending_energy(torch.stack([x0 * x1, zero])[None]).item() == pytest.approx(2.0)   # mixed term twice
    assert curvature(torch.stack([x0 * x1, zero])[None]).item() == pytest.approx(0.0)        # harmonic
    assert curvature(torch.stack([zero, x1**2])[None]).item() == pytest.approx(4.0)
    # a cubic: ∂²u_0/∂x_0² = 6 x_0, exact with [1, -2, 1]; averaged over the inner rows 1..4
    cubic = torch.stack([x0**3, zero])[None]
    assert bending_energy(cubic).item() == pytest.approx(np.mean((6.0 * np.arange(1, 5)) ** 2))


@pytest.mark.parametrize("ndim", [2, 3])
def test_rotation_invariance(ndim, device):
    """Rotating the field and the grid together, u'(x) = R u(Rᵀ x), leaves every penalty unchanged."""
    x = _grid(device, ndim)
    r = _rotation(ndim, device)
    h = _random(ndim, device, (ndim, ndim, ndim), seed=5)
    h = 0.1 * (h + h.transpose(1, 2))
    h_rotated = torch.einsum("jm,mkl->jkl", r, r @ h @ r.T)              # H'_j = Σ_m R_jm R H_m Rᵀ
    second, second_rotated = _quadratic(x, h), _quadratic(x, h_rotated)
    for penalty in (bending_energy, curvature):
        assert penalty(second_rotated).item() == pytest.approx(penalty(second).item(), rel=1e-10)
    # without the mixed derivatives the energy would change under rotation
    pure_only = lambda u: sum(_mean_square(_second_difference(u, k)) for k in range(ndim)).item()  # noqa: E731
    assert pure_only(second_rotated) != pytest.approx(pure_only(second), rel=1e-3)


@pytest.mark.parametrize("ndim", [2, 3])
def test_border_stencil(ndim, device):
    """A unit spike in the corner voxel: each penalty sees it only through the stencils inside the grid."""
    size = SIZES[ndim]
    u = torch.zeros(1, ndim, *size, device=device, dtype=torch.float64)
    u[(0, 0) + (0,) * ndim] = 1.0
    n = np.prod(size)
    # bending: only the [1, -2, 1] stencil centred on voxel 1 and the corner cross difference reach it
    pure = sum(1.0 / (n / size[k] * (size[k] - 2)) for k in range(ndim))
    mixed = sum(2.0 / (n / (size[k] * size[l]) * (size[k] - 1) * (size[l] - 1))
                for k in range(ndim) for l in range(k + 1, ndim))
    assert bending_energy(u).item() == pytest.approx(pure + mixed, rel=1e-12)
    # curvature takes the Laplacian on inner voxels only, and the corner is no neighbour of an inner voxel
    assert curvature(u).item() == 0
    u[(0, 0) + (1,) * ndim] = 1.0                                        # the first inner voxel: Laplacian -2 ndim there
    expected = ((2 * ndim) ** 2 + ndim) / np.prod([n - 2 for n in size])  # plus 1 at its ndim inner neighbours
    assert curvature(u).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_spacing_in_mm(ndim, device):
    """With spacing the field is in mm: ∂²(s_j u_j)/∂(s_k x_k)∂(s_l x_l) = s_j / (s_k s_l) ∂²u_j/∂x_k∂x_l."""
    x = _grid(device, ndim)
    spacing = torch.tensor([0.5, 2.0, 1.5][:ndim], device=device, dtype=torch.float64)
    h = 0.1 * torch.ones(ndim, ndim, ndim, device=device, dtype=torch.float64)
    h_mm = h * spacing[:, None, None] / (spacing[None, :, None] * spacing[None, None, :])
    assert bending_energy(_quadratic(x, h), spacing=spacing).item() == pytest.approx((h_mm**2).sum().item(), rel=1e-10)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("penalty", [bending_energy, curvature], ids=["bending_energy", "curvature"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(penalty, ndim, device):
    size = (5, 6) if ndim == 2 else (4, 4, 5)
    u = (0.3 * torch.randn(1, ndim, *size, device=device, dtype=torch.float64)).requires_grad_(True)
    function = lambda v: penalty(v, spacing=(0.9, 1.1, 1.3)[:ndim])  # noqa: E731
    assert torch.autograd.gradcheck(function, (u,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["bending_energy", "curvature"])
def test_spacing_as_a_number_is_isotropic(name, device):
    """`spacing=2.0` crashed with "'float' object is not iterable" (issue 14)."""
    from reglab import regularization
    u = torch.randn(1, 3, 5, 6, 7, device=device, dtype=torch.float64)
    function = getattr(regularization, name)
    torch.testing.assert_close(function(u, spacing=2.0), function(u) / 4)      # u · 2 mm over (2 mm)², squared
    with pytest.raises(TypeError, match=rf"{name}\(\): expected `spacing` as a number"):
        function(u, spacing="2")
