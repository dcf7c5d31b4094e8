"""Lab 00's questions (issue 18): the right answer passes, every wrong one fails with its own hint, a stub says so."""

import pytest

from reglab.course.checks import lab00


def stub():
    raise NotImplementedError()


@pytest.mark.parametrize("check, options, right", [(lab00.check_which_way, lab00.WHICH_WAY, "b"),
                                                   (lab00.check_same_penalty, lab00.SAME_PENALTY, "a")])
def test_right_wrong_and_unanswered(check, options, right, capsys):
    assert check(lambda: right).ok
    assert check(lambda: f" ({right.upper()}) ").ok                       # case and brackets do not matter
    hints = set()
    for key in options:
        if key != right:
            result = check(lambda: key)
            assert not result.ok and result.implemented and result.hints
            hints.add(result.hints[0])
    assert len(hints) == len(options) - 1, "each wrong answer has its own hint"
    assert not check(lambda: "z").ok and not check(lambda: 2).ok
    capsys.readouterr()
    result = check(stub)
    assert not result.implemented and "not implemented yet" in capsys.readouterr().out


def test_which_way_matches_what_warp_does():
    """The answer key is what reglab.warp really does: u = +10 along the columns moves the content left."""
    import torch
    import reglab

    image = torch.zeros(1, 1, 8, 30)
    image[..., 15] = 1.0
    u = torch.zeros(1, 2, 8, 30)
    u[:, 1] = 10.0
    assert reglab.warp(image, u)[0, 0, 0].argmax().item() == 5                  # column 15 is now drawn at 5: left
    assert lab00.WHICH_WAY["b"] == "to the left"
