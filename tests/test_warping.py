"""reglab.warp and reglab.warp_points: analytic cases, the SimpleITK oracle, gradients, errors."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch

import reglab
from reglab.fields import affine_to_displacement
from reglab.grid import identity_grid
from reglab.io import Geometry, displacement_to_itk, from_sitk, to_sitk

SIZES = [(9, 12), (6, 8, 7)]


def smooth_field(batch, size, magnitude, device, dtype=torch.float32):
    ndim = len(size)
    coarse = magnitude * torch.randn(batch, ndim, *[3] * ndim, device=device, dtype=dtype)
    mode = "bilinear" if ndim == 2 else "trilinear"
    return torch.nn.functional.interpolate(coarse, size=size, mode=mode, align_corners=True)


@pytest.mark.parametrize("size", SIZES)
def test_zero_displacement_is_the_identity(size, device):
    image = torch.rand(2, 3, *size, device=device)
    assert torch.allclose(reglab.warp(image, torch.zeros(2, len(size), *size, device=device)), image, atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("axis", [0, 1])
def test_integer_shift_is_torch_roll(size, axis, device):
    """u = +2 along an axis pulls the values from two voxels further on: roll by -2 (inside the image)."""
    image = torch.rand(1, 1, *size, device=device)
    u = torch.zeros(1, len(size), *size, device=device)
    u[:, axis] = 2.0
    warped = reglab.warp(image, u)
    rolled = torch.roll(image, -2, dims=2 + axis)
    inside = [slice(None)] * 2 + [slice(None)] * len(size)
    inside[2 + axis] = slice(0, size[axis] - 2)
    assert torch.allclose(warped[tuple(inside)], rolled[tuple(inside)], atol=1e-6)


@pytest.mark.parametrize("mode", ["nearest", "label"])
def test_label_maps_stay_labels(mode, device):
    labels = torch.randint(0, 4, (2, 1, 10, 11), device=device) * 3       # labels 0, 3, 6, 9
    u = smooth_field(2, (10, 11), 2.0, device)
    warped = reglab.warp(labels, u, mode=mode)
    assert warped.dtype == labels.dtype
    assert set(warped.unique().tolist()) <= {0, 3, 6, 9}


def test_label_mode_takes_the_majority(device):
    labels = torch.zeros(1, 1, 1, 4, dtype=torch.long, device=device)
    labels[..., 2:] = 5
    u = torch.zeros(1, 2, 1, 4, device=device)
    u[:, 1] = 0.4                                            # voxel 1 looks at 1.4: 60 % label 0, 40 % label 5
    assert reglab.warp(labels, u, mode="label").tolist() == [[[[0, 0, 5, 5]]]]
    u[:, 1] = 0.6                                            # 40 % label 0, 60 % label 5
    assert reglab.warp(labels, u, mode="label")[..., 1].item() == 5


def test_cubic_interpolation_beats_linear_on_a_quadratic_profile_in_2d(device):
    """PyTorch's bicubic (Keys, a = -0.75) is exact on a ramp and closer than linear on a parabola."""
    x = torch.arange(12.0, device=device)
    image = (x[None, :] ** 2).expand(12, 12)[None, None].contiguous()
    u = torch.zeros(1, 2, 12, 12, device=device)
    u[:, 1] = 0.5
    centre = (..., slice(2, -3))
    expected = ((x + 0.5) ** 2)[None, None, None].expand(1, 1, 12, 12)
    cubic_error = (reglab.warp(image, u, mode="cubic") - expected)[centre].abs().max()
    linear_error = (reglab.warp(image, u) - expected)[centre].abs().max()
    assert linear_error > 0.2 and cubic_error < 0.6 * linear_error
    ramp = x[None, :].expand(12, 12)[None, None].contiguous()
    assert torch.allclose(reglab.warp(ramp, u, mode="cubic")[centre], (ramp + 0.5)[centre], atol=1e-4)


def test_affine_rotation_matches_the_matrix(device):
    """A 90° rotation about the centre of a square image permutes voxels exactly."""
    n = 7
    image = torch.rand(1, 1, n, n, device=device)
    c = (n - 1) / 2
    matrix = torch.tensor([[[0.0, -1.0, 2 * c], [1.0, 0.0, 0.0]]], device=device)   # y = (c - (j - c), i)
    warped = reglab.warp(image, affine_to_displacement(matrix, (n, n)))
    x = identity_grid((n, n), device=device)[0].long()
    assert torch.allclose(warped[0, 0], image[0, 0, 2 * int(c) - x[1], x[0]], atol=1e-5)


