"""Tests for Lab 05's questions (reglab.course.checks.lab05, issue 18): the right letter passes with its explanation,
each wrong letter fails with the hint written for it, other answers are refused, a stub is "not implemented"."""

import pytest

from reglab.course.checks import lab05
from tests.course.checks.helpers import run, stub

QUESTIONS = [
    (lab05.check_landscape_question, "b", {"a": "which valley is nearer", "c": "not flat"}),
    (lab05.check_initialization_prediction, "b", {"a": "central valley"}),
    (lab05.check_multimodal_bug, "b", {"a": "wrong alignment", "c": "intended direction", "d": "coarser level"}),
    (lab05.check_penalty_question, "b", {"a": "paid to put them", "c": "folding printed above"}),
]


@pytest.mark.parametrize("check, right, wrong", QUESTIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_questions(check, right, wrong):
    result, out = run(check, lambda: right)
    assert result.ok and "Well done!" in out and "→" not in out, out
    result, out = run(check, lambda: f" ({right.upper()}) ")            # case, spaces and brackets are forgiven
    assert result.ok, out
    for letter, hint in wrong.items():
        result, out = run(check, lambda: letter)
        assert result.implemented and not result.ok and out.count(hint) == 1, out
    for other in ("z", 2, None):
        result, out = run(check, lambda: other)
        assert not result.ok and "answer with one letter" in out, out
    result, out = run(check, stub)
    assert not result.implemented and "not implemented yet" in out


def test_a_question_that_raises_is_reported():
    def broken():
        raise KeyError("x")

    result, out = run(lab05.check_penalty_question, broken)
    assert result.implemented and not result.ok and "raised KeyError" in out
