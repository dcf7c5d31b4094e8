"""Tests for reglab.visualization.deformation: grid lines, arrows, Jacobian and curl maps of known displacements."""

import numpy as np
import torch

from reglab import evaluation
from reglab import visualization as vz


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
