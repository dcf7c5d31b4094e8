"""Tests for reglab.visualization, headless (matplotlib Agg): what is drawn, where, with which units."""

import contextlib
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from reglab import evaluation  # noqa: E402
from reglab import visualization as vz  # noqa: E402

SIZES = {2: (12, 16), 3: (8, 10, 12)}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def images(ndim, device, count=3):
    return [torch.rand(1, 1, *SIZES[ndim], device=device) for _ in range(count)]


@pytest.mark.parametrize("ndim", [2, 3])
def test_every_plot_returns_labelled_axes_and_draws_on_given_ax(ndim, device):
    fixed, moving, warped = images(ndim, device)
    u = torch.randn(1, ndim, *SIZES[ndim], device=device)
    p = torch.rand(1, 4, ndim, device=device) * 6
    plots = [
        lambda ax: vz.overlay(fixed, moving, ax=ax),
        lambda ax: vz.checkerboard(fixed, moving, ax=ax, tile=3),
        lambda ax: vz.difference(fixed, moving, ax=ax),
        lambda ax: vz.deformation_grid(u, image=moving, ax=ax),
        lambda ax: vz.quiver(u, ax=ax),
        lambda ax: vz.jacobian_map(u, ax=ax),
        lambda ax: vz.curl_map(u, ax=ax),
        lambda ax: vz.landmarks(p, p + 1, displacement=u, ax=ax),
    ]
    for plot in plots:
        figure, ax = plt.subplots()
        assert plot(ax) is ax
        assert ax.get_xlabel().endswith("(voxels)") and ax.get_ylabel().endswith("(voxels)")
        assert ax.get_title()
    axes = vz.show_registration(fixed, moving, warped, spacing=(2.0,) * ndim)
    assert [a.get_title() for a in axes] == ["fixed", "moving", "warped"]
    assert all(a.get_xlabel().endswith("(mm)") for a in axes)


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


def test_extent_puts_voxel_centres_at_index_times_spacing(device):
    ax = vz.difference(torch.rand(1, 1, 4, 5, device=device), torch.rand(1, 1, 4, 5, device=device),
                       spacing=(2.0, 0.5))
    assert ax.images[0].get_extent() == [-0.25, 2.25, 7.0, -1.0]
    assert ax.get_xlabel() == "axis 1 (mm)" and ax.get_ylabel() == "axis 0 (mm)"


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


def test_deformation_grid_lines_follow_the_transformation(device):
    u = torch.zeros(1, 2, 9, 9, device=device)
    u[:, 1] = 1.5                                                       # every point moves 1.5 columns
    ax = vz.deformation_grid(u, step=4, spacing=(1.0, 2.0))
    first_row = ax.lines[0]
    np.testing.assert_allclose(first_row.get_xdata(), (np.arange(9) + 1.5) * 2.0)
    np.testing.assert_allclose(first_row.get_ydata(), np.zeros(9))


def test_quiver_arrows_are_true_length(device):
    u = torch.zeros(1, 2, 8, 8, device=device)
    u[:, 0], u[:, 1] = 2.0, -1.0
    arrows = vz.quiver(u, step=4, spacing=(0.5, 1.0)).collections[0]
    np.testing.assert_allclose(arrows.U, -1.0)
    np.testing.assert_allclose(arrows.V, 1.0)                          # 2 rows of 0.5 mm
    assert arrows.scale == 1 and arrows.scale_units == "xy"


def test_jacobian_map_marks_folds_and_centres_at_one(device):
    u = torch.zeros(1, 2, 5, 5, device=device)
    u[:, 1, :, 2] = 3.0
    ax = vz.jacobian_map(u)
    determinant = evaluation.jacobian_determinant(u)[0].cpu().numpy()
    assert ax.images[0].norm.vcenter == 1.0
    folds = ax.images[1].get_array()                                   # black layer: only the folded voxels
    np.testing.assert_array_equal(~np.ma.getmaskarray(folds), determinant <= 0)
    assert ax.get_title() == f"Jacobian determinant: {int((determinant <= 0).sum())} folded"


def test_curl_map_shows_rotation(device):
    theta = 0.1
    rows, columns = torch.meshgrid(torch.arange(9.0), torch.arange(9.0), indexing="ij")
    u = torch.stack([rows * np.cos(theta) - columns * np.sin(theta) - rows,
                     rows * np.sin(theta) + columns * np.cos(theta) - columns])[None].to(device)
    ax = vz.curl_map(u)
    np.testing.assert_allclose(ax.images[0].get_array()[4, 4], 2 * np.sin(theta), rtol=1e-5)


def test_landmarks_segments_and_tre(device):
    p = torch.tensor([[[2.0, 2.0], [5.0, 3.0]]], device=device)
    u = torch.zeros(1, 2, 8, 8, device=device)
    u[:, 1] = 2.0
    ax = vz.landmarks(p, p + torch.tensor([0.0, 3.0], device=device), displacement=u, spacing=(1.0, 2.0))
    assert ax.get_title() == "mean TRE 2.000 mm"                       # 1 column left over, 2 mm per column
    segment = ax.lines[0]
    np.testing.assert_allclose(segment.get_xdata(), [8.0, 10.0])       # from p + u(p) to q, in mm
    assert len(ax.lines) == 2


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


@pytest.mark.parametrize("ndim", [2, 3])
def test_viewer_controls_drive_compare_view(ndim, device):
    import ipywidgets

    fixed, moving, warped = images(ndim, device)
    with contextlib.redirect_stdout(io.StringIO()):
        widget = vz.viewer(fixed, moving, warped, tile=4)
        controls = {child.description: child for child in widget.children if hasattr(child, "description")}
        assert isinstance(widget, ipywidgets.interactive)
        assert controls["mode"].options == vz.MODES and controls["stage"].options == ("before", "after")
        assert ("slice" in controls) == (ndim == 3)
        controls["mode"].value = "checkerboard"                        # a change redraws without error
        controls["stage"].value = "before"
        if ndim == 3:
            controls["axis"].value = 2
            assert controls["slice"].max == SIZES[3][2] - 1 and controls["slice"].value == SIZES[3][2] // 2
    only_before = vz.viewer(fixed, moving)
    assert [c.options for c in only_before.children if getattr(c, "description", "") == "stage"] == [("before",)]
