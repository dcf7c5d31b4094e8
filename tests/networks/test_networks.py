"""Tests for reglab.networks: shapes (2D/3D, odd sizes), identity at init, parameter counts, errors,
gradient flow, a few training steps, symmetry of SymNet, Swin windows, pretrained weights."""

import pytest
import torch

from reglab.fields import compose, integrate_velocity
from reglab.networks import (NETWORKS, Discriminator, GANRegistration, HyperMorph, LapIRN, ResUNet, SymNet, TransMorph,
                             UNet, VoxelMorph, create, load_pretrained)
from reglab.networks.pretrained import WEIGHTS
from reglab.networks.transmorph import relative_position_index, shift_mask, window_partition, window_reverse
from reglab.warping import warp

TINY_VXM = ((4, 8), (8, 8, 4))
TINY = {
    "unet": lambda d: UNet(d, features=(4, 8)),
    "resunet": lambda d: ResUNet(d, features=(4, 8)),
    "voxelmorph": lambda d: VoxelMorph(d, features=TINY_VXM),
    "voxelmorph-diff": lambda d: VoxelMorph(d, features=TINY_VXM, diffeomorphic=True, steps=4),
    "lapirn": lambda d: LapIRN(d, width=4, blocks=1),
    "hypermorph": lambda d: HyperMorph(d, features=TINY_VXM, hyper=(8,)),
    "symnet": lambda d: SymNet(d, features=(4, 8), steps=4),
    "gan": lambda d: GANRegistration(d, generator=VoxelMorph(d, features=TINY_VXM), features=(4, 8)),
    "transmorph": lambda d: TransMorph(d, embed=8, depths=(1, 1), heads=(1, 2), window=2, patch=2),
}
SIZES = {2: (13, 19), 3: (9, 10, 8)}


