"""Tests of reglab.regularization on analytic fields: translations, affine maps, rotations, polynomials, borders."""

import math

import numpy as np
import pytest
import scipy.ndimage
import torch

from reglab import regularization as reg
from reglab.grid import identity_grid

PENALTIES = list(reg.REGULARIZERS)
SIZES = {2: (9, 11), 3: (7, 8, 9)}


def _grid(device, ndim, size=None):
    """Voxel coordinates ``(1, ndim, *size)`` in float64, centred on the grid's middle."""
    size = size or SIZES[ndim]
    x = identity_grid(size, device=device, dtype=torch.float64)
    centre = torch.tensor([(n - 1) / 2 for n in size], device=device, dtype=torch.float64)
    return x - centre.reshape(1, ndim, *([1] * ndim))


def _linear(x, matrix, shift=None):
    """``u(x) = A x + t`` on the grid ``x``: ``(1, ndim, *size)``."""
    u = torch.einsum("jk,bk...->bj...", matrix, x)
    if shift is not None:
        u = u + shift.reshape(1, -1, *([1] * (x.dim() - 2)))
    return u


def _quadratic(x, hessians):
    """``u_j(x) = ½ xᵀ H_j x``: ``(1, ndim, *size)``."""
    return 0.5 * torch.einsum("jkl,bk...,bl...->bj...", hessians, x, x)


def _rotation(ndim, device, seed=0):
    generator = torch.Generator().manual_seed(seed)
    if ndim == 2:
        angle = 0.7
        return torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64).to(device)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return (q * torch.det(q)).to(device)                                  # a proper rotation


def _random(ndim, device, shape, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64).to(device)


# ----------------------------------------------------------------------------- shape, errors


