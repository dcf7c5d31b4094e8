"""Lab 03's questions (issue 18): set answers and the debug key, against what the measures really do."""

import torch

from reglab import similarity
from reglab.course.checks import lab03


def stub():
    raise NotImplementedError()


def test_failing_measures(capsys):
    assert lab03.check_failing_measures(lambda: {"mse", "ncc"}).ok
    assert lab03.check_failing_measures(lambda: ("NCC", "mse")).ok
    for wrong in ({"mse"}, {"mse", "ncc", "mi"}, set(), "mse"):
        result = lab03.check_failing_measures(lambda: wrong)
        assert not result.ok and result.hints
    assert not lab03.check_failing_measures(lambda: {"ssim"}).ok
    assert not lab03.check_failing_measures(stub).implemented


def test_runaway(capsys):
    assert lab03.check_runaway(lambda: "a").ok
    assert len({lab03.check_runaway(lambda: k).hints[0] for k in "bcd"}) == 3


def test_mi_is_higher_is_better_and_loss_negates_it():
    """The key of Exercise 3.5: MI grows with alignment, and similarity.loss turns it into -MI."""
    g = torch.Generator().manual_seed(0)
    fixed = torch.rand(1, 1, 24, 24, generator=g)
    moved = torch.roll(fixed, 3, dims=-1)
    assert similarity.HIGHER_IS_BETTER["mi"]
    assert similarity.mi(fixed, fixed) > similarity.mi(fixed, moved)
    assert torch.allclose(similarity.loss("mi", fixed, moved), -similarity.mi(fixed, moved))
