"""Tests for the Lab 02 checkers (reglab.course.checks.lab02): right answers pass, typical mistakes fail with their hint."""

import torch

from reglab.course.checks import lab02
from reglab.transforms import bspline_basis, bspline_points, quaternion_to_matrix, rotation_matrix_2d
from reglab.transforms.base import about_center


def test_right_answers_pass(capsys):
    assert lab02.check_rigid_matrix(lambda a, t, c: about_center(rotation_matrix_2d(a), t, c))
    assert lab02.check_quaternion_matrix(quaternion_to_matrix)
    assert lab02.check_bspline_basis(bspline_basis)
    assert lab02.check_ffd_at_point(lambda control, x, d: bspline_points(control[None], x[None, None], d)[0, 0])
    assert capsys.readouterr().out.count("Well done!") == 4


def test_typical_mistakes_fail_with_a_hint(capsys):
    assert not lab02.check_quaternion_matrix(lab02.lecture_quaternion_matrix)
    assert "lecture's matrix" in capsys.readouterr().out
    assert not lab02.check_bspline_basis(lambda u: bspline_basis(u).flip(-1))
    assert "reverse order" in capsys.readouterr().out
    assert not lab02.check_rigid_matrix(lambda a, t, c: about_center(rotation_matrix_2d(-a), t, c))
    assert "wrong way" in capsys.readouterr().out

    def shifted(control, x, spacing):                       # neighbours i-1 … i+2 taken as stored indices
        dims = tuple(range(1, control.dim()))
        return bspline_points(control.roll((1,) * len(dims), dims=dims)[None], x[None, None], spacing)[0, 0]

    assert not lab02.check_ffd_at_point(shifted)
    assert "shifted by one control point" in capsys.readouterr().out


def test_an_untouched_stub_is_not_implemented(capsys):
    def stub(*args):
        raise NotImplementedError()

    result = lab02.check_bspline_basis(stub)
    assert not result and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


def test_the_lecture_matrix_is_not_a_rotation():
    r = lab02.lecture_quaternion_matrix(torch.tensor([[0.2, -0.4, 0.3, 0.8]]))
    assert (r @ r.transpose(1, 2) - torch.eye(3)).abs().max() > 0.1
