"""Tests for reglab.visualization.figures, headless (matplotlib Agg): what is drawn, where, with which units."""

import numpy as np
import pytest
import torch

from reglab import visualization as vz

SIZES = {2: (12, 16), 3: (8, 10, 12)}


def images(ndim, device, count=3):
    return [torch.rand(1, 1, *SIZES[ndim], device=device) for _ in range(count)]


def test_show_registration_uses_one_intensity_range(device):
    fixed, moving = torch.zeros(1, 1, 6, 6, device=device), torch.full((1, 1, 6, 6), 5.0, device=device)
    axes = vz.show_registration(fixed, moving, fixed + 2)
    assert {a.images[0].get_clim() for a in axes} == {(0.0, 5.0)}


def test_overlay_colours():
    fixed = np.array([[0.0, 1.0, 1.0, 0.0]])
    moving = np.array([[0.0, 1.0, 0.0, 1.0]])
    rgb = vz.overlay_image(fixed, moving)
    np.testing.assert_array_equal(rgb[0], [[0, 0, 0], [1, 1, 1], [0, 1, 0], [1, 0, 1]])   # black, grey, green, magenta


def test_checkerboard_tiles_and_errors():
    board = vz.checkerboard_image(np.zeros((6, 9)), np.ones((6, 9)), tile=3)
    expected = np.kron(np.array([[0, 1, 0], [1, 0, 1]]), np.ones((3, 3)))
    np.testing.assert_array_equal(board, expected)
    with pytest.raises(ValueError, match=r"checkerboard_image\(\): expected `tile` to be an int >= 1"):
        vz.checkerboard_image(np.zeros((4, 4)), np.ones((4, 4)), tile=0)


def test_difference_is_fixed_minus_moving_centred_at_zero(device):
    fixed, moving = torch.rand(1, 1, 5, 5, device=device), torch.rand(1, 1, 5, 5, device=device)
    ax = vz.difference(fixed, moving)
    np.testing.assert_allclose(ax.images[0].get_array(), (fixed - moving)[0, 0].cpu().numpy(), rtol=1e-6)
    low, high = ax.images[0].get_clim()
    assert low == -high


def test_slices_of_3d_volumes(device):
    volume = torch.arange(8 * 10 * 12.0, device=device).reshape(1, 1, 8, 10, 12)
    ax = vz.overlay(volume, volume, axis=1, index=3)
    assert ax.images[0].get_array().shape == (8, 12, 3)
    assert ax.get_xlabel() == "axis 2 (voxels)" and ax.get_ylabel() == "axis 0 (voxels)"
    axes = vz.orthogonal_slices(volume, index=(1, 2, 3))
    np.testing.assert_array_equal(axes[0].images[0].get_array(), volume[0, 0, 1].cpu().numpy())
    np.testing.assert_array_equal(axes[1].images[0].get_array(), volume[0, 0, :, 2].cpu().numpy())
    np.testing.assert_array_equal(axes[2].images[0].get_array(), volume[0, 0, :, :, 3].cpu().numpy())
    with pytest.raises(ValueError, match=r"orthogonal_slices\(\): expected a 3D volume"):
        vz.orthogonal_slices(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"overlay\(\): expected an image"):
        vz.overlay(torch.rand(4), torch.rand(4))
    with pytest.raises(ValueError, match=r"quiver\(\): expected a displacement.*vector axis second"):
        vz.quiver(torch.rand(1, 8, 8, 2))


def test_compare_view_modes_and_errors(device):
    fixed, moving, warped = images(3, device)
    for mode in vz.MODES:
        for stage in ("before", "after"):
            axes = vz.compare_view(fixed, moving, warped, mode=mode, stage=stage, axis=2, index=1, tile=2)
            assert isinstance(axes, np.ndarray)
            if mode == "side by side":
                assert len(axes) == (3 if stage == "after" else 2)
            else:
                assert axes[0].get_title().startswith(stage)
    after = vz.compare_view(fixed, moving, warped, mode="difference", stage="after", axis=0, index=4)
    expected = (fixed - warped)[0, 0, 4].cpu().numpy()
    np.testing.assert_allclose(after[0].images[0].get_array(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"compare_view\(\): expected `mode`"):
        vz.compare_view(fixed, moving, warped, mode="blend")
    with pytest.raises(ValueError, match=r"compare_view\(\): expected a `warped` image"):
        vz.compare_view(fixed, moving, stage="after")


def test_show_stages_titles(device):
    fixed, moving, warped = images(2, device)
    axes = vz.show_stages(fixed, {"before": moving, "IA": warped, "NR": fixed}, mode="checkerboard")
    assert [a.get_title() for a in axes] == ["before", "IA", "NR"]
    with pytest.raises(ValueError, match=r"show_stages\(\): expected `mode`"):
        vz.show_stages(fixed, {"before": moving}, mode="side by side")
