"""Tests for the conventions every reglab.visualization plot shares (reglab/visualization/_slicing.py):
labelled axes in voxels or mm, drawing on a given ``ax``, voxel centres at ``index * spacing``."""

import matplotlib.pyplot as plt
import pytest
import torch

from reglab import visualization as vz

SIZES = {2: (12, 16), 3: (8, 10, 12)}


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


def test_extent_puts_voxel_centres_at_index_times_spacing(device):
    ax = vz.difference(torch.rand(1, 1, 4, 5, device=device), torch.rand(1, 1, 4, 5, device=device),
                       spacing=(2.0, 0.5))
    assert ax.images[0].get_extent() == [-0.25, 2.25, 7.0, -1.0]
    assert ax.get_xlabel() == "axis 1 (mm)" and ax.get_ylabel() == "axis 0 (mm)"
