"""Tests for the Lab 00 checkers (reglab.course.checks.lab00): right answers and other right formulations pass; at
least five realistic wrong answers per exercise fail with the one hint that names their mistake."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reglab import evaluation, regularization, similarity, warp
from reglab.course.checks import lab00
from tests.course.checks.helpers import detached, in_place, own, run, table_tests

bounding_box, kmeans, surface_voxels = own(lab00.bounding_box), own(lab00.kmeans), own(evaluation.surface_voxels)


def surface_points(mask):
    return lab00._boundary(mask, cube=False, edge_outside=True)

CHECKS = [lab00.check_bounding_box, lab00.check_surface_points, lab00.check_kmeans, lab00.check_objective]


def box_by_any(mask):
    """Another right answer: per axis, the first and last index where any voxel is set."""
    ndim = mask.dim() - 2
    boxes = []
    for axis in range(ndim):
        others = [d for d in range(2, ndim + 2) if d != axis + 2]
        hit = mask.any(dim=others)[:, 0] if others else mask[:, 0]                  # (B, n)
        index = torch.arange(hit.shape[1])
        first = torch.where(hit, index, hit.shape[1]).amin(1)
        last = torch.where(hit, index, -1).amax(1)
        boxes.append(torch.stack([first, last], dim=1))
    return torch.stack(boxes, dim=1)


def surface_by_erosion(mask):
    """Another right answer: the mask minus its erosion by a face-connected cross (min pooling per axis)."""
    ndim = mask.dim() - 2
    inside = mask.clone()
    padded = F.pad(mask.float(), [1, 1] * ndim, value=0.0)
    for axis in range(ndim):
        for shift in (0, 2):
            index = [slice(1, -1)] * ndim
            index[axis] = slice(shift, shift + mask.shape[axis + 2])
            inside = inside & (padded[(..., *index)] > 0)
    return mask & ~inside


def kmeans_vectorised(values, k, iterations=20):
    """Another right answer: index_add for the sums, torch.where keeps empty centres."""
    centres = torch.quantile(values, (torch.arange(k, dtype=values.dtype) + 0.5) / k)
    for _ in range(iterations):
        assignment = (values[:, None] - centres[None]).abs().argmin(dim=1)
        sums = torch.zeros_like(centres).index_add(0, assignment, values)
        counts = torch.zeros_like(centres).index_add(0, assignment, torch.ones_like(values))
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
    centres = centres.sort().values
    return centres, (values[:, None] - centres[None]).abs().argmin(dim=1)


def kmeans_loop(values, k, iterations=20):
    centres = torch.quantile(values, (torch.arange(k, dtype=values.dtype) + 0.5) / k)
    for _ in range(iterations):
        assignment = (values[:, None] - centres[None]).pow(2).argmin(dim=1)
        centres = torch.stack([values[assignment == c].mean() if (assignment == c).any() else centres[c]
                               for c in range(k)])
    centres = centres.sort().values
    return centres, (values[:, None] - centres[None]).abs().argmin(dim=1)


def objective_by_hand(fixed, moving, displacement, lam):
    warped = warp(moving, displacement)
    diffusion = sum(displacement.diff(dim=k + 2).pow(2).sum(1).flatten(1).mean(1)
                    for k in range(displacement.dim() - 2)).mean()
    return ((fixed - warped) ** 2).flatten(1).mean(1).mean() + lam * diffusion


RIGHT = [(lab00.check_bounding_box, bounding_box), (lab00.check_bounding_box, box_by_any),
         (lab00.check_surface_points, lambda m: lab00._boundary(m, cube=False, edge_outside=True)),
         (lab00.check_surface_points, surface_by_erosion),
         (lab00.check_kmeans, kmeans_vectorised), (lab00.check_kmeans, kmeans_loop),
         (lab00.check_objective, lab00.objective), (lab00.check_objective, objective_by_hand)]


def _plain_kmeans(values, k, iterations=20):
    """The usual first attempt: the mean of every cluster, even an empty one."""
    return lab00._lloyd(values, k, iterations, keep_empty=False)


def _box_2d(mask):
    boxes = []
    for sample in mask[:, 0]:
        rows, columns = torch.nonzero(sample).unbind(1)                           # 2D only: 3 columns in 3D
        boxes.append(torch.stack([torch.stack([rows.min(), rows.max()]), torch.stack([columns.min(), columns.max()])]))
    return torch.stack(boxes)


WRONG = [
    (lab00.check_bounding_box, lambda m: bounding_box(m) + torch.tensor([0, 1]), "one too far"),
    (lab00.check_bounding_box, lambda m: torch.nonzero(m[0, 0]).aminmax(dim=0) and
     torch.stack([torch.nonzero(m[0, 0]).amin(0), torch.nonzero(m[0, 0]).amax(0)], 1), "keep the batch axis"),
    (lab00.check_bounding_box, lambda m: bounding_box(m).transpose(1, 2), "(B, 2, ndim)"),
    (lab00.check_bounding_box, lambda m: bounding_box(m).flip(1), "reverse (x, y[, z]) order"),
    (lab00.check_bounding_box, lambda m: bounding_box(m.any(0, keepdim=True).expand_as(m)), "whole batch"),
    (lab00.check_bounding_box, lambda m: bounding_box(m).float(), "indices and labels are integers"),
    (lab00.check_bounding_box, lambda m: lab00.bounding_box(m), "this calls reglab.course.checks.lab00.bounding_box"),
    (lab00.check_surface_points, lambda m: lab00._boundary(m, cube=True, edge_outside=True), "diagonal neighbours"),
    (lab00.check_surface_points, lambda m: surface_voxels(m.long()).bool() & ~m, "background voxels"),
    (lab00.check_surface_points, lambda m: lab00._boundary(m, cube=False, edge_outside=False), "edge of the grid"),
    (lab00.check_surface_points, lambda m: lab00._boundary(m, cube=False, edge_outside=True, sides=(2,)),
     "one neighbour per axis"),
    (lab00.check_surface_points, lambda m: surface_points(m) | ~m, "whole background"),
    (lab00.check_surface_points, lambda m: surface_points(m).long(), "asks for a bool tensor"),
    (lab00.check_surface_points, in_place(surface_points), "work on a copy"),
    (lab00.check_kmeans, lambda v, k, n: lab00._lloyd(v, k, 0), "never moved"),
    (lab00.check_kmeans, _plain_kmeans, "NaN centre"),
    (lab00.check_kmeans, lambda v, k, n: lab00._lloyd(v, k, n, start=0.0), "not at i/k"),
    (lab00.check_kmeans, lambda v, k, n: lab00._lloyd(v, k, n, spread="linear"), "evenly spread"),
    (lab00.check_kmeans, lambda v, k, n: lab00._lloyd(v, k, n, centre="median"), "not the median"),
    (lab00.check_kmeans, lambda v, k, n: (kmeans(v, k, n)[0], kmeans(v, k, n)[1].float()),
     "indices and labels are integers"),
    (lab00.check_objective, lambda f, m, u, lam: similarity.mse(f, m) + lam * regularization.diffusion(u),
     "warped* moving image"),
    (lab00.check_objective, lambda f, m, u, lam: similarity.mse(warp(f, u), m) + lam * regularization.diffusion(u),
     "you warped the fixed image"),
    (lab00.check_objective, lambda f, m, u, lam: similarity.mse(f, warp(m, u)), "regularization term is missing"),
    (lab00.check_objective, lambda f, m, u, lam: similarity.ssd(f, warp(m, u)) + lam * regularization.diffusion(u),
     "not the sum"),
    (lab00.check_objective, lambda f, m, u, lam: lam * similarity.mse(f, warp(m, u)) + regularization.diffusion(u),
     "multiplies the regularizer only"),
    (lab00.check_objective, lambda f, m, u, lam: similarity.mse(f, warp(m, u)) - lam * regularization.diffusion(u),
     "the regularizer is *added*"),
    (lab00.check_objective, detached(lab00.objective), "the result must be differentiable"),
    (lab00.check_objective, lambda f, m, u, lam: lab00.objective(f, m, u, lam).item(), "not a float"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)


def test_a_2d_only_answer_is_told_it_fails_in_3d_not_that_it_is_a_stub():
    result, out = run(lab00.check_bounding_box, _box_2d)
    assert result.implemented and "works in 2D but raised ValueError on a 3D case" in out


def test_bounding_box_reference_against_numpy():
    """Oracle: NumPy's nonzero gives the same inclusive box, 2D and 3D."""
    generator = torch.Generator().manual_seed(1)
    for size in [(7, 9), (4, 6, 5)]:
        mask = torch.rand(2, 1, *size, generator=generator) > 0.8
        boxes = lab00.bounding_box(mask)
        for b in range(2):
            where = np.nonzero(mask[b, 0].numpy())
            assert boxes[b].tolist() == [[int(axis.min()), int(axis.max())] for axis in where]


