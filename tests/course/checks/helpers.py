"""Shared asserts of the checker tests: a right answer passes; a wrong one fails with the one hint naming its mistake."""

import contextlib
import io
import types

import pytest
import torch


def run(check, answer):
    """``(result, printed report)`` of ``check(answer)``."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = check(answer)
    return result, buffer.getvalue()


def assert_passes(check, answer):
    result, out = run(check, answer)
    assert result.ok and result.hints == [] and not any(line.strip().startswith(("✗", "→")) for line in
                                                         out.splitlines()), out


def assert_fails_with(check, answer, hint):
    """The answer fails, ``hint`` is printed once, right under the first failed case (where the grader reads it),
    and no other mistake's hint is shown."""
    result, out = run(check, answer)
    assert result.implemented and not result.ok, out
    assert out.count(hint) == 1, out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("✗"))
    assert hint in lines[first] or any(hint in line for line in lines[first + 1:first + 1 + len(result.hints)]), out
    assert len(result.hints) <= 1, out
    return out


def uncovered(checks, table):
    """The hints of ``checks``' mistakes that no entry of ``table`` ``(check, answer, hint)`` asserts."""
    asserted = [(check, hint) for check, _, hint in table]
    return [(check.__name__, mistake.hint) for check in checks for mistake in check.mistakes
            if not any(c is check and hint in mistake.hint for c, hint in asserted)]


def stub(*args):
    raise NotImplementedError()


def noisy(answer, *, dtype=None):
    """A wrong answer of the contract kind: the right values in another dtype."""
    def wrapped(*args):
        return answer(*args).to(dtype)
    return wrapped


def detached(answer):
    """A wrong answer of the differentiability kind: the right values, cut from the graph (as under no_grad)."""
    def wrapped(*args):
        with torch.no_grad():
            return answer(*args)
    return wrapped


def in_place(answer, index=0):
    """A wrong answer that modifies its ``index``-th input in place after using it."""
    def wrapped(*args):
        result = answer(*args)
        args[index].mul_(2) if args[index].dtype != torch.bool else args[index].logical_not_()
        return result
    return wrapped


def own(function):
    """A copy of a reglab function that the checkers' recording of forbidden calls does not see: the student's own
    right implementation, to build realistic wrong answers from (``own(reglab.warp)(m, -u)``)."""
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__, function.__defaults__,
                              function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


def table_tests(checks, right, wrong):
    """The four tests of a lab's answer tables, to assign in its test module (pytest collects them there)::

        (test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
         test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
         test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)

    ``checks``: the lab's checkers; ``right``: ``(check, answer)`` right answers; ``wrong``: ``(check, answer, hint)``
    realistic mistakes, each with the hint its checker must print.
    """
    @pytest.mark.parametrize("check, answer", right, ids=lambda x: getattr(x, "__name__", ""))
    def test_right_answers_pass(check, answer):
        assert_passes(check, answer)

    @pytest.mark.parametrize("check, answer, hint", wrong, ids=[f"{c.__name__}-{h[:24]}" for c, _, h in wrong])
    def test_wrong_answers_fail_with_their_hint(check, answer, hint):
        assert_fails_with(check, answer, hint)

    def test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers():
        assert uncovered(checks, wrong) == []
        for check in checks:
            assert sum(c is check for c, _, _ in wrong) >= 5, check.__name__

    @pytest.mark.parametrize("check", checks, ids=lambda c: c.__name__)
    def test_an_untouched_stub_is_not_implemented(check):
        result, out = run(check, stub)
        assert not result.ok and not result.implemented and "not implemented yet" in out

    return (test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
            test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
            test_an_untouched_stub_is_not_implemented)
