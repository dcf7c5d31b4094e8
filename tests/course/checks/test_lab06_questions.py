"""Tests for Lab 06's questions (reglab.course.checks.lab06, issue 18): right answers pass, each wrong answer fails with
the hint written for it, the tuning exercise measures the shipped HyperMorph at the student's λ."""

import pytest

from reglab.course.checks import lab06
from tests.course.checks.helpers import run, stub

QUESTIONS = [
    (lab06.check_contrast_prediction, "b", {"a": "not what alignment means", "c": "used in training only"}),
    (lab06.check_weak_supervision_bug, "b", {"a": "exactly zero stays zero", "c": "staircase function"}),
]


@pytest.mark.parametrize("check, right, wrong", QUESTIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_questions(check, right, wrong):
    result, out = run(check, lambda: right)
    assert result.ok and "→" not in out, out
    for letter, hint in wrong.items():
        result, out = run(check, lambda: letter)
        assert not result.ok and out.count(hint) == 1, out
    result, out = run(check, stub)
    assert not result.implemented and "not implemented yet" in out


def test_hypermorph_tuning_measures_both_targets():
    result, out = run(lab06.check_hypermorph_tuning, lambda: 0.3)            # Dice 0.680, diffusion 0.034
    assert result.ok and "Dice 0.680" in out, out
    result, out = run(lab06.check_hypermorph_tuning, lambda: 0.05)           # sharp but rough
    assert not result.ok and "too small" in out, out
    result, out = run(lab06.check_hypermorph_tuning, lambda: 0.8)            # smooth but registers less
    assert not result.ok and "too large" in out, out
    for bad in (1.5, "0.3", None):
        result, out = run(lab06.check_hypermorph_tuning, lambda: bad)
        assert not result.ok and "[0, 1]" in out, out
    assert not run(lab06.check_hypermorph_tuning, stub)[0].implemented