@pytest.mark.parametrize("name", PENALTIES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_shape_reduction_and_batch(name, ndim, device):
    u = 0.3 * torch.randn(3, ndim, *SIZES[ndim], device=device)
    penalty = reg.REGULARIZERS[name]
    per_sample = penalty(u, reduction="none")
    assert per_sample.shape == (3,) and per_sample.dtype == torch.float32 and (per_sample >= 0).all()
    torch.testing.assert_close(penalty(u), per_sample.mean())
    torch.testing.assert_close(penalty(u, reduction="sum"), per_sample.sum())
    torch.testing.assert_close(per_sample, torch.cat([penalty(u[i : i + 1], reduction="none") for i in range(3)]))
    torch.testing.assert_close(reg.Regularizer(name)(u), penalty(u))


def test_errors(device):
    u = torch.zeros(1, 2, 6, 6, device=device)
    with pytest.raises(ValueError, match=r"diffusion\(\): expected `displacement` of shape .*channels-last"):
        reg.diffusion(u.movedim(1, -1))
    with pytest.raises(ValueError, match=r"bending_energy\(\): expected `spacing` with 2 positive"):
        reg.bending_energy(u, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"curvature\(\): expected at least 3 voxels"):
        reg.curvature(torch.zeros(1, 2, 2, 6, device=device))
    with pytest.raises(ValueError, match=r"elastic\(\): expected weights"):
        reg.elastic(u, alpha=-1.0)
    with pytest.raises(ValueError, match=r"folding_penalty\(\): expected `margin` >= 0"):
        reg.folding_penalty(u, margin=-0.1)
    with pytest.raises(ValueError, match=r"gaussian_smoothing\(\): expected `sigma` >= 0"):
        reg.gaussian_smoothing(u, (1.0, -1.0))
    with pytest.raises(ValueError, match=r"diffusion\(\): expected `reduction`"):
        reg.diffusion(u, reduction="max")
    with pytest.raises(ValueError, match=r"Regularizer\(\): expected `name`"):
        reg.Regularizer("tv")


# ----------------------------------------------------------------------------- analytic fields


@pytest.mark.parametrize("ndim", [2, 3])
def test_translation_costs_nothing(ndim, device):
    u = torch.ones(2, ndim, *SIZES[ndim], device=device, dtype=torch.float64) * torch.tensor(
        [1.5, -2.0, 0.7][:ndim], device=device, dtype=torch.float64).reshape(1, ndim, *([1] * ndim))
    for name in PENALTIES:
        options = {} if name == "folding_penalty" else {"spacing": (0.8, 1.2, 2.0)[:ndim]}
        assert reg.REGULARIZERS[name](u, **options).item() == 0
    torch.testing.assert_close(reg.gaussian_smoothing(u, 1.5), u)


@pytest.mark.parametrize("ndim", [2, 3])
def test_linear_fields_known_values(ndim, device):
    """For u = A x + t: diffusion = ‖A‖², elastic = α tr(A)² + β/2 ‖A + Aᵀ‖², curvature = bending = 0."""
    x = _grid(device, ndim)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    u = _linear(x, a, shift=_random(ndim, device, (ndim,), seed=3))
    assert reg.diffusion(u).item() == pytest.approx((a**2).sum().item(), rel=1e-12)
    expected = 0.7 * torch.trace(a) ** 2 + 1.3 / 2 * ((a + a.T) ** 2).sum()
    assert reg.elastic(u, alpha=0.7, beta=1.3).item() == pytest.approx(expected.item(), rel=1e-12)
    assert reg.bending_energy(u).item() == pytest.approx(0, abs=1e-20)
    assert reg.curvature(u).item() == pytest.approx(0, abs=1e-20)
    # folding: det(I + A) is constant
    det = torch.det(torch.eye(ndim, device=device, dtype=torch.float64) + a).item()
    assert reg.folding_penalty(u, margin=2.0).item() == pytest.approx(max(0.0, 2.0 - det), rel=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_quadratic_fields_known_values(ndim, device):
    """For u_j = ½ xᵀ H_j x: bending = Σ_j ‖H_j‖², curvature = Σ_j tr(H_j)²."""
    x = _grid(device, ndim)
    h = _random(ndim, device, (ndim, ndim, ndim), seed=4)
    h = 0.1 * (h + h.transpose(1, 2))
    u = _quadratic(x, h)
    assert reg.bending_energy(u).item() == pytest.approx((h**2).sum().item(), rel=1e-10)
    expected = (torch.diagonal(h, dim1=1, dim2=2).sum(-1) ** 2).sum()
    assert reg.curvature(u).item() == pytest.approx(expected.item(), rel=1e-10)


def test_polynomial_values_in_2d(device):
    x0, x1 = identity_grid((6, 7), device=device, dtype=torch.float64)[0]
    zero = torch.zeros_like(x0)
    assert reg.bending_energy(torch.stack([x0 * x1, zero])[None]).item() == pytest.approx(2.0)   # mixed term twice
    assert reg.curvature(torch.stack([x0 * x1, zero])[None]).item() == pytest.approx(0.0)        # harmonic
    assert reg.curvature(torch.stack([zero, x1**2])[None]).item() == pytest.approx(4.0)
    # a cubic: ∂²u_0/∂x_0² = 6 x_0, exact with [1, -2, 1]; averaged over the inner rows 1..4
    cubic = torch.stack([x0**3, zero])[None]
    assert reg.bending_energy(cubic).item() == pytest.approx(np.mean((6.0 * np.arange(1, 5)) ** 2))
    # diffusion of u_0 = x_0²: forward differences 2 x_0 + 1 on the 5 row gaps
    assert reg.diffusion(torch.stack([x0**2, zero])[None]).item() == pytest.approx(np.mean((2.0 * np.arange(5) + 1) ** 2))


@pytest.mark.parametrize("ndim", [2, 3])
def test_rotation_invariance(ndim, device):
    """Rotating the field and the grid together, u'(x) = R u(Rᵀ x), leaves every penalty unchanged."""
    x = _grid(device, ndim)
    r = _rotation(ndim, device)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    first, first_rotated = _linear(x, a), _linear(x, r @ a @ r.T)
    for name in ("diffusion", "elastic", "folding_penalty"):
        options = {"margin": 2.0} if name == "folding_penalty" else {}
        penalty = reg.REGULARIZERS[name]
        assert penalty(first_rotated, **options).item() == pytest.approx(penalty(first, **options).item(), rel=1e-10)
    h = _random(ndim, device, (ndim, ndim, ndim), seed=5)
    h = 0.1 * (h + h.transpose(1, 2))
    h_rotated = torch.einsum("jm,mkl->jkl", r, r @ h @ r.T)              # H'_j = Σ_m R_jm R H_m Rᵀ
    second, second_rotated = _quadratic(x, h), _quadratic(x, h_rotated)
    for name in ("bending_energy", "curvature"):
        penalty = reg.REGULARIZERS[name]
        assert penalty(second_rotated).item() == pytest.approx(penalty(second).item(), rel=1e-10)
    # without the mixed derivatives the energy would change under rotation
    pure_only = lambda u: sum(reg._mean_square(reg._second_difference(u, k)) for k in range(ndim)).item()  # noqa: E731
    assert pure_only(second_rotated) != pytest.approx(pure_only(second), rel=1e-3)


@pytest.mark.parametrize("ndim", [2, 3])
def test_border_stencil(ndim, device):
    """A unit spike in the corner voxel: diffusion sees it only through the differences inside the grid."""
    size = SIZES[ndim]
    u = torch.zeros(1, ndim, *size, device=device, dtype=torch.float64)
    u[(0, 0) + (0,) * ndim] = 1.0
    n = np.prod(size)
    expected = sum(1.0 / (n / size[k] * (size[k] - 1)) for k in range(ndim))   # one difference of 1 per axis
    assert reg.diffusion(u).item() == pytest.approx(expected, rel=1e-12)
    # bending: only the [1, -2, 1] stencil centred on voxel 1 and the corner cross difference reach it
    pure = sum(1.0 / (n / size[k] * (size[k] - 2)) for k in range(ndim))
    mixed = sum(2.0 / (n / (size[k] * size[l]) * (size[k] - 1) * (size[l] - 1))
                for k in range(ndim) for l in range(k + 1, ndim))
    assert reg.bending_energy(u).item() == pytest.approx(pure + mixed, rel=1e-12)
    # curvature takes the Laplacian on inner voxels only, and the corner is no neighbour of an inner voxel
    assert reg.curvature(u).item() == 0
    u[(0, 0) + (1,) * ndim] = 1.0                                        # the first inner voxel: Laplacian -2 ndim there
    expected = ((2 * ndim) ** 2 + ndim) / np.prod([n - 2 for n in size])  # plus 1 at its ndim inner neighbours
    assert reg.curvature(u).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_spacing_in_mm(ndim, device):
    """With spacing the field is in mm: ∂(s_j u_j)/∂(s_k x_k) = s_j / s_k ∂u_j/∂x_k."""
    x = _grid(device, ndim)
    spacing = torch.tensor([0.5, 2.0, 1.5][:ndim], device=device, dtype=torch.float64)
    a = 0.2 * _random(ndim, device, (ndim, ndim))
    a_mm = a * spacing[:, None] / spacing[None, :]
    u = _linear(x, a)
    assert reg.diffusion(u, spacing=spacing).item() == pytest.approx((a_mm**2).sum().item(), rel=1e-12)
    expected = torch.trace(a_mm) ** 2 + 0.5 * ((a_mm + a_mm.T) ** 2).sum()
    assert reg.elastic(u, spacing=spacing.tolist()).item() == pytest.approx(expected.item(), rel=1e-12)
    h = 0.1 * torch.ones(ndim, ndim, ndim, device=device, dtype=torch.float64)
    h_mm = h * spacing[:, None, None] / (spacing[None, :, None] * spacing[None, None, :])
    assert reg.bending_energy(_quadratic(x, h), spacing=spacing).item() == pytest.approx((h_mm**2).sum().item(), rel=1e-10)


@pytest.mark.parametrize("ndim", [2, 3])
def test_folding_detected(ndim, device):
    x = _grid(device, ndim)
    mirror = torch.zeros(ndim, ndim, device=device, dtype=torch.float64)
    mirror[0, 0] = -2.0                                                   # y_0 = -x_0: det = -1 everywhere
    assert reg.folding_penalty(_linear(x, mirror)).item() == pytest.approx(1.0)
    smooth = 0.1 * torch.randn(1, ndim, *SIZES[ndim], device=device, dtype=torch.float64)
    assert reg.folding_penalty(smooth).item() == 0


# ----------------------------------------------------------------------------- implicit smoothing


@pytest.mark.parametrize("ndim", [2, 3])
def test_gaussian_smoothing_matches_scipy(ndim, device):
    u = torch.randn(2, ndim, *SIZES[ndim], device=device, dtype=torch.float64)
    sigma = (1.0, 0.6, 1.4)[:ndim]
    actual = reg.gaussian_smoothing(u, sigma).cpu().numpy()
    for b in range(2):
        for c in range(ndim):
            expected = scipy.ndimage.gaussian_filter(u[b, c].cpu().numpy(), sigma, mode="nearest", truncate=3.0)
            np.testing.assert_allclose(actual[b, c], expected, atol=1e-12)
    # sigma in mm: 2 mm on 2 mm voxels is 1 voxel
    spacing = (2.0,) * ndim
    torch.testing.assert_close(reg.gaussian_smoothing(u, 2.0, spacing=spacing), reg.gaussian_smoothing(u, 1.0))


def test_gaussian_smoothing_keeps_linear_fields_inside(device):
    x = _grid(device, 2, size=(20, 20))
    u = _linear(x, torch.tensor([[0.1, 0.2], [-0.3, 0.05]], device=device, dtype=torch.float64))
    smoothed = reg.gaussian_smoothing(u, 1.0)
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))      # beyond the kernel radius from the border
    torch.testing.assert_close(smoothed[inner], u[inner])


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", PENALTIES + ["gaussian_smoothing"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(name, ndim, device):
    size = (5, 6) if ndim == 2 else (4, 4, 5)
    u = (0.3 * torch.randn(1, ndim, *size, device=device, dtype=torch.float64)).requires_grad_(True)
    if name == "gaussian_smoothing":
        function = lambda v: reg.gaussian_smoothing(v, 0.8)               # noqa: E731
    elif name == "folding_penalty":
        function = lambda v: reg.folding_penalty(v, margin=1.0)          # noqa: E731  (active everywhere)
    else:
        function = lambda v: reg.REGULARIZERS[name](v, spacing=(0.9, 1.1, 1.3)[:ndim])  # noqa: E731
    assert torch.autograd.gradcheck(function, (u,), eps=1e-6, atol=1e-6)


def test_inputs_not_modified(device):
    u = torch.randn(1, 3, 5, 6, 7, device=device)
    copy = u.clone()
    for name in PENALTIES:
        reg.REGULARIZERS[name](u)
    reg.gaussian_smoothing(u, 1.0)
    assert torch.equal(u, copy)
