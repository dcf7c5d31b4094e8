"""Lab 01's checkers: right answers and other right formulations pass; at least five realistic wrong answers per
exercise fail with the one hint that names their mistake; stubs, 2D-only answers and reglab calls are told apart."""

import torch
import torch.nn.functional as F

from reglab import fields, grid, warping
from reglab.course.checks import lab01
from reglab.io import Geometry
from tests.course.checks.helpers import assert_passes, in_place, own, run, table_tests

CHECKS = [lab01.check_identity_grid, lab01.check_warp, lab01.check_affine_displacement, lab01.check_compose,
          lab01.check_index_to_physical]
warp, identity_grid, compose = own(warping.warp), own(grid.identity_grid), own(fields.compose)
affine_to_displacement = own(fields.affine_to_displacement)


def identity_by_broadcasting(size):
    """Another right answer: each axis's arange reshaped to broadcast, then expanded."""
    channels = []
    for axis, n in enumerate(size):
        shape = [1] * len(size)
        shape[axis] = n
        channels.append(torch.arange(n, dtype=torch.float32).reshape(shape).expand(*size))
    return torch.stack(channels)[None]


def warp_by_hand(moving, displacement):
    """The solution's formulation: explicit 2x/(n - 1) - 1, flip, grid_sample."""
    size = moving.shape[2:]
    positions = identity_by_broadcasting(size).to(displacement.dtype) + displacement
    scale = torch.tensor([2.0 / (n - 1) for n in size], dtype=displacement.dtype).reshape(1, -1, *[1] * len(size))
    sampling = (positions * scale - 1.0).movedim(1, -1).flip(-1)
    return F.grid_sample(moving, sampling, mode="bilinear", padding_mode="zeros", align_corners=True)


def warp_with_to_grid_sample(moving, displacement):
    size = moving.shape[2:]
    return F.grid_sample(moving, grid.to_grid_sample(grid.identity_grid(size) + displacement, size),
                         align_corners=True)


def affine_by_einsum(matrix, size):
    ndim = len(size)
    x = identity_by_broadcasting(size)[0]                                          # (ndim, *size)
    y = torch.einsum("bij,j...->bi...", matrix[:, :, :ndim], x) + matrix[:, :, ndim].reshape(-1, ndim, *[1] * ndim)
    return y - x


def index_to_physical(index, spacing, origin, direction):
    ndim = len(spacing)
    d = torch.tensor(direction, dtype=torch.float64).reshape(ndim, ndim)
    return (index.flip(-1) * torch.tensor(spacing[::-1], dtype=torch.float64)) @ d.T + torch.tensor(origin,
                                                                                                    dtype=torch.float64)


def index_to_physical_matrix(index, spacing, origin, direction):
    """Another right answer: the homogeneous matrix of reglab.io.Geometry."""
    return Geometry(spacing, origin, direction).index_to_physical(index)


RIGHT = [(lab01.check_identity_grid, identity_by_broadcasting),
         (lab01.check_identity_grid, lambda s: torch.stack(torch.meshgrid(
             *[torch.arange(n, dtype=torch.float32) for n in s], indexing="ij"))[None]),
         (lab01.check_warp, warp_by_hand), (lab01.check_warp, warp_with_to_grid_sample),
         (lab01.check_affine_displacement, affine_by_einsum),
         (lab01.check_affine_displacement, affine_to_displacement),
         (lab01.check_compose, lambda u, v: v + warping.warp(u, v, padding="border")),
         (lab01.check_compose, lambda u, v: v + warp_by_hand_border(u, v)),
         (lab01.check_index_to_physical, index_to_physical),
         (lab01.check_index_to_physical, index_to_physical_matrix)]


def warp_by_hand_border(u, v):
    size = u.shape[2:]
    return F.grid_sample(u, grid.to_grid_sample(grid.identity_grid(size) + v, size), padding_mode="border",
                         align_corners=True)


def _meshgrid_xy(size):
    return torch.stack(torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in size], indexing="xy"))[None]


def _warp_2d_only(moving, u):
    size = moving.shape[2:]
    rows, columns = (grid.identity_grid(size) + u).unbind(1)                       # 2D only
    sampling = torch.stack([2 * columns / (size[1] - 1) - 1, 2 * rows / (size[0] - 1) - 1], dim=-1)
    return F.grid_sample(moving, sampling, align_corners=True)


