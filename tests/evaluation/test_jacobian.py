"""Tests for reglab.evaluation.jacobian: analytic fields, SimpleITK and NumPy oracles, stencils, gradcheck."""

import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from reglab import evaluation as ev
from reglab.fields import affine_to_displacement
from tests.evaluation._synthetic import SIZES, SPACINGS, smooth_field


@pytest.mark.parametrize("ndim", [2, 3])
def test_shapes(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device, batch=2).float()
    assert ev.jacobian_determinant(u).shape == (2, *SIZES[ndim])
    assert ev.jacobian_matrix(u).shape == (2, ndim, ndim, *SIZES[ndim])
    assert ev.curl(u).shape == ((2, *SIZES[ndim]) if ndim == 2 else (2, 3, *SIZES[ndim]))
    for fn in (ev.folding_fraction, ev.sdlogj):
        assert fn(u).shape == (2,)


def test_errors(device):
    u = torch.zeros(1, 2, 8, 8, device=device)
    with pytest.raises(ValueError, match=r"jacobian_determinant\(\): expected `stencil`"):
        ev.jacobian_determinant(u, stencil="sobel")
    with pytest.raises(ValueError, match=r"channels-last"):
        ev.jacobian_determinant(u.movedim(1, -1))


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("stencil", ev.STENCILS)
def test_jacobian_of_identity_and_affine(ndim, stencil, device):
    size = SIZES[ndim]
    assert torch.equal(ev.jacobian_determinant(torch.zeros(1, ndim, *size, device=device), stencil=stencil),
                       torch.ones(1, *size, device=device))
    scale = 1.3
    matrix = torch.cat([scale * torch.eye(ndim), torch.zeros(ndim, 1)], 1)[None].double().to(device)
    u = affine_to_displacement(matrix, size)
    inner = (slice(None),) + (slice(1, -1),) * ndim                # the border repeats values (documented)
    torch.testing.assert_close(ev.jacobian_determinant(u, stencil=stencil)[inner],
                               torch.full_like(u[:, 0], scale**ndim)[inner])


@pytest.mark.parametrize("ndim", [2, 3])
def test_rotation_determinant_one_and_curl_two_sin(ndim, device):
    theta = 0.2
    rotation = torch.eye(ndim + 1, dtype=torch.float64)
    rotation[:2, :2] = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    u = affine_to_displacement(rotation[None].to(device), SIZES[ndim])
    inner = (slice(None),) + (slice(1, -1),) * ndim
    torch.testing.assert_close(ev.jacobian_determinant(u)[inner], torch.ones_like(u[:, 0])[inner])
    c = ev.curl(u)
    if ndim == 2:
        torch.testing.assert_close(c[inner], torch.full_like(c, 2 * math.sin(theta))[inner])
    else:                                                           # rotation in the (0, 1) plane: about axis 2
        torch.testing.assert_close(c[:, 2][inner], torch.full_like(c[:, 2], 2 * math.sin(theta))[inner])
        torch.testing.assert_close(c[:, :2], torch.zeros_like(c[:, :2]))


@pytest.mark.parametrize("ndim", [2, 3])
def test_curl_of_gradient_field_is_zero(ndim, device):
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64, device=device) for n in SIZES[ndim]], indexing="ij")
    potential = sum(0.01 * (k + 1) * a**2 for k, a in enumerate(axes)) + 0.02 * axes[0] * axes[1]
    u = torch.stack(torch.gradient(potential))[None]               # a gradient field: no rotation
    inner = (Ellipsis,) + (slice(2, -2),) * ndim                    # torch.gradient is one-sided at the border
    torch.testing.assert_close(ev.curl(u)[inner], torch.zeros_like(ev.curl(u))[inner])


@pytest.mark.parametrize("ndim", [2, 3])
def test_jacobian_matches_simpleitk(ndim, device):
    spacing = SPACINGS[ndim]
    u = smooth_field(ndim, SIZES[ndim], device, amplitude=3.0)     # folds in places
    millimetres = u[0].cpu().numpy() * np.array(spacing).reshape(ndim, *[1] * ndim)
    vectors = np.stack(millimetres[::-1], axis=-1)                  # SimpleITK: (x, y, z) = reversed axes, last
    image = sitk.GetImageFromArray(vectors, isVector=True)
    image.SetSpacing(spacing[::-1])
    expected = sitk.GetArrayFromImage(sitk.DisplacementFieldJacobianDeterminant(image))
    for given in (None, spacing):                                   # the determinant does not depend on the spacing
        result = ev.jacobian_determinant(u, spacing=given)[0].cpu().numpy()
        np.testing.assert_allclose(result, expected, atol=1e-9)
    assert (expected <= 0).any() and (expected > 0).any()


@pytest.mark.parametrize("ndim", [2, 3])
def test_central_differences_match_numpy_gradient_inside(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device)
    array = u[0].cpu().numpy()
    gradient = np.stack([np.stack(np.gradient(array[i])) for i in range(ndim)]) + np.eye(ndim).reshape(
        ndim, ndim, *[1] * ndim)
    expected = np.linalg.det(np.moveaxis(gradient, (0, 1), (-2, -1)))
    inner = (slice(1, -1),) * ndim
    np.testing.assert_allclose(ev.jacobian_determinant(u)[0].cpu().numpy()[inner], expected[inner], atol=1e-9)


