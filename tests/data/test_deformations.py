"""Tests for reglab.data.deformations: random affine, rigid and diffeomorphic maps with exact inverses."""

import numpy as np
import pytest
import torch

from reglab.data import random_affine, random_deformation, random_rigid, random_velocity
from reglab.fields import compose

SIZES = {2: (40, 36), 3: (24, 20, 22)}


def _homogeneous(matrix):
    """(B, n, n + 1) -> (B, n + 1, n + 1) float64."""
    batch, n = matrix.shape[:2]
    bottom = torch.zeros(batch, 1, n + 1, dtype=torch.float64)
    bottom[..., -1] = 1
    return torch.cat([matrix.double().cpu(), bottom], dim=1)


def _jacobian_determinant_numpy(displacement):
    """Oracle: det(I + ∇u) with NumPy central differences, (B, *spatial)."""
    u = displacement.double().cpu().numpy()
    ndim = u.shape[1]
    out = []
    for field in u:
        grads = [np.gradient(field[i], axis=tuple(range(ndim))) for i in range(ndim)]   # grads[i][j] = ∂u_i/∂x_j
        jac = np.empty(field.shape[1:] + (ndim, ndim))
        for i in range(ndim):
            for j in range(ndim):
                jac[..., i, j] = (i == j) + grads[i][j]
        out.append(np.linalg.det(jac))
    return np.stack(out)


# ---------------------------------------------------------------- affine


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_affine_shapes_and_displacement(ndim, device):
    size = SIZES[ndim]
    sample = random_affine(size, batch=2, seed=0, device=device)
    assert sample.matrix.shape == sample.inverse_matrix.shape == (2, ndim, ndim + 1)
    assert sample.displacement.shape == sample.inverse.shape == (2, ndim, *size)
    assert sample.matrix.device.type == torch.device(device).type
    # oracle: u(x) = A x + t - x at a few voxels, in NumPy
    A, t = sample.matrix[..., :ndim].double().cpu().numpy(), sample.matrix[..., ndim].double().cpu().numpy()
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = np.array([rng.integers(0, n) for n in size], dtype=float)
        expected = np.einsum("bij,j->bi", A, x) + t - x
        actual = sample.displacement[(slice(None), slice(None), *x.astype(int))].double().cpu().numpy()
        np.testing.assert_allclose(actual, expected, atol=1e-4)


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_affine_inverse_and_centre(ndim, device):
    size = SIZES[ndim]
    sample = random_affine(size, batch=3, rotation=20, translation=4, scale=0.2, shear=0.1, seed=1, device=device)
    product = _homogeneous(sample.matrix) @ _homogeneous(sample.inverse_matrix)
    torch.testing.assert_close(product, torch.eye(ndim + 1, dtype=torch.float64).expand(3, -1, -1), atol=1e-5, rtol=0)
    # the map is "about the centre": the centre moves by the translation only, within ±4 voxels per axis
    centre = torch.tensor([(n - 1) / 2 for n in size] + [1.0], dtype=torch.float64)
    shift = (sample.matrix.double().cpu() @ centre) - centre[:ndim]
    assert (shift.abs() <= 4 + 1e-5).all() and (shift.abs() > 0).any()
    # composing the forward and inverse displacements gives ~0 where the forward map stays inside the grid
    round_trip = compose(sample.inverse, sample.displacement)
    margin = tuple(slice(8, n - 8) for n in size)
    assert round_trip[(slice(None), slice(None), *margin)].abs().max() < 1e-3


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_rigid_is_rigid_in_millimetres(ndim):
    spacing = (1.0, 2.5, 0.7)[:ndim]
    matrix = random_rigid(SIZES[ndim], batch=4, rotation=30, spacing=spacing, seed=2, dtype=torch.float64).matrix
    D = torch.diag(torch.tensor(spacing, dtype=torch.float64))
    linear_mm = D @ matrix[..., :ndim] @ torch.linalg.inv(D)          # back to millimetres
    eye = torch.eye(ndim, dtype=torch.float64).expand(4, -1, -1)
    torch.testing.assert_close(linear_mm @ linear_mm.transpose(1, 2), eye, atol=1e-10, rtol=0)
    torch.testing.assert_close(torch.linalg.det(linear_mm), torch.ones(4, dtype=torch.float64))
    # in voxels it is not orthogonal when the spacing is anisotropic
    linear = matrix[..., :ndim]
    assert not torch.allclose(linear @ linear.transpose(1, 2), eye, atol=1e-3)


