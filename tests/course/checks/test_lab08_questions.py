"""Tests for Lab 08's questions (reglab.course.checks.lab08, issue 18): right answers pass, each wrong answer fails with
the hint written for it, a stub is "not implemented"."""

import pytest

from reglab.course.checks import lab08
from tests.course.checks.helpers import run, stub

QUESTIONS = [
    (lab08.check_fre_prediction, "b", {"a": "6 equations", "c": "nothing left to average"}),
    (lab08.check_tre_direction_bug, "b", {"a": "spacing changes nothing", "c": "'before' row too"}),
]


@pytest.mark.parametrize("check, right, wrong", QUESTIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_questions(check, right, wrong):
    result, out = run(check, lambda: right)
    assert result.ok and "→" not in out, out
    for letter, hint in wrong.items():
        result, out = run(check, lambda: letter)
        assert not result.ok and out.count(hint) == 1, out
    assert not run(check, lambda: 3)[0].ok
    result, out = run(check, stub)
    assert not result.implemented and "not implemented yet" in out
