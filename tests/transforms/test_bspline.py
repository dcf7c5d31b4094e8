"""Tests for the cubic B-spline FFD (reglab.transforms.bspline) against the lecture's formula in NumPy."""

import itertools

import numpy as np
import pytest
import torch

from reglab.transforms import (BSpline, Transform, bspline_basis, bspline_displacement, bspline_points, bspline_resampled,
                               control_grid_size)

CASES = {2: ((13, 10), (4, 3)), 3: ((9, 7, 11), (3, 4, 5))}


def lecture_basis(u):
    """B_0 … B_3 of the lecture (its B_1 … B_4), written out again."""
    return np.array([(1 - u) ** 3 / 6, (3 * u**3 - 6 * u**2 + 4) / 6, (-3 * u**3 + 3 * u**2 + 3 * u + 1) / 6, u**3 / 6])


def lecture_ffd(control, x, spacing):
    """u(x) = Σ B_l(u) B_m(v) [B_n(w)] φ_{i-1+l, j-1+m[, k-1+n]} at one point, one term at a time.

    ``control`` is (ndim, *K) with control point c stored at index c + 1; points of
    the neighbourhood outside the control grid count as 0.
    """
    ndim = len(x)
    cell = [int(np.floor(x[a] / spacing[a])) for a in range(ndim)]
    weights = [lecture_basis(x[a] / spacing[a] - cell[a]) for a in range(ndim)]
    total = np.zeros(ndim)
    for offsets in itertools.product(range(4), repeat=ndim):
        index = tuple(cell[a] - 1 + offsets[a] + 1 for a in range(ndim))
        if all(0 <= index[a] < control.shape[1 + a] for a in range(ndim)):
            weight = np.prod([weights[a][offsets[a]] for a in range(ndim)])
            total += weight * control[(slice(None),) + index]
    return total