def blob_pair(ndim, size, device, shift=1):
    """A Gaussian blob and the same blob rolled by ``shift`` voxels along the last axis."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float32, device=device) for n in size], indexing="ij")
    r2 = sum((a - (n - 1) / 2) ** 2 for a, n in zip(axes, size))
    fixed = torch.exp(-r2 / (2 * (min(size) / 5) ** 2))[None, None]
    return fixed, torch.roll(fixed, shift, dims=-1)


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("ndim", [2, 3])
def test_shape_odd_sizes_and_identity_at_init(name, ndim, device):
    net = TINY[name](ndim).to(device)
    fixed = torch.rand(2, 1, *SIZES[ndim], device=device)
    moving = torch.rand(2, 1, *SIZES[ndim], device=device)
    u = net(fixed, moving)
    assert u.shape == (2, ndim, *SIZES[ndim])
    assert u.abs().max() < 1e-2                                               # the flow head starts near zero
    torch.testing.assert_close(warp(moving, u), moving, atol=2e-2, rtol=0)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_default_configurations_build_and_count(name):
    net = create(name, 2)
    counted = net.generator if name == "gan" else net                       # the GAN reports its generator
    assert net.num_parameters() == sum(p.numel() for p in counted.parameters())
    assert 10_000 < net.num_parameters() < 2_000_000                         # small: trains on a CPU


def test_voxelmorph_parameter_count_matches_the_paper_layout():
    """VM-2 (2D): 3×3 convolutions enc 2→16→32→32→32, dec 32→32 (+skips), full-res 48→32→16→16, head 16→2."""
    layers = [(2, 16), (16, 32), (32, 32), (32, 32),                           # encoder
              (32, 32), (64, 32), (64, 32), (64, 32),                          # decoder levels (input + skip)
              (48, 32), (32, 16), (16, 16), (16, 2)]                           # full resolution, flow head
    assert VoxelMorph(2).num_parameters() == sum(i * o * 9 + o for i, o in layers)
    assert VoxelMorph(3, size="vm1").num_parameters() == sum(
        i * o * 27 + o for i, o in layers[:8] + [(48, 8), (8, 8), (8, 3)])


@pytest.mark.parametrize("ndim", [2, 3])
def test_errors(ndim, device):
    net = TINY["voxelmorph"](ndim).to(device)
    good = torch.rand(1, 1, *SIZES[ndim], device=device)
    with pytest.raises(ValueError, match="expected `ndim` 2 or 3"):
        VoxelMorph(4)
    with pytest.raises(ValueError, match="same shape"):
        net(good, good[..., :-1])
    with pytest.raises(ValueError, match=f"expected a {ndim}D `fixed`"):
        net(torch.rand(1, 1, *([8] * (5 - ndim)), device=device), torch.rand(1, 1, *([8] * (5 - ndim)), device=device))
    with pytest.raises(ValueError, match="at least 4 voxels per axis"):
        net(good[..., :3], good[..., :3])
    with pytest.raises(TypeError, match="torch.Tensor"):
        net(good.cpu().numpy(), good)
    with pytest.raises(ValueError, match="NaN"):
        net(good * float("nan"), good)
    with pytest.raises(ValueError, match="'vm1' or 'vm2'"):
        VoxelMorph(ndim, size="vm3")
    with pytest.raises(ValueError, match="`lam` in"):
        TINY["hypermorph"](ndim).to(device)(good, good, lam=1.5)


@pytest.mark.parametrize("name", list(TINY))
def test_gradients_reach_every_parameter(name, device):
    torch.manual_seed(0)
    net = TINY[name](2).to(device)
    fixed, moving = blob_pair(2, (16, 16), device)
    u = net(fixed, moving)
    (warp(moving, u) - fixed).pow(2).mean().backward()
    generator = net.generator if name == "gan" else net
    for parameter_name, parameter in generator.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
    assert sum(p.grad.abs().sum() for p in generator.parameters()) > 0


@pytest.mark.parametrize("name", list(TINY))
def test_a_few_training_steps_reduce_the_loss(name, device):
    torch.manual_seed(0)
    net = TINY[name](2).to(device)
    fixed, moving = blob_pair(2, (16, 16), device)
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-3)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = (warp(moving, net(fixed, moving)) - fixed).pow(2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_training_in_3d_reduces_the_loss(device):
    torch.manual_seed(0)
    net = TINY["voxelmorph"](3).to(device)
    fixed, moving = blob_pair(3, (8, 8, 8), device)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(10):
        optimizer.zero_grad()
        loss = (warp(moving, net(fixed, moving)) - fixed).pow(2).mean()
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.8 * first


def _perturbed(net, std=0.05, seed=1):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=generator).to(p.device) * std)
    return net


def test_symnet_is_symmetric_and_inverse_consistent(device):
    net = _perturbed(TINY["symnet"](2), std=0.1).to(device)         # a small, smooth field
    fixed, moving = blob_pair(2, (16, 16), device, shift=3)                   # smooth inputs → a smooth velocity
    torch.testing.assert_close(net.velocity(fixed, moving), -net.velocity(moving, fixed))
    forward, backward = net.both(fixed, moving)
    size = forward.abs().mean()
    assert size > 1e-3
    swapped_forward, swapped_backward = net.both(moving, fixed)
    torch.testing.assert_close(swapped_forward, backward)                      # swapping the inputs swaps directions
    assert compose(forward, backward).abs().mean() < 0.1 * size                # exp(v) ∘ exp(-v) = id (interpolation aside)
    torch.testing.assert_close(net(fixed, moving), forward)
    to_moving, to_fixed = net.mid_space(fixed, moving)
    v = net.velocity(fixed, moving)
    torch.testing.assert_close(to_moving, integrate_velocity(0.5 * v, steps=4))   # half-way: exp(±v/2)
    torch.testing.assert_close(to_fixed, net.mid_space(moving, fixed)[0])


def test_diffeomorphic_voxelmorph_integrates_its_velocity(device):
    net = _perturbed(TINY["voxelmorph-diff"](2)).to(device)
    fixed, moving = torch.rand(1, 1, 16, 16, device=device), torch.rand(1, 1, 16, 16, device=device)
    torch.testing.assert_close(net(fixed, moving), integrate_velocity(net.velocity(fixed, moving), steps=4))


@pytest.mark.parametrize("ndim", [2, 3])
def test_voxelmorph_channels_last_layout_keeps_the_values(ndim, device):
    torch.manual_seed(0)
    net = VoxelMorph(ndim, features=TINY_VXM).to(device)
    torch.nn.init.normal_(net.head.conv.weight, std=0.1)                     # an O(1) output, not ~1e-5
    fixed, moving = blob_pair(ndim, (12,) * ndim, device)
    x, skips = torch.cat([fixed, moving], dim=1), []                         # the layers in the default layout
    for block in net.encoder:
        x = block(x)
        skips.append(x)
        x = net.pool(x)
    for block in net.decoder:
        skip = skips.pop()
        x = torch.cat([torch.nn.functional.interpolate(block(x), size=skip.shape[2:]), skip], dim=1)
    for block in net.refine:
        x = block(x)
    displacement = net(fixed, moving)
    assert displacement.is_contiguous()
    torch.testing.assert_close(displacement, net.head(x), rtol=1e-4, atol=1e-6)


def test_lapirn_levels_and_residual_composition(device):
    net = _perturbed(TINY["lapirn"](2)).to(device)
    fixed, moving = torch.rand(1, 1, 24, 16, device=device), torch.rand(1, 1, 24, 16, device=device)
    fields = net.pyramid(fixed, moving)
    assert [tuple(u.shape[2:]) for u in fields] == [(6, 4), (12, 8), (24, 16)]
    torch.testing.assert_close(fields[-1], net(fixed, moving))


def test_lapirn_carries_a_coarse_field_in_the_images_geometry(device):
    # the images are average-pooled (cell-centred voxels), so the coarse field must be upsampled in the same
    # geometry: a constant 1 coarse voxel is f fine voxels everywhere (the align_corners=True rescaling of
    # resize_displacement gave (n - 1)/(n/f - 1): 2.14 and 4.43 instead of 2 and 4 on a 32-voxel axis)
    net = LapIRN(2, width=4, blocks=1).to(device)
    with torch.no_grad():
        for level in net.nets:
            level.head.conv.weight.zero_()                       # no residuals ...
            level.head.conv.bias.zero_()
        net.nets[0].head.conv.bias.fill_(1.0)                    # ... but 1 coarse voxel on the coarsest level
    fixed, moving = torch.rand(1, 1, 32, 24, device=device), torch.rand(1, 1, 32, 24, device=device)
    fields = net.pyramid(fixed, moving)
    for field, factor in zip(fields, (1, 2, 4)):
        torch.testing.assert_close(field, torch.full_like(field, float(factor)), rtol=0, atol=1e-6)


def test_hypermorph_output_depends_on_lambda(device):
    net = _perturbed(TINY["hypermorph"](2), std=0.2).to(device)
    fixed, moving = blob_pair(2, (16, 16), device)
    assert (net(fixed, moving, lam=0.0) - net(fixed, moving, lam=1.0)).abs().max() > 1e-4
    torch.testing.assert_close(net(fixed, moving), net(fixed, moving, lam=net.lam))


@pytest.mark.parametrize("ndim", [2, 3])
def test_discriminator_patch_logits(ndim, device):
    d = Discriminator(ndim, features=(4, 8)).to(device)
    x = torch.rand(3, 1, *([16] * ndim), device=device)
    assert d(x, x).shape == (3, 1, *([4] * ndim))


@pytest.mark.parametrize("ndim", [2, 3])
def test_window_partition_matches_a_loop_and_inverts(ndim, device):
    size, window = (4, 6, 2)[:ndim], (2, 3, 2)[:ndim]
    x = torch.rand(2, *size, 5, device=device)
    windows = window_partition(x, window)
    counts = [n // w for n, w in zip(size, window)]
    expected = []
    for b in range(2):
        for index in torch.cartesian_prod(*[torch.arange(c) for c in counts]).reshape(-1, ndim).tolist():
            box = tuple(slice(i * w, (i + 1) * w) for i, w in zip(index, window))
            expected.append(x[(b, *box)].reshape(-1, 5))
    torch.testing.assert_close(windows, torch.stack(expected))
    torch.testing.assert_close(window_reverse(windows, window, size, 2), x)


def test_relative_position_index_and_shift_mask():
    index = relative_position_index((3, 3))
    assert index.shape == (9, 9) and index.min() == 0 and index.max() == 24
    assert (index.diagonal() == 12).all()                                     # offset (0, 0) is the table's centre
    assert index[0, 8] == 0 and index[8, 0] == 24                             # offsets (-2, -2) and (2, 2)
    mask = shift_mask((4, 4), (2, 2), (1, 1), torch.device("cpu"))
    assert mask.shape == (4, 4, 4) and (mask[0] == 0).all() and (mask[-1] != 0).any()


def test_transmorph_paper_configuration_size():
    from reglab.networks.transmorph import PAPER
    assert 30e6 < TransMorph(3, **PAPER).num_parameters() < 50e6


@pytest.mark.skipif(not (WEIGHTS / "voxelmorph_2d.pt").exists(), reason="pretrained weights not trained yet")
def test_pretrained_weights_load_and_register(device):
    from reglab.training import evaluate, make_pairs
    pairs = make_pairs(2, seed=3, landmarks=0)
    net = load_pretrained("voxelmorph", device=device)
    assert not net.training
    assert evaluate(net, pairs)["epe"] < evaluate(None, pairs)["epe"]
    with pytest.raises(ValueError, match="shipped weights"):
        load_pretrained("unet", 3)