WRONG = [
    (lab01.check_identity_grid, lambda s: identity_grid(s)[0], "add the batch axis"),
    (lab01.check_identity_grid, lambda s: identity_grid(s).movedim(1, -1), "channels-last"),
    (lab01.check_identity_grid, _meshgrid_xy, "indexing='xy'"),
    (lab01.check_identity_grid, lambda s: identity_grid(s).flip(1), "axes look swapped"),
    (lab01.check_identity_grid, lambda s: identity_grid(s) + 1, "indices start at 0"),
    (lab01.check_identity_grid, lambda s: lab01._meshgrid(s, values=lambda n: torch.linspace(-1, 1, n)),
     "normalized coordinates"),
    (lab01.check_identity_grid, lambda s: torch.stack(torch.meshgrid(*[torch.arange(n) for n in s], indexing="ij"))[
        None], "torch.arange and integer tensors give int64"),
    (lab01.check_identity_grid, lambda s: grid.identity_grid(s), "this calls reglab.grid.identity_grid"),
    (lab01.check_warp, lambda m, u: warp(m, -u), "x − u(x)"),
    (lab01.check_warp, lambda m, u: lab01._sampled(m, lab01._positions(m, u), flip=False), "flip it"),
    (lab01.check_warp, lambda m, u: lab01._sampled(m, lab01._positions(m, u), align_corners=False), "half a voxel"),
    (lab01.check_warp, lambda m, u: lab01._sampled(m, u), "add the identity grid"),
    (lab01.check_warp, lambda m, u: lab01._sampled(m, lab01._positions(m, u), normalize=False), "not voxels"),
    (lab01.check_warp, lambda m, u: lab01._sampled(m, lab01._positions(m, u), scale=torch.tensor(
        [2.0 / n for n in m.shape[2:]])), "not 2·x/n − 1"),
    (lab01.check_warp, lambda m, u: warp(m, u, padding="border"), "padding_mode='zeros'"),
    (lab01.check_warp, lambda m, u: warp(m, u, mode="nearest"), "interpolate linearly"),
    (lab01.check_warp, lambda m, u: warping.warp(m, u), "this calls reglab.warp"),
    (lab01.check_warp, _warp_2d_only, "works in 2D but raised ValueError on a 3D case"),
    (lab01.check_warp, in_place(warp, 1), "work on a copy"),
    (lab01.check_affine_displacement, lambda a, s: lab01._affine(a, s, subtract=False), "y(x) − x"),
    (lab01.check_affine_displacement, lambda a, s: lab01._affine(a, s, transpose=True), "A looks transposed"),
    (lab01.check_affine_displacement, lambda a, s: lab01._affine(a, s, translate=False), "translation is missing"),
    (lab01.check_affine_displacement, lambda a, s: lab01._affine(a, s, reverse=True), "in axis order"),
    (lab01.check_affine_displacement, lambda a, s: lab01._affine(a[:1], s).expand(a.shape[0], *[-1] * (len(s) + 1)),
     "each sample's own matrix"),
    (lab01.check_affine_displacement, lambda a, s: fields.affine_to_displacement(a, s), "this calls reglab.fields"),
    (lab01.check_compose, lambda u, v: u + v, "only for translations"),
    (lab01.check_compose, lambda u, v: u + warp(v, u, padding="border"), "order is swapped"),
    (lab01.check_compose, lambda u, v: v + warp(u, v), "padding='border'"),
    (lab01.check_compose, lambda u, v: v + warp(u, -v, padding="border"), "at x − v(x)"),
    (lab01.check_compose, lambda u, v: warp(u, v, padding="border"), "add v(x)"),
    (lab01.check_compose, lambda u, v: fields.compose(u, v), "this calls reglab.fields.compose"),
    (lab01.check_index_to_physical, lambda i, s, o, d: lab01._physical(i, s, o, d, flip_index=False,
                                                                       flip_spacing=False), "ITK orders (x, y, z)"),
    (lab01.check_index_to_physical, lambda i, s, o, d: lab01._physical(i, s, o, d, flip_spacing=False),
     "not the spacing"),
    (lab01.check_index_to_physical, lambda i, s, o, d: lab01._physical(i, s, o, d, transpose=False),
     "used untransposed"),
    (lab01.check_index_to_physical, lambda i, s, o, d: lab01._physical(i, s, o, d, use_direction=False),
     "left out the direction"),
    (lab01.check_index_to_physical, lambda i, s, o, d: lab01._physical(i, s, o, d, flip_origin=True),
     "do not reverse it"),
    (lab01.check_index_to_physical, lambda i, s, o, d: index_to_physical(i, s, o, d).float(), "asks for torch.float64"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)


def test_torch_not_implemented_error_is_a_failure_not_a_stub():
    """'bilinear' on a volume: torch's NotImplementedError (with a message, from torch) is no stub."""
    def bilinear_only(moving, u):
        smooth = F.interpolate(moving, size=moving.shape[2:], mode="bilinear", align_corners=True)
        return warp(smooth, u)

    result, out = run(lab01.check_warp, bilinear_only)
    assert result.implemented and result.passed == 3 and "not implemented yet" not in out
    assert "works in 2D but raised NotImplementedError on a 3D case" in out
    assert "bilinear mode needs 4D input" in out


def test_a_value_preserving_in_place_edit_is_accepted():
    def harmless(moving, u):
        u += 0
        moving.mul_(1.0)
        return warp(moving, u)

    assert_passes(lab01.check_warp, harmless)
