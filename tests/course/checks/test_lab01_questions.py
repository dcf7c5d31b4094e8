"""Lab 01's questions (issue 18): answer keys that match what reglab does, a hint per wrong answer, stubs reported."""

import math

import pytest
import torch
import torch.nn.functional as F

import reglab
from reglab import fields, grid
from reglab.course.checks import lab01


def stub():
    raise NotImplementedError()


@pytest.mark.parametrize("check, options, right", [(lab01.check_turn, lab01.TURN, "b"),
                                                   (lab01.check_missing_step, lab01.MISSING_STEP, "a")])
def test_right_wrong_and_unanswered(check, options, right, capsys):
    assert check(lambda: right).ok
    hints = {check(lambda: key).hints[0] for key in options if key != right}
    assert len(hints) == len(options) - 1
    capsys.readouterr()
    assert not check(stub).implemented and "not implemented yet" in capsys.readouterr().out


def test_a_positive_angle_turns_the_content_clockwise_on_screen():
    """A dot right of the centre moves down (rows grow downwards): clockwise, the key of Exercise 1.3b."""
    size = (41, 41)
    image = torch.zeros(1, 1, *size)
    image[0, 0, 20, 30] = 1.0                                                  # 10 voxels right of the centre
    a = math.radians(30)
    rotation = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    centre = torch.tensor([20.0, 20.0])
    matrix = torch.cat([rotation, (centre - rotation @ centre)[:, None]], dim=1)[None]
    warped = reglab.warp(image, fields.affine_to_displacement(matrix, size))[0, 0]
    row, column = divmod(int(warped.argmax()), size[1])
    assert row > 20 + 3 and column < 30                                        # lower and to the left: clockwise


def test_the_missing_flip_transposes_the_identity():
    image = torch.rand(1, 1, 7, 7)
    positions = grid.identity_grid((7, 7))
    sampling = (positions * (2.0 / 6) - 1.0).movedim(1, -1)                    # no .flip(-1): the classmate's bug
    assert torch.allclose(F.grid_sample(image, sampling, align_corners=True), image.transpose(2, 3), atol=1e-5)