@pytest.mark.parametrize("size", [(9, 11), (6, 7, 5)])
def test_surface_points_reference_against_padding_oracle(size):
    """Two independent constructions (reglab.evaluation.surface_voxels vs padding and face shifts) agree."""
    mask = torch.rand(2, 1, *size, generator=torch.Generator().manual_seed(2)) > 0.4
    assert torch.equal(lab00.surface_points(mask), lab00._boundary(mask, cube=False, edge_outside=True))
    full = torch.ones(1, 1, *size, dtype=torch.bool)                 # a full grid: only its outer shell
    shell = lab00.surface_points(full)[0, 0]
    inner = shell[tuple(slice(1, -1) for _ in size)]
    assert not inner.any() and shell.sum() == full.numel() - inner.numel()


def test_kmeans_reference_separates_clusters_and_keeps_an_empty_centre():
    values = torch.cat([torch.full((50,), 0.2), torch.full((30,), 0.8)])
    centres, assignment = lab00.kmeans(values, 2)
    assert torch.allclose(centres, torch.tensor([0.2, 0.8]))
    assert assignment.tolist() == [0] * 50 + [1] * 30
    centres, _ = lab00.kmeans(torch.cat([torch.zeros(6), torch.ones(4)]), 3)        # quantiles 0, 0, 1
    assert centres.tolist() == [0.0, 0.0, 1.0]


def test_objective_known_answer():
    """A constant image difference of 1 and a linear field u = a·x: O = 1 + λ a² (diffusion of a shear)."""
    fixed, moving = torch.zeros(1, 1, 6, 6), torch.ones(1, 1, 6, 6)
    u = torch.zeros(1, 2, 6, 6)
    assert lab00.objective(fixed, moving, u, 0.5).item() == pytest.approx(1.0)
    u[:, 1] = 0.3 * torch.arange(6.0)[:, None]           # ∂u_1/∂x_0 = 0.3; the warp samples inside the ones image
    expected = similarity.mse(fixed, warp(moving, u)).item() + 0.5 * 0.3 ** 2
    assert lab00.objective(fixed, moving, u, 0.5).item() == pytest.approx(expected, abs=1e-6)
