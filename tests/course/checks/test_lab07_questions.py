"""Tests for Lab 07's questions (reglab.course.checks.lab07, issue 18): right answers pass, each wrong answer fails with
the hint written for it, a stub is "not implemented"."""

import pytest

from reglab.course.checks import lab07
from tests.course.checks.helpers import run, stub

QUESTIONS = [
    (lab07.check_inverse_consistency_question, "b", {"a": "Training quality does not explain", "c": "30 % smaller"}),
    (lab07.check_comparison_question, "b", {"a": "same small budget", "c": "cannot show overfitting"}),
]


@pytest.mark.parametrize("check, right, wrong", QUESTIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_questions(check, right, wrong):
    result, out = run(check, lambda: right)
    assert result.ok and "→" not in out, out
    for letter, hint in wrong.items():
        result, out = run(check, lambda: letter)
        assert not result.ok and out.count(hint) == 1, out
    assert not run(check, lambda: "d")[0].ok
    result, out = run(check, stub)
    assert not result.implemented and "not implemented yet" in out
