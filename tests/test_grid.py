"""reglab.grid: the conventions, identity grids, normalized coordinates, splatting."""

import pytest
import torch
import torch.nn.functional as F

from reglab.grid import (ALIGN_CORNERS, grid_sample_in_slabs, identity_grid, normalized_to_voxel, splat, to_grid_sample,
                         voxel_to_normalized)

SIZES = [(5, 7), (4, 6, 3)]


@pytest.mark.parametrize("size", SIZES)
def test_identity_grid_channel_i_is_the_index_along_axis_i(size, device):
    x = identity_grid(size, device=device)
    assert x.shape == (1, len(size), *size)
    for axis, n in enumerate(size):
        profile = x[0, axis].movedim(axis, 0).reshape(n, -1)
        assert torch.equal(profile, torch.arange(n, device=device, dtype=x.dtype)[:, None].expand_as(profile))


@pytest.mark.parametrize("size", SIZES)
def test_normalized_round_trip_and_corners(size, device):
    points = torch.rand(10, len(size), device=device) * torch.tensor(size, device=device)
    assert torch.allclose(normalized_to_voxel(voxel_to_normalized(points, size), size), points, atol=1e-5)
    last = torch.tensor([[n - 1.0 for n in size]], device=device)
    assert torch.equal(voxel_to_normalized(last, size), torch.ones_like(last))
    assert torch.equal(voxel_to_normalized(torch.zeros_like(last), size), -torch.ones_like(last))


@pytest.mark.parametrize("size", SIZES)
def test_to_grid_sample_identity_reproduces_the_image(size, device):
    """align_corners=True + the reversed axes: sampling at the identity grid returns the image exactly."""
    image = torch.rand(2, 3, *size, device=device)
    grid = to_grid_sample(identity_grid(size, device=device).expand(2, -1, *size), size)
    assert grid.shape == (2, *size, len(size))
    out = F.grid_sample(image, grid, align_corners=ALIGN_CORNERS)
    assert torch.allclose(out, image, atol=1e-6)


def test_to_grid_sample_matches_affine_grid_identity(device):
    """PyTorch's own identity grid (align_corners=True) is what we build."""
    size = (4, 6, 5)
    theta = torch.eye(3, 4, device=device)[None]
    reference = F.affine_grid(theta, (1, 1, *size), align_corners=True)
    assert torch.allclose(to_grid_sample(identity_grid(size, device=device), size), reference, atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
def test_splat_integer_shift_is_a_roll_inside(size, device):
    image = torch.rand(1, 2, *size, device=device)
    u = torch.zeros(1, len(size), *size, device=device)
    u[:, -1] = 1.0
    pushed = splat(image, u)
    expected = torch.roll(image, 1, dims=-1)
    assert torch.allclose(pushed[..., 1:], expected[..., 1:], atol=1e-6)
    assert torch.all(pushed[..., 0] == 0)                      # a hole where nothing arrives


def test_splat_conserves_mass_and_shows_holes_and_overlaps(device):
    size = (16, 16)
    image = torch.ones(1, 1, *size, device=device)
    x = identity_grid(size, device=device)
    u = 1.5 * (x - 7.5)                                        # expand 2.5 times about the centre
    pushed = splat(image, u)
    assert (pushed == 0).any()                                            # holes
    shrunk = splat(image, -0.3 * (x - 7.5))                               # shrink: every target is inside
    assert torch.isclose(shrunk.sum(), image.sum(), atol=1e-3)            # so no mass is lost
    assert shrunk.max() > 1.2                                             # overlaps
    normalized = splat(image, u, normalize=True)
    assert torch.allclose(normalized[normalized > 0], torch.ones_like(normalized[normalized > 0]))


def test_splat_gradcheck(device):
    image = torch.rand(1, 1, 4, 5, dtype=torch.float64, device=device, requires_grad=True)
    u = (0.4 * torch.rand(1, 2, 4, 5, dtype=torch.float64, device=device) + 0.3).requires_grad_()
    assert torch.autograd.gradcheck(lambda i, d: splat(i, d, normalize=True), (image, u))


def test_splat_errors(device):
    with pytest.raises(ValueError, match=r"splat\(\): expected `displacement` of shape \(B, 2, H, W\).*channels-last"):
        splat(torch.rand(1, 1, 5, 6, device=device), torch.rand(1, 5, 6, 2, device=device))


def test_splat_follows_the_image_dtype_and_broadcasts_the_batch(device):
    """A float64 field pushes a float32 image (as warp() accepts it); it used to crash inside scatter."""
    image = torch.rand(1, 1, 5, 6, device=device)
    u = 0.4 * torch.rand(2, 2, 5, 6, device=device, dtype=torch.float64)
    pushed = splat(image, u)
    assert pushed.dtype == torch.float32 and pushed.shape == (2, 1, 5, 6)
    torch.testing.assert_close(pushed[1:], splat(image, u[1:].float()))
    with pytest.raises(ValueError, match=r"splat\(\): expected `image` and `displacement` with the same batch size"):
        splat(torch.rand(2, 1, 5, 6, device=device), torch.zeros(3, 2, 5, 6, device=device))
    with pytest.raises(ValueError, match=r"splat\(\): expected a non-empty `image`"):
        splat(torch.rand(1, 1, 0, 6, device=device), torch.zeros(1, 2, 0, 6, device=device))


@pytest.mark.parametrize("shape, grid_shape", [((1, 2, 5, 6), (1, 7, 3, 2)), ((1, 3, 9, 8, 7), (1, 9, 8, 7, 3)),
                                               ((1, 1, 4, 4, 4), (1, 1, 5, 5, 3)), ((2, 3, 6, 6), (2, 5, 5, 2))])
@pytest.mark.parametrize("mode, padding", [("bilinear", "border"), ("bilinear", "zeros"), ("nearest", "reflection")])
def test_grid_sample_in_slabs_is_grid_sample(shape, grid_shape, mode, padding, device):
    """Values equal, gradients equal to rounding, whatever the thread count (slabs: odd rows, 1 row, batch 2)."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(shape, generator=generator, dtype=torch.float64).to(device)
    grid = (torch.rand(grid_shape, generator=generator, dtype=torch.float64) * 2.4 - 1.2).to(device)
    threads = torch.get_num_threads()
    try:
        for count in (1, 2, 3, 12):                          # 12 threads: MAX_SLABS (8) slabs
            torch.set_num_threads(count)
            ours = (image.clone().requires_grad_(), grid.clone().requires_grad_())
            theirs = (image.clone().requires_grad_(), grid.clone().requires_grad_())
            a = grid_sample_in_slabs(*ours, mode=mode, padding_mode=padding)
            b = torch.nn.functional.grid_sample(*theirs, mode=mode, padding_mode=padding, align_corners=True)
            assert torch.equal(a, b)
            weights = torch.rand(a.shape, generator=generator, dtype=torch.float64).to(device)
            (a * weights).sum().backward()
            (b * weights).sum().backward()
            for x, y in zip(ours, theirs):
                assert torch.allclose(x.grad, y.grad, atol=1e-12)
    finally:
        torch.set_num_threads(threads)


def test_grid_sample_in_slabs_refuses_one_image_with_a_batch_of_grids_as_grid_sample_does(device):
    """Batch sizes that grid_sample refuses are refused here too, at any thread count (not cut into wrong slabs)."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with pytest.raises(RuntimeError, match="batch size"):
            grid_sample_in_slabs(torch.rand(1, 1, 6, 6, device=device), torch.zeros(2, 6, 6, 2, device=device))
    finally:
        torch.set_num_threads(threads)