@pytest.mark.parametrize("size,spacing", [((14, 17), (1.5, 0.8)), ((9, 12, 10), (2.0, 1.2, 0.7))])
def test_matches_simpleitk_resample(size, spacing, device):
    """Oracle: the same dense field applied by SimpleITK's DisplacementFieldTransform + Resample."""
    ndim = len(size)
    geometry = Geometry(spacing, tuple(range(3, 3 + ndim)), tuple(np.eye(ndim).flatten().tolist()))
    moving = torch.nn.functional.interpolate(torch.rand(1, 1, *[5] * ndim), size=size,
                                             mode="bilinear" if ndim == 2 else "trilinear", align_corners=True)
    u = smooth_field(1, size, 1.5, "cpu", torch.float64)
    transform = displacement_to_itk(u, geometry, geometry)
    reference = sitk.Resample(to_sitk(moving, geometry), to_sitk(moving, geometry), transform,
                              sitk.sitkLinear, 0.0, sitk.sitkFloat64)
    expected = from_sitk(reference).data.float()
    warped = reglab.warp(moving.to(device), u.float().to(device)).cpu()
    x = identity_grid(size) + u.float()
    inside = ((x >= 0) & (x <= torch.tensor(size).reshape(1, ndim, *[1] * ndim) - 1)).all(1, keepdim=True)
    assert inside.float().mean() > 0.5
    assert torch.allclose(warped[inside], expected[inside], atol=1e-5)


@pytest.mark.parametrize("size,spacing", [((14, 17), (1.5, 0.8)), ((9, 12, 10), (2.0, 1.2, 0.7))])
def test_zeros_padding_against_simpleitk_in_the_border_band(size, spacing, device):
    """Oracle outside the image: SimpleITK's Resample repeats the edge voxel up to half a voxel out, then gives 0;
    reglab's zeros padding fades linearly: the border-padded value × Π_i (1 - distance outside along axis i)."""
    ndim = len(size)
    geometry = Geometry(spacing, tuple(range(3, 3 + ndim)), tuple(np.eye(ndim).flatten().tolist()))
    moving = 0.5 + torch.rand(1, 1, *size, dtype=torch.float64)
    u = smooth_field(1, size, 1.0, "cpu", torch.float64)
    transform = displacement_to_itk(u, geometry, geometry)
    reference = sitk.Resample(to_sitk(moving, geometry), to_sitk(moving, geometry), transform,
                              sitk.sitkLinear, 0.0, sitk.sitkFloat64)
    expected = from_sitk(reference).data
    zeros = reglab.warp(moving.to(device), u.to(device)).cpu()
    border = reglab.warp(moving.to(device), u.to(device), padding="border").cpu()
    x = identity_grid(size, dtype=torch.float64) + u
    upper = torch.tensor(size, dtype=torch.float64).reshape(1, ndim, *[1] * ndim) - 1
    outside = (-x).clamp(min=0) + (x - upper).clamp(min=0)                      # (1, ndim, *size) voxels
    band = ((outside.amax(1, keepdim=True) > 0) & (outside.amax(1, keepdim=True) < 0.49))
    beyond = outside.amax(1, keepdim=True) > 0.51
    assert band.sum() >= 5 and beyond.sum() >= 5                                # the field reaches both
    torch.testing.assert_close(border[band], expected[band])                    # ITK: the edge value ...
    torch.testing.assert_close(expected[beyond], torch.zeros_like(expected[beyond]))   # ... then 0
    fade = (1 - outside).clamp(min=0).prod(1, keepdim=True)
    torch.testing.assert_close(zeros, border * fade)                            # reglab: a linear fade
    assert (zeros[band] - expected[band]).abs().max() > 0.05                    # so they differ in the band


def test_warp_gradcheck(device):
    moving = torch.rand(1, 1, 5, 6, dtype=torch.float64, device=device, requires_grad=True)
    u = (0.3 + 0.4 * torch.rand(1, 2, 5, 6, dtype=torch.float64, device=device)).requires_grad_()
    assert torch.autograd.gradcheck(reglab.warp, (moving, u))


