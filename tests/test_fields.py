"""reglab.fields: affine maps, composition, inversion, scaling and squaring, resizing."""

import pytest
import torch

import reglab
from reglab.fields import affine_to_displacement, compose, integrate_velocity, invert, resize_displacement
from reglab.grid import identity_grid

SIZES = [(24, 28), (20, 22, 18)]


def smooth_field(batch, size, magnitude, device, dtype=torch.float32):
    """A smooth random displacement: a sum of random low-frequency sinusoids, at most ~`magnitude` voxels."""
    ndim = len(size)
    x = identity_grid(size, device=device, dtype=dtype)[0]                      # (ndim, *size)
    field = torch.zeros(batch, ndim, *size, device=device, dtype=dtype)
    for _ in range(3):
        frequency = torch.rand(batch, ndim, ndim, device=device, dtype=dtype) * 1.5   # cycles per image
        phase = 2 * torch.pi * torch.rand(batch, ndim, device=device, dtype=dtype)
        scaled = x / torch.tensor(size, device=device, dtype=dtype).reshape(ndim, *[1] * ndim)
        argument = torch.einsum("bij,j...->bi...", frequency, scaled) * 2 * torch.pi
        field = field + magnitude / 3 * torch.sin(argument + phase.reshape(batch, ndim, *[1] * ndim))
    return field


def interior(field, margin=3):
    """The field without a margin of `margin` voxels on every side (where border extension rules)."""
    return field[(slice(None), slice(None)) + (slice(margin, -margin),) * (field.dim() - 2)]


def affine(ndim, device, dtype=torch.float32):
    matrix = torch.eye(ndim, ndim + 1, device=device, dtype=dtype)
    matrix[:, :ndim] += 0.1 * torch.randn(ndim, ndim, device=device, dtype=dtype)
    matrix[:, ndim] = torch.randn(ndim, device=device, dtype=dtype)
    return matrix[None]


@pytest.mark.parametrize("size", SIZES)
def test_affine_to_displacement_is_the_numpy_formula(size, device):
    matrix = affine(len(size), device)
    u = affine_to_displacement(matrix, size)
    x = identity_grid(size, device=device)[0].reshape(len(size), -1).cpu().double().numpy()
    a = matrix[0].cpu().double().numpy()
    expected = a[:, :-1] @ x + a[:, -1:] - x
    assert torch.allclose(u[0].reshape(len(size), -1).cpu().double(), torch.from_numpy(expected), atol=1e-4)
    homogeneous = torch.cat([matrix, torch.eye(len(size) + 1, device=device)[None, -1:]], dim=1)
    assert torch.allclose(affine_to_displacement(homogeneous, size), u)


@pytest.mark.parametrize("size", SIZES)
def test_compose_of_affine_maps_is_the_matrix_product(size, device):
    """y_a ∘ y_b has the matrix A·B; linear interpolation of an affine field is exact inside."""
    ndim = len(size)
    a, b = affine(ndim, device), affine(ndim, device)
    pad = torch.tensor([[[0.0] * ndim + [1.0]]], device=device)
    product = (torch.cat([a, pad], 1) @ torch.cat([b, pad], 1))[:, :ndim]
    composed = compose(affine_to_displacement(a, size), affine_to_displacement(b, size))
    y_b = identity_grid(size, device=device) + affine_to_displacement(b, size)
    inside = ((y_b >= 0) & (y_b <= torch.tensor(size, device=device).reshape(1, ndim, *[1] * ndim) - 1)).all(1)
    expected = affine_to_displacement(product, size)
    assert torch.allclose(composed.movedim(1, -1)[inside], expected.movedim(1, -1)[inside], atol=1e-4)


def test_warping_by_a_composition_equals_warping_twice(device):
    size = (32, 32)
    image = torch.nn.functional.interpolate(torch.rand(1, 1, 6, 6, device=device), size=size, mode="bicubic",
                                            align_corners=True)
    u, v = smooth_field(1, size, 1.5, device), smooth_field(1, size, 1.5, device)
    twice = reglab.warp(reglab.warp(image, u, padding="border"), v, padding="border")
    once = reglab.warp(image, compose(u, v), padding="border")
    assert (twice - once)[..., 4:-4, 4:-4].abs().max() < 0.02


@pytest.mark.parametrize("size", SIZES)
def test_invert_composes_to_the_identity(size, device):
    u = smooth_field(2, size, min(size) / 16, device)
    result = invert(u, tolerance=1e-3)
    assert result.residual.shape == (2,)
    assert result.residual.max() < 1e-3 and 0 < result.iterations < 100
    assert compose(u, result.displacement).abs().max() < 1e-3                  # y_u ∘ y_v = id
    assert interior(compose(result.displacement, u)).abs().max() < 0.15  # linear interpolation error   # and (away from borders) y_v ∘ y_u