def test_forward_and_backward_stencils(device):
    u = torch.zeros(1, 2, 5, 5, dtype=torch.float64, device=device)
    u[:, 0] = torch.tensor([0.0, 1.0, 3.0, 6.0, 10.0], device=device)[:, None]   # steps 1, 2, 3, 4 along rows
    forward = ev.jacobian_determinant(u, stencil="forward")[0, :, 0]
    backward = ev.jacobian_determinant(u, stencil="backward")[0, :, 0]
    central = ev.jacobian_determinant(u)[0, :, 0]
    torch.testing.assert_close(forward, 1 + torch.tensor([1.0, 2, 3, 4, 0], dtype=torch.float64, device=device))
    torch.testing.assert_close(backward, 1 + torch.tensor([0.0, 1, 2, 3, 4], dtype=torch.float64, device=device))
    torch.testing.assert_close(central, (forward + backward) / 2)


@pytest.mark.parametrize("ndim", [2, 3])
def test_jacobian_matrix_in_mm_is_consistent_with_scaling(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device)
    spacing = torch.tensor(SPACINGS[ndim], dtype=torch.float64, device=device)
    matrix = ev.jacobian_matrix(u, spacing=SPACINGS[ndim])
    voxels = ev.jacobian_matrix(u)
    expected = voxels * (spacing[:, None] / spacing[None, :]).reshape(1, ndim, ndim, *[1] * ndim)
    torch.testing.assert_close(matrix, expected)


@pytest.mark.parametrize("ndim", [2, 3])
def test_folding_and_sdlogj_against_numpy(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device, amplitude=3.0, batch=2)
    determinant = ev.jacobian_determinant(u).cpu().numpy()
    expected_folding = (determinant <= 0).reshape(2, -1).mean(axis=1)
    expected_sdlogj = np.log(np.clip(determinant, 1e-9, 1e9)).reshape(2, -1).std(axis=1)
    np.testing.assert_allclose(ev.folding_fraction(u).cpu().numpy(), expected_folding)
    np.testing.assert_allclose(ev.sdlogj(u).cpu().numpy(), expected_sdlogj, rtol=1e-9)
    assert (expected_folding > 0).all()
    zero = torch.zeros(1, ndim, *SIZES[ndim], device=device)
    assert ev.folding_fraction(zero).item() == 0 and ev.sdlogj(zero).item() == 0


@pytest.mark.parametrize("ndim", [2, 3])
def test_jacobian_gradcheck(ndim, device):
    u = (0.3 * torch.randn(1, ndim, *[5 if ndim == 2 else 4] * ndim, dtype=torch.float64, device=device)).requires_grad_()
    for stencil in ev.STENCILS:
        assert torch.autograd.gradcheck(lambda x: ev.jacobian_determinant(x, stencil=stencil), (u,))
    assert torch.autograd.gradcheck(lambda x: ev.curl(x, spacing=(1.0, 2.0, 3.0)[:ndim]), (u,))


@pytest.mark.parametrize("name", ["jacobian_matrix", "jacobian_determinant", "curl"])
def test_spacing_as_a_number_is_isotropic_and_a_string_is_rejected(name, device):
    """`spacing=2.0` crashed with "'float' object is not iterable" (issue 14)."""
    u = smooth_field(2, (6, 7), device, amplitude=1.0)
    function = getattr(ev, name)
    torch.testing.assert_close(function(u, spacing=2.0), function(u, spacing=(2.0, 2.0)))
    with pytest.raises(TypeError, match=rf"{name}\(\): expected `spacing` as a number .* got the string '2,2'"):
        function(u, spacing="2,2")


def test_sdlogj_in_float16_is_the_float32_value(device):
    """float16 crashed on the clipping bound 1/eps = 1e9 (issue 14); the log is taken in float32."""
    u = smooth_field(2, (8, 9), device, amplitude=1.0, batch=2)
    value = ev.sdlogj(u.half())
    assert value.dtype == torch.float16
    torch.testing.assert_close(value.float(), ev.sdlogj(u.half().float()), atol=1e-3, rtol=1e-3)


def test_jacobian_determinant_checks_the_field_before_the_spacing(device):
    with pytest.raises(TypeError, match=r"jacobian_determinant\(\): expected `displacement` to be a torch.Tensor"):
        ev.jacobian_determinant([[0.0]], spacing=(1.0, 1.0))


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("stencil", ev.STENCILS)
def test_determinant_equals_linalg_det_of_the_matrix(ndim, stencil, device):
    """jacobian_determinant (unhalved differences, fused products) == torch.linalg.det of jacobian_matrix, and its
    gradient == the gradient of that reference."""
    u = smooth_field(ndim, SIZES[ndim], device, amplitude=3.0, batch=2).requires_grad_()
    determinant = ev.jacobian_determinant(u, stencil=stencil)
    expected = torch.linalg.det(ev.jacobian_matrix(u, stencil=stencil).movedim((1, 2), (-2, -1)))
    torch.testing.assert_close(determinant, expected, rtol=0, atol=1e-12)
    weights = torch.randn(determinant.shape, dtype=determinant.dtype, device=device)
    gradient, = torch.autograd.grad((determinant * weights).sum(), u)
    expected_gradient, = torch.autograd.grad((expected * weights).sum(), u)
    torch.testing.assert_close(gradient, expected_gradient, rtol=0, atol=1e-10)