def test_random_rigid_2d_angle_within_range():
    matrix = random_rigid((32, 32), batch=50, rotation=15, seed=3, dtype=torch.float64).matrix
    angles = torch.rad2deg(torch.atan2(matrix[:, 1, 0], matrix[:, 0, 0]))
    assert angles.abs().max() <= 15 and angles.abs().max() > 10       # spread over the range


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_affine_seeds_and_devices(ndim, device):
    a = random_affine(SIZES[ndim], seed=5, device=device).matrix
    b = random_affine(SIZES[ndim], seed=5).matrix
    c = random_affine(SIZES[ndim], seed=6).matrix
    torch.testing.assert_close(a.cpu(), b)                             # same seed, any device: same numbers
    assert not torch.allclose(b, c)
    torch.manual_seed(0)
    d = random_affine(SIZES[ndim]).matrix
    torch.manual_seed(0)
    assert torch.equal(d, random_affine(SIZES[ndim]).matrix)           # seed=None follows torch.manual_seed


def test_random_affine_errors():
    with pytest.raises(ValueError, match=r"random_affine\(\): expected `size` of 2 or 3"):
        random_affine((5,))
    with pytest.raises(ValueError, match=r"random_affine\(\): expected `rotation` to be a number >= 0"):
        random_affine((8, 8), rotation=-1)
    with pytest.raises(ValueError, match=r"expected `scale` < 1"):
        random_affine((8, 8), scale=1.0)
    with pytest.raises(ValueError, match=r"expected `spacing` of 2 positive"):
        random_affine((8, 8), spacing=(1.0, 0.0))
    with pytest.raises(TypeError, match=r"expected `seed` to be an int"):
        random_affine((8, 8), seed=1.5)


# ---------------------------------------------------------------- velocity and deformation


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_velocity_magnitude_border_and_smoothness(ndim, device):
    size = SIZES[ndim]
    v = random_velocity(size, batch=2, magnitude=3.0, smoothness=4.0, seed=0, device=device)
    assert v.shape == (2, ndim, *size)
    torch.testing.assert_close(v.norm(dim=1).flatten(1).amax(1).cpu(), torch.full((2,), 3.0))
    for axis in range(ndim):                                             # zero on every border
        assert v.select(axis + 2, 0).abs().max() < 1e-6 and v.select(axis + 2, -1).abs().max() < 1e-6
    rough = random_velocity(size, magnitude=3.0, smoothness=2.0, seed=0, device=device)
    smooth = random_velocity(size, magnitude=3.0, smoothness=6.0, seed=0, device=device)
    gradient = lambda f: sum(g.abs().mean() for g in torch.gradient(f, dim=tuple(range(2, ndim + 2))))  # noqa: E731
    assert gradient(smooth) < gradient(rough)


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_deformation_is_invertible_without_folding(ndim, device):
    """compose(u, inverse) ≈ 0 within 0.2 voxel (max) and 0.02 voxel (mean); det(I + ∇u) > 0 everywhere."""
    size = (64, 56) if ndim == 2 else (32, 28, 30)
    d = random_deformation(size, batch=2, magnitude=4.0 if ndim == 2 else 3.0, smoothness=8.0 if ndim == 2 else 6.0,
                           seed=0, device=device)
    assert d.displacement.shape == d.inverse.shape == d.velocity.shape == (2, ndim, *size)
    for first, second in ((d.displacement, d.inverse), (d.inverse, d.displacement)):
        residual = compose(first, second).norm(dim=1)
        assert residual.max() < 0.2 and residual.mean() < 0.02
    assert d.displacement.norm(dim=1).max() > 2.0                           # a real deformation, not ~0
    assert _jacobian_determinant_numpy(d.displacement).min() > 0
    assert _jacobian_determinant_numpy(d.inverse).min() > 0


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_deformation_downsampled(ndim):
    size = (64, 56) if ndim == 2 else (32, 28, 30)
    d = random_deformation(size, magnitude=3.0, smoothness=8.0, downsample=2, seed=1)
    assert d.displacement.shape == (1, ndim, *size)
    residual = compose(d.displacement, d.inverse).norm(dim=1)
    assert residual.max() < 0.4 and residual.mean() < 0.03
    assert _jacobian_determinant_numpy(d.displacement).min() > 0


def test_random_deformation_zero_magnitude_is_identity():
    d = random_deformation((16, 16), magnitude=0.0, seed=0)
    assert d.displacement.abs().max() == 0 and d.inverse.abs().max() == 0


def test_random_deformation_same_on_every_device(device):
    a = random_deformation((24, 24), seed=3, device=device).displacement.cpu()
    torch.testing.assert_close(a, random_deformation((24, 24), seed=3).displacement, atol=1e-5, rtol=0)


def test_random_velocity_errors():
    with pytest.raises(ValueError, match=r"random_velocity\(\): expected `smoothness` > 0"):
        random_velocity((8, 8), smoothness=0.0)
    with pytest.raises(ValueError, match=r"random_velocity\(\): expected `magnitude` to be a number >= 0"):
        random_velocity((8, 8), magnitude=-2.0)
    with pytest.raises(ValueError, match=r"random_deformation\(\): expected `downsample` to be an int >= 1"):
        random_deformation((8, 8), downsample=0)