def test_warp_gradcheck_3d(device):
    moving = torch.rand(1, 1, 3, 4, 4, dtype=torch.float64, device=device, requires_grad=True)
    u = (0.3 + 0.4 * torch.rand(1, 3, 3, 4, 4, dtype=torch.float64, device=device)).requires_grad_()
    assert torch.autograd.gradcheck(lambda m, d: reglab.warp(m, d, padding="border"), (moving, u))


def test_batch_broadcasting_equals_per_sample(device):
    moving = torch.rand(1, 1, 8, 9, device=device)
    u = smooth_field(3, (8, 9), 2.0, device)
    batched = reglab.warp(moving, u)
    for b in range(3):
        assert torch.allclose(batched[b:b + 1], reglab.warp(moving, u[b:b + 1]))


def test_warp_points_goes_the_other_way(device):
    """A fixed-image landmark p lands at p + u(p) in the moving image: where warp fetched its value."""
    size = (20, 24)
    moving = torch.zeros(1, 1, *size, device=device)
    moving[0, 0, 12, 15] = 1.0                                   # a bright dot in the moving image
    u = torch.zeros(1, 2, *size, device=device)
    u[:, 0], u[:, 1] = 4.0, -3.0
    warped = reglab.warp(moving, u)
    found = torch.nonzero(warped[0, 0] > 0.5)[0].float()               # the dot in the warped (fixed) frame
    assert found.tolist() == [8.0, 18.0]
    mapped = reglab.warp_points(found[None, None], u)
    assert torch.allclose(mapped, torch.tensor([[[12.0, 15.0]]], device=device))


@pytest.mark.parametrize("size", SIZES)
def test_warp_points_interpolates_the_field(size, device):
    u = smooth_field(2, size, 2.0, device)
    points = torch.rand(2, 5, len(size), device=device) * (torch.tensor(size, device=device) - 1)
    mapped = reglab.warp_points(points, u)
    # the same interpolation done by warping each displacement component as an image
    for b in range(2):
        for p in range(5):
            shift = points[b, p] - torch.tensor(size, device=device).float().mul(0)
            probe = torch.zeros(1, len(size), *size, device=device) + shift.reshape(1, -1, *[1] * len(size))
            value = reglab.warp(u[b:b + 1], probe - identity_grid(size, device=device))[0, :, *[0] * len(size)]
            assert torch.allclose(mapped[b, p], points[b, p] + value, atol=1e-4)


@pytest.mark.parametrize("bad,match", [
    (lambda d: (torch.rand(1, 1, 8, 8, device=d), torch.rand(1, 8, 8, 2, device=d)), "channels-last"),
    (lambda d: (torch.rand(8, 8, device=d), torch.rand(1, 2, 8, 8, device=d)), "add the batch and channel axes"),
    (lambda d: (torch.rand(1, 1, 8, 8, device=d), torch.rand(1, 2, 8, 9, device=d)), "on the spatial grid"),
    (lambda d: (torch.rand(1, 1, 8, 8, device=d), torch.full((1, 2, 8, 8), float("nan"), device=d)), "NaN"),
    (lambda d: (torch.rand(1, 1, 8, 8, device=d), torch.rand(2, 8, 8, device=d)), "add the batch axis"),
])
def test_errors_name_function_argument_and_hint(bad, match, device):
    moving, u = bad(device)
    with pytest.raises(ValueError, match=rf"warp\(\): .*{match}"):
        reglab.warp(moving, u)


def test_integer_image_needs_a_label_mode(device):
    with pytest.raises(TypeError, match=r"warp\(\): expected a floating-point `moving`.*mode='nearest'"):
        reglab.warp(torch.ones(1, 1, 4, 4, dtype=torch.long, device=device), torch.zeros(1, 2, 4, 4, device=device))


def test_unknown_mode_and_cubic_in_3d(device):
    with pytest.raises(ValueError, match=r"warp\(\): expected `mode` to be one of"):
        reglab.warp(torch.rand(1, 1, 4, 4, device=device), torch.zeros(1, 2, 4, 4, device=device), mode="bilinear")
    with pytest.raises(ValueError, match="2D only"):
        reglab.warp(torch.rand(1, 1, 4, 4, 4, device=device), torch.zeros(1, 3, 4, 4, 4, device=device), mode="cubic")
