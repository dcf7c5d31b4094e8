"""Tests for reglab.registration.region: the box of both regions, and models carried from it to the whole grid.

Oracles: NumPy's bounding box of the masks, the analytic map of an affine model (its matrix), a dense field
padded by NumPy's ``edge`` mode, and register() on the whole grid (the box must give the same registration).
"""

import numpy as np
import pytest
import torch

from reglab.fields import compose
from reglab.registration.engine import _start, register
from reglab.registration.region import crop, extend_model, region_box
from reglab.registration.stages import register_stages
from reglab.transforms import Affine, Chain, Dense, Rigid, StationaryVelocity
from tests.registration._cases import brain


def _numpy_box(*masks):
    inside = np.any([m[0, 0] != 0 for m in masks], axis=0)
    hits = np.nonzero(inside)
    return tuple(slice(int(h.min()), int(h.max()) + 1) for h in hits)


@pytest.mark.parametrize("ndim", [2, 3])
def test_region_box_is_the_bounding_box_of_both_masks(ndim, device):
    generator = torch.Generator().manual_seed(ndim)
    shape = (1, 1, *([12] * ndim))
    a = torch.zeros(shape, dtype=torch.bool)
    a[(0, 0, *([slice(1, 9)] * ndim))] = torch.rand((8,) * ndim, generator=generator) > 0.9    # scattered voxels
    a = a.to(device)
    b = torch.zeros(shape, device=device)
    b[(0, 0, *([slice(3, 5)] * ndim))] = 1
    assert region_box(a, b) == _numpy_box(a.cpu().numpy(), b.cpu().numpy())


def test_region_box_is_none_without_a_smaller_box(device):
    whole = torch.ones(1, 1, 6, 6, device=device)
    part = torch.zeros(1, 1, 6, 6, device=device)
    part[..., 1:3, 1:3] = 1
    assert region_box(None, part) is None                          # a missing mask: every voxel may count
    assert region_box(whole, part) is None                         # the box is the grid
    assert region_box(torch.zeros_like(part), torch.zeros_like(part)) is None


def test_crop_takes_the_spatial_box(device):
    image = torch.arange(2 * 36.0, device=device).reshape(1, 2, 6, 6)
    box = (slice(1, 4), slice(2, 6))
    assert torch.equal(crop(image, box), image[:, :, 1:4, 2:6])
    assert crop(image, None) is image and crop(None, box) is None


@pytest.mark.parametrize("kind", ["affine", "rigid2d", "rigid3d"])
def test_extended_linear_model_is_the_same_map_on_the_whole_grid(kind, device):
    generator = torch.Generator().manual_seed(1)
    if kind == "affine":
        small = Affine((5, 7, 6), linear=torch.eye(3) + 0.1 * torch.randn(1, 3, 3, generator=generator),
                       translation=torch.randn(1, 3, generator=generator))
    elif kind == "rigid2d":
        small = Rigid((5, 7), rotation=torch.tensor([[0.3]]), translation=torch.tensor([[1.0, -2.0]]))
    else:
        small = Rigid((5, 7, 6), parametrization="quaternion", rotation=torch.tensor([[0.1, -0.2, 0.05]]),
                      translation=torch.tensor([[1.0, -2.0, 0.5]]))
    small = small.to(device)
    box = tuple(slice(o, o + n) for o, n in zip((3, 2, 4), small.size))
    size = tuple(b.stop + 3 for b in box)
    whole = extend_model(small, box, size)
    assert type(whole) is type(small) and whole.size == size
    assert torch.allclose(crop(whole(), box), small().detach(), atol=1e-4)
    x = torch.tensor([[[0.0] * small.ndim, [2.5] * small.ndim]], device=device)       # box points
    offset = torch.tensor([b.start for b in box], dtype=torch.float32, device=device)
    assert torch.allclose(whole.transform_points(x + offset) - offset, small.transform_points(x).detach(), atol=1e-4)


