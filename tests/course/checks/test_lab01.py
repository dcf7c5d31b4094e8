"""Lab 01's checkers pass reglab's own answers, catch the typical mistakes with their hint, and handle stubs."""

import torch

from reglab import fields, grid, warping
from reglab.course.checks import lab01
from reglab.io import Geometry


def stub(*args):
    raise NotImplementedError()


def test_correct_answers_pass(capsys):
    assert lab01.check_identity_grid(lambda size: grid.identity_grid(size))
    assert lab01.check_warp(warping.warp)
    assert lab01.check_affine_displacement(fields.affine_to_displacement)
    assert lab01.check_compose(fields.compose)
    assert lab01.check_index_to_physical(lambda i, s, o, d: Geometry(s, o, d).index_to_physical(i))
    assert "✗" not in capsys.readouterr().out


def test_stubs_say_not_implemented(capsys):
    for check in (lab01.check_identity_grid, lab01.check_warp, lab01.check_affine_displacement,
                  lab01.check_compose, lab01.check_index_to_physical):
        result = check(stub)
        assert not result and not result.implemented
    assert capsys.readouterr().out.count("not implemented yet") == 5


def test_typical_mistakes_get_their_hint(capsys):
    assert not lab01.check_identity_grid(lambda size: grid.identity_grid(size).flip(1))
    assert "axes look swapped" in capsys.readouterr().out
    assert not lab01.check_warp(lambda m, u: warping.warp(m, -u))
    assert "x − u(x)" in capsys.readouterr().out
    assert not lab01.check_compose(lambda u, v: u + v)
    assert "only for translations" in capsys.readouterr().out
    assert not lab01.check_compose(lambda u, v: fields.compose(v, u))
    assert "order is swapped" in capsys.readouterr().out
    assert not lab01.check_affine_displacement(lambda m, s: fields.affine_to_displacement(m, s) + grid.identity_grid(s))
    assert "y(x) − x" in capsys.readouterr().out


def test_axes_not_flipped_for_grid_sample_is_diagnosed(capsys):
    def unflipped(moving, u):
        size = moving.shape[2:]
        g = grid.voxel_to_normalized((grid.identity_grid(size) + u).movedim(1, -1), size)
        return torch.nn.functional.grid_sample(moving, g, align_corners=True)
    assert not lab01.check_warp(unflipped)
    assert "grid_sample wants the last dimension" in capsys.readouterr().out


def test_in_place_modification_is_reported(capsys):
    def modifies(moving, u):
        u += 0
        moving.mul_(1.0)
        return warping.warp(moving, u)
    # values are right, inputs unchanged in value: accepted; a real modification is caught
    assert lab01.check_warp(modifies)
    def breaks(moving, u):
        u.zero_()
        return warping.warp(moving, u)
    assert not lab01.check_warp(breaks)
