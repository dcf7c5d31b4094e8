"""Tests for the Lab 00 checkers (reglab.course.checks.lab00): right answers pass, typical mistakes get their hint."""

import pytest
import torch

from reglab import regularization, similarity, warp
from reglab.course.checks import lab00


def _stub(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("check, answer", [(lab00.check_bounding_box, lab00.bounding_box),
                                           (lab00.check_surface_points, lab00.surface_points),
                                           (lab00.check_kmeans, lab00.kmeans),
                                           (lab00.check_objective, lab00.objective)])
def test_reference_answers_pass_and_stubs_are_reported(check, answer, capsys):
    assert check(answer).ok
    result = check(_stub)
    assert not result.ok and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


def test_bounding_box_reference_against_numpy():
    """Oracle: NumPy's nonzero gives the same inclusive box, 2D and 3D."""
    import numpy as np

    generator = torch.Generator().manual_seed(1)
    for size in [(7, 9), (4, 6, 5)]:
        mask = torch.rand(2, 1, *size, generator=generator) > 0.8
        boxes = lab00.bounding_box(mask)
        for b in range(2):
            where = np.nonzero(mask[b, 0].numpy())
            expected = [[int(axis.min()), int(axis.max())] for axis in where]
            assert boxes[b].tolist() == expected


def test_bounding_box_hints(capsys):
    def exclusive(mask):
        boxes = lab00.bounding_box(mask)
        boxes[..., 1] += 1
        return boxes

    assert not lab00.check_bounding_box(exclusive).ok
    assert "inclusive" in capsys.readouterr().out
    assert not lab00.check_bounding_box(lambda mask: lab00.bounding_box(mask).transpose(1, 2)).ok
    assert "(B, ndim, 2)" in capsys.readouterr().out


@pytest.mark.parametrize("size", [(9, 11), (6, 7, 5)])
def test_surface_points_reference_against_padding_oracle(size):
    """Two independent constructions (reglab.evaluation.surface_voxels vs padding and face shifts) agree."""
    mask = torch.rand(2, 1, *size, generator=torch.Generator().manual_seed(2)) > 0.4
    expected = lab00._boundary(mask, cube=False, edge_outside=True)
    assert torch.equal(lab00.surface_points(mask), expected)
    full = torch.ones(1, 1, *size, dtype=torch.bool)                 # a full grid: only its outer shell
    shell = lab00.surface_points(full)[0, 0]
    inner = shell[tuple(slice(1, -1) for _ in size)]
    assert not inner.any() and shell.sum() == full.numel() - inner.numel()


def test_surface_points_hints(capsys):
    assert not lab00.check_surface_points(lambda m: lab00._boundary(m, cube=True, edge_outside=True)).ok
    assert "diagonal neighbours" in capsys.readouterr().out
    assert not lab00.check_surface_points(lambda m: lab00._boundary(m, cube=False, edge_outside=False)).ok
    assert "edge of the grid" in capsys.readouterr().out


def test_kmeans_reference_separates_clusters_and_hints(capsys):
    values = torch.cat([torch.full((50,), 0.2), torch.full((30,), 0.8)])
    centres, assignment = lab00.kmeans(values, 2)
    assert torch.allclose(centres, torch.tensor([0.2, 0.8]))
    assert assignment.tolist() == [0] * 50 + [1] * 30

    def unsorted(values, k, iterations):
        centres, assignment = lab00.kmeans(values, k, iterations)
        return centres.flip(0), (k - 1) - assignment

    assert not lab00.check_kmeans(unsorted).ok
    assert "sort them ascending" in capsys.readouterr().out

    def frozen(values, k, iterations):
        start = torch.quantile(values, (torch.arange(k, dtype=values.dtype) + 0.5) / k)
        return start, (values[:, None] - start[None]).abs().argmin(dim=1)

    assert not lab00.check_kmeans(frozen).ok
    assert "never moved" in capsys.readouterr().out


def test_objective_hints(capsys):
    def unwarped(fixed, moving, displacement, lam):
        return similarity.mse(fixed, moving) + lam * regularization.diffusion(displacement)

    assert not lab00.check_objective(unwarped).ok
    assert "warped* moving image" in capsys.readouterr().out

    def summed(fixed, moving, displacement, lam):
        return similarity.ssd(fixed, warp(moving, displacement)) + lam * regularization.diffusion(displacement)

    assert not lab00.check_objective(summed).ok
    assert "not the sum" in capsys.readouterr().out


def test_objective_known_answer():
    """A constant image difference of 1 and a linear field u = a·x: O = 1 + λ a² (diffusion of a shear)."""
    fixed, moving = torch.zeros(1, 1, 6, 6), torch.ones(1, 1, 6, 6)
    u = torch.zeros(1, 2, 6, 6)
    value = lab00.objective(fixed, moving, u, 0.5)
    assert value.item() == pytest.approx(1.0)
    u[:, 1] = 0.3 * torch.arange(6.0)[:, None]           # ∂u_1/∂x_0 = 0.3; the warp samples inside the ones image
    expected = similarity.mse(fixed, warp(moving, u)).item() + 0.5 * 0.3 ** 2
    assert lab00.objective(fixed, moving, u, 0.5).item() == pytest.approx(expected, abs=1e-6)