@pytest.mark.parametrize("model_type", [Dense, StationaryVelocity])
def test_extended_field_is_padded_with_its_border_values(model_type, device):
    field = torch.randn(1, 2, 4, 5, device=device)
    small = model_type((4, 5), **{"field" if model_type is Dense else "velocity": field})
    box = (slice(2, 6), slice(1, 6))
    whole = extend_model(small, box, (9, 8))
    parameter = whole.field if model_type is Dense else whole.velocity
    expected = np.pad(field.cpu().numpy(), ((0, 0), (0, 0), (2, 3), (1, 2)), mode="edge")
    np.testing.assert_array_equal(parameter.detach().cpu().numpy(), expected)
    assert not parameter.requires_grad


def test_extend_model_names_the_models_it_takes():
    from reglab.transforms import BSpline

    with pytest.raises(ValueError, match=r"extend_model\(\): expected a Rigid, Affine, Dense or StationaryVelocity"):
        extend_model(BSpline((16, 16), spacing=4), (slice(0, 8), slice(0, 8)), (20, 20))


def test_a_linear_start_is_composed_exactly(device):
    """start + A u equals compose(start, u) wherever x + u(x) stays on the grid (compose clamps outside)."""
    size = (12, 14)
    affine = Affine(size, linear=torch.tensor([[[1.1, 0.2], [-0.1, 0.9]]]),
                    translation=torch.tensor([[0.5, -1.0]])).to(device)
    for initial in (affine, Chain(Rigid(size, rotation=torch.tensor([[0.2]])).to(device), affine)):
        for level_size in (size, (7, 8)):
            field, linear = _start(initial, None, size, level_size)
            assert linear is not None
            u = 0.3 * torch.randn(1, 2, *level_size, device=device)
            exact = field + (linear @ u.flatten(2)).reshape(u.shape)
            inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
            assert torch.allclose(exact[inner], compose(field, u)[inner], atol=1e-4)


def test_a_deformable_start_is_composed_by_interpolation(device):
    size = (10, 10)
    initial = Dense(size, field=torch.randn(1, 2, *size)).to(device)
    field, linear = _start(initial, None, size, size)
    assert linear is None and torch.equal(field, initial().detach())


def _padded_pair(device):
    """A 2D pair whose scans fill a box of 40 x 44 voxels, padded to 64 x 64 by repeating their edges."""
    fixed = brain(2, device)[..., 10:50, 8:52]
    moving = torch.roll(fixed, shifts=(2, -1), dims=(2, 3))
    pad = torch.nn.functional.pad
    return pad(fixed, (10, 10, 12, 12), mode="replicate"), pad(moving, (10, 10, 12, 12), mode="replicate")


def test_register_optimises_on_the_box_and_returns_a_model_on_the_whole_grid(device):
    fixed, moving = _padded_pair(device)
    result = register_stages(fixed, moving, progress=False)
    assert result.displacement.shape == (1, 2, 64, 64)
    assert all(t.size == (64, 64) for t in result.transform.transforms)
    inner = (slice(None), slice(None), slice(14, 50), slice(12, 52))
    error = (result.warped - fixed)[inner].abs().mean() / fixed[inner].abs().mean()
    before = (moving - fixed)[inner].abs().mean() / fixed[inner].abs().mean()
    assert error < 0.4 * before


def test_the_box_gives_the_same_affine_as_the_whole_grid(device, monkeypatch):
    """Cropping to the box drops only voxels that count for nothing: the same answer as with every voxel."""
    fixed, moving = _padded_pair(device)
    mask = torch.zeros_like(fixed)
    mask[..., 12:52, 10:54] = 1
    options = dict(transform="affine", similarity="ssd", levels=1, iterations=100, progress=False, foreground=None,
                   fixed_mask=mask, moving_mask=mask)
    boxed = register(fixed, moving, **options)
    monkeypatch.setattr("reglab.registration.engine.region_box", lambda fixed_mask, moving_mask: None)
    whole = register(fixed, moving, **options)                           # the same objective on every voxel
    truth = torch.tensor([[[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]], device=device)      # moving = fixed shifted (2, -1)
    assert torch.allclose(boxed.transform.matrix(), whole.transform.matrix(), atol=0.03)
    assert torch.allclose(boxed.transform.matrix(), truth, atol=0.1)