def test_basis_against_the_lecture_and_partition_of_unity():
    u = np.linspace(0, 1, 41, endpoint=False)
    values = bspline_basis(torch.tensor(u, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(values, lecture_basis(u).T, atol=1e-14)
    np.testing.assert_allclose(values.sum(-1), 1.0, atol=1e-14)
    assert (values >= 0).all()


def test_control_grid_size():
    assert control_grid_size((13, 10), (4, 3)) == (7, 7)     # 12 // 4 + 4, 9 // 3 + 4
    assert control_grid_size((5,), (5,)) == (4,)


@pytest.mark.parametrize("ndim", [2, 3])
def test_grid_evaluation_against_numpy(ndim, device):
    size, spacing = CASES[ndim]
    control = torch.randn(2, ndim, *control_grid_size(size, spacing), dtype=torch.float64)
    u = bspline_displacement(control.to(device), size, spacing).cpu()
    assert u.shape == (2, ndim, *size)
    for b in range(2):
        for x in itertools.product(*[range(n) for n in size]):
            expected = lecture_ffd(control[b].numpy(), np.array(x, dtype=float), spacing)
            np.testing.assert_allclose(u[(b, slice(None)) + x].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_point_evaluation_against_numpy(ndim, device):
    size, spacing = CASES[ndim]
    control = torch.randn(1, ndim, *control_grid_size(size, spacing), dtype=torch.float64)
    points = torch.rand(1, 40, ndim, dtype=torch.float64) * (torch.tensor(size) + 4) - 2   # some outside the image
    u = bspline_points(control.to(device), points.to(device), spacing).cpu()
    for p in range(40):
        expected = lecture_ffd(control[0].numpy(), points[0, p].numpy(), spacing)
        np.testing.assert_allclose(u[0, p].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_grid_and_point_paths_agree_and_module_equals_function(ndim, device):
    size, spacing = CASES[ndim]
    model = BSpline(size, spacing=spacing, batch=2).to(device)
    with torch.no_grad():
        model.control.normal_()
    grid = model()
    torch.testing.assert_close(grid, bspline_displacement(model.control, size, spacing))
    points = torch.stack(torch.meshgrid(*[torch.arange(n, device=device) for n in size], indexing="ij"), -1)
    points = points.reshape(1, -1, ndim).float()
    moved = model.transform_points(points)
    torch.testing.assert_close(moved - points, grid.flatten(2).transpose(1, 2), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_resampled_evaluation_against_numpy(ndim, device):
    size, spacing = CASES[ndim]
    other = (6, 17, 4)[:ndim]                                   # coarser and finer axes than the model's grid
    scale = [(n - 1) / (m - 1) for n, m in zip(size, other)]
    control = torch.randn(1, ndim, *control_grid_size(size, spacing), dtype=torch.float64)
    u = bspline_resampled(control.to(device), other, spacing, scale).cpu()
    assert u.shape == (1, ndim, *other)
    for x in itertools.product(*[range(m) for m in other]):
        expected = lecture_ffd(control[0].numpy(), np.array(x, dtype=float) * scale, spacing)
        np.testing.assert_allclose(u[(0, slice(None)) + x].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
def test_model_on_another_grid_equals_the_point_path(ndim, device):
    size, spacing = CASES[ndim]
    model = BSpline(size, spacing=spacing, batch=2).to(device)
    with torch.no_grad():
        model.control.normal_()
    other = (6, 17, 4)[:ndim]
    torch.testing.assert_close(model(other), Transform.resampled_displacement(model, other), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_equal_control_displacements_are_a_translation(ndim, device):
    size, spacing = CASES[ndim]
    shift = torch.tensor([1.5, -2.0, 0.25][:ndim], device=device)
    control = shift.reshape(1, ndim, *([1] * ndim)).expand(1, ndim, *control_grid_size(size, spacing))
    model = BSpline(size, spacing=spacing, control=control).to(device)
    expected = shift.reshape(1, ndim, *([1] * ndim)).expand(1, ndim, *size)
    torch.testing.assert_close(model(), expected)


def test_one_control_point_has_local_support(device):
    size, spacing = (30, 30), (5, 5)
    control = torch.zeros(1, 2, *control_grid_size(size, spacing), device=device)
    control[0, 0, 3, 3] = 1.0                                            # control point c = 2: voxel (10, 10)
    u = BSpline(size, spacing=spacing, control=control).to(device)()[0, 0].detach()
    assert u[10, 10].item() == pytest.approx((2 / 3) ** 2)                      # B_1(0)² at the point itself
    support = u != 0
    rows = support.any(1).nonzero().flatten()
    assert rows.min() == 1 and rows.max() == 19                          # |x - 10| < 2δ


def test_errors():
    with pytest.raises(ValueError, match=r"BSpline\(\): expected `spacing`"):
        BSpline((16, 16), spacing=2.5)
    with pytest.raises(ValueError, match=r"BSpline\(\): expected `control` of shape \(1, 2, 7, 7\)"):
        BSpline((16, 16), spacing=5, control=torch.zeros(1, 2, 6, 6))
    with pytest.raises(ValueError, match=r"bspline_displacement\(\): expected `control` with at least"):
        bspline_displacement(torch.zeros(1, 2, 5, 5), (16, 16), 5)
    with pytest.raises(ValueError, match=r"bspline_displacement\(\): expected floating-point `control`"):
        bspline_displacement(torch.zeros(1, 3, 7, 7), (16, 16), 5)
    with pytest.raises(ValueError, match=r"bspline_points\(\): expected `points` of shape \(B, N, 2\)"):
        bspline_points(torch.zeros(1, 2, 7, 7), torch.zeros(1, 4, 3), 5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(ndim, device):
    size, spacing = ((7, 6), 3) if ndim == 2 else ((5, 4, 5), 2)
    control = torch.randn(1, ndim, *control_grid_size(size, (spacing,) * ndim), dtype=torch.float64,
                          device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c: bspline_displacement(c, size, spacing), (control,))
    points = torch.rand(1, 5, ndim, dtype=torch.float64, device=device) * 3
    assert torch.autograd.gradcheck(lambda c: bspline_points(c, points, spacing), (control,))