def test_invert_reports_a_large_residual_for_a_folding_field(device):
    x = identity_grid((20, 20), device=device)
    u = torch.zeros_like(x)
    u[:, 1] = 5.0 * torch.sin(2 * torch.pi * x[:, 1] / 19)   # 1 + du/dx < 0 near the centre: folded
    assert invert(u, iterations=30).residual.item() > 1.0
    u[:, 1] = 2.0 * torch.sin(2 * torch.pi * x[:, 1] / 19)   # 1 + du/dx > 0 everywhere: invertible
    assert invert(u, iterations=30).residual.item() < 1e-3


@pytest.mark.parametrize("size", SIZES)
def test_scaling_and_squaring_inverse_is_the_negative_velocity(size, device):
    v = smooth_field(1, size, min(size) / 16, device)
    forward, backward = integrate_velocity(v), integrate_velocity(-v)
    assert interior(compose(forward, backward)).abs().max() < 0.15  # linear interpolation error
    # with 0 steps it is the velocity itself; a constant velocity is a translation
    assert torch.equal(integrate_velocity(v, steps=0), v)
    constant = torch.full((1, len(size), *size), 0.7, device=device)
    assert torch.allclose(integrate_velocity(constant), constant, atol=1e-5)


@pytest.mark.parametrize("size", [(24, 28), (20, 22, 18), (1, 9, 7)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scaling_and_squaring_is_compose_of_the_field_with_itself(size, dtype, device):
    """The loop runs on reversed channels (a faster grid); it must give the numbers of u <- compose(u, u)."""
    v = 4 * torch.randn(2, len(size), *size, device=device, dtype=dtype)   # large enough to reach the border
    u = v / 2**5
    for _ in range(5):
        u = compose(u, u)
    result = integrate_velocity(v, steps=5)
    assert result.dtype == dtype and result.shape == v.shape
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(result, u, rtol=0, atol=tolerance * u.abs().max().item())
    # and the same gradients: d(sum of squares)/dv through both loops
    a, b = v.clone().requires_grad_(), v.clone().requires_grad_()
    integrate_velocity(a, steps=5).square().sum().backward()
    w = b / 2**5
    for _ in range(5):
        w = compose(w, w)
    w.square().sum().backward()
    assert torch.allclose(a.grad, b.grad, rtol=0, atol=100 * tolerance * b.grad.abs().max().item())

def test_scaling_and_squaring_of_a_rotation_generator_is_a_rotation(device):
    """v(x) = θ·J(x − c) integrates to the rotation by θ about c (exact in the continuum)."""
    n, theta = 41, 0.3
    x = identity_grid((n, n), device=device, dtype=torch.float64)
    c = (n - 1) / 2
    v = torch.stack([-(x[0, 1] - c), x[0, 0] - c])[None] * theta
    u = integrate_velocity(v, steps=10)
    rotation = torch.tensor([[torch.cos(torch.tensor(theta)), -torch.sin(torch.tensor(theta))],
                             [torch.sin(torch.tensor(theta)), torch.cos(torch.tensor(theta))]], dtype=torch.float64)
    expected = torch.einsum("ij,jhw->ihw", rotation.to(device), x[0] - c) + c - x[0]
    centre = (slice(None), slice(12, 29), slice(12, 29))
    assert (u[0][centre] - expected[centre]).abs().max() < 0.02


def test_integrate_velocity_gradcheck(device):
    v = (0.5 * torch.rand(1, 2, 5, 5, dtype=torch.float64, device=device)).requires_grad_()
    assert torch.autograd.gradcheck(lambda f: integrate_velocity(f, steps=3), (v,))


def test_compose_gradcheck(device):
    u = (0.3 * torch.rand(1, 2, 4, 5, dtype=torch.float64, device=device) + 0.2).requires_grad_()
    w = (0.3 * torch.rand(1, 2, 4, 5, dtype=torch.float64, device=device) + 0.2).requires_grad_()
    assert torch.autograd.gradcheck(compose, (u, w))


@pytest.mark.parametrize("size,new", [((9, 13), (17, 25)), ((5, 7, 9), (9, 13, 17))])
def test_resize_displacement_keeps_an_affine_map(size, new, device):
    """The same physical map on a finer grid: an affine field resampled and rescaled is the finer affine field."""
    ndim = len(size)
    matrix = affine(ndim, device)
    scale = torch.tensor([(m - 1) / (n - 1) for m, n in zip(new, size)], device=device)
    fine = matrix.clone()
    fine[0, :, :ndim] = scale[:, None] * matrix[0, :, :ndim] / scale[None, :]
    fine[0, :, ndim] = scale * matrix[0, :, ndim]
    assert torch.allclose(resize_displacement(affine_to_displacement(matrix, size), new),
                          affine_to_displacement(fine, new), atol=1e-4)


def test_errors(device):
    with pytest.raises(ValueError, match=r"compose\(\): expected `v` on the spatial grid"):
        compose(torch.zeros(1, 2, 4, 4, device=device), torch.zeros(1, 2, 4, 5, device=device))
    with pytest.raises(ValueError, match=r"affine_to_displacement\(\): expected `matrix` of shape \(B, 2, 3\)"):
        affine_to_displacement(torch.eye(3, device=device), (4, 4))
    with pytest.raises(ValueError, match=r"integrate_velocity\(\): expected `steps`"):
        integrate_velocity(torch.zeros(1, 2, 4, 4, device=device), steps=-1)
    with pytest.raises(ValueError, match=r"resize_displacement\(\): expected `size` of 2 positive ints"):
        resize_displacement(torch.zeros(1, 2, 4, 4, device=device), (4, 4, 4))


# ----------------------------------------------------------------------------- issue 14: crashes and edge cases


def test_resize_displacement_from_a_single_voxel_axis_keeps_the_component(device):
    """A 1-voxel axis has no voxel length to rescale by: the component stays as it is (it was multiplied by new - 1)."""
    u = torch.ones(1, 2, 1, 5, device=device)
    assert resize_displacement(u, (4, 5))[0, :, 0, 0].tolist() == [1.0, 1.0]
    assert resize_displacement(u, (4, 9))[0, :, 2, 3].tolist() == [1.0, 2.0]
    assert resize_displacement(torch.ones(1, 2, 5, 5, device=device), (1, 5))[0, :, 0, 0].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("size", [(0, 5), (-1, 5), (4.5, 5), (4,)])
def test_resize_displacement_rejects_bad_sizes(size, device):
    with pytest.raises(ValueError, match=r"resize_displacement\(\): expected `size` of 2 positive ints"):
        resize_displacement(torch.zeros(1, 2, 4, 4, device=device), size)


def test_compose_mixed_dtypes_and_batches(device):
    u32 = torch.zeros(1, 2, 5, 5, device=device)
    with pytest.raises(TypeError, match=r"compose\(\): expected `u` and `v` of the same dtype, got torch.float32 and torch.float64"):
        compose(u32, u32.double())
    with pytest.raises(ValueError, match=r"compose\(\): expected `u` and `v` with the same batch size \(or one of them 1\), got 2 and 3"):
        compose(torch.zeros(2, 2, 5, 5, device=device), torch.zeros(3, 2, 5, 5, device=device))
    v = torch.randn(3, 2, 5, 5, device=device)                     # a batch of 1 is broadcast, as in warp()
    torch.testing.assert_close(compose(torch.ones(1, 2, 5, 5, device=device), v), v + 1)
    torch.testing.assert_close(compose(v, torch.zeros(1, 2, 5, 5, device=device)), v)


def test_invert_rejects_bad_iterations_and_tolerance(device):
    u = torch.zeros(1, 2, 5, 5, device=device)
    with pytest.raises(ValueError, match=r"invert\(\): expected `iterations` to be an int >= 0, got -1"):
        invert(u, iterations=-1)
    with pytest.raises(ValueError, match=r"invert\(\): expected `tolerance` to be a finite number >= 0, got nan"):
        invert(u, tolerance=float("nan"))


def test_affine_to_displacement_rejects_non_finite_and_integer_matrices(device):
    matrix = torch.eye(2, 3, device=device)[None]
    with pytest.raises(ValueError, match=r"affine_to_displacement\(\): `matrix` contains NaN or Inf"):
        affine_to_displacement(matrix * float("inf"), (3, 3))
    with pytest.raises(TypeError, match=r"affine_to_displacement\(\): expected a floating-point `matrix`, got dtype torch.int64"):
        affine_to_displacement(matrix.long(), (3, 3))
    with pytest.raises(ValueError, match=r"affine_to_displacement\(\): expected `size` of 2 or 3 positive ints, got \(0, 3\)"):
        affine_to_displacement(matrix, (0, 3))


def test_integrate_velocity_rejects_a_bool_step_count(device):
    with pytest.raises(TypeError, match=r"integrate_velocity\(\): expected `steps` to be an int >= 0, got True"):
        integrate_velocity(torch.zeros(1, 2, 4, 4, device=device), steps=True)
