"""The question checkers' framework: choices, sets of names, numbers and tuned values."""

import pytest

from reglab.course.checks.questions import check_choice, check_number

OPTIONS = {"a": "left", "b": "right", "c": "up"}


def stub():
    raise NotImplementedError()


def test_choice(capsys):
    assert check_choice("E", lambda: "a", "a", options=OPTIONS).ok
    wrong = check_choice("E", lambda: "b", "a", options=OPTIONS, hints={"b": "mirror."})
    assert not wrong.ok and wrong.hints == ["mirror."]
    assert not check_choice("E", lambda: "d", "a", options=OPTIONS).ok
    assert "not one of" in capsys.readouterr().out
    assert not check_choice("E", stub, "a", options=OPTIONS).implemented


def test_choice_of_a_set():
    assert check_choice("E", lambda: {"a", "c"}, {"a", "c"}, options=OPTIONS).ok
    assert check_choice("E", lambda: ["C", "a"], {"a", "c"}, options=OPTIONS).ok
    missing = check_choice("E", lambda: {"a"}, {"a", "c"}, options=OPTIONS, hints={"c": "c too."})
    assert not missing.ok and missing.hints == ["c too."]
    assert not check_choice("E", lambda: "a", {"a", "c"}, options=OPTIONS).ok            # a string is not a set
    assert not check_choice("E", lambda: {"a", "x"}, {"a", "c"}, options=OPTIONS).ok


def test_number_and_tuned_value():
    assert check_number("E", lambda: 3, 2, 4).ok
    low = check_number("E", lambda: 1, 2, 4, hints=[(0, 2, "too small.")])
    assert not low.ok and low.hints == ["too small."]
    assert not check_number("E", lambda: "many", 2, 4).ok
    tuned = check_number("E", lambda: 0.5, 0.0, 1.0, evaluate=lambda w: (w * 10, f"error {w * 10:g}"))
    assert not tuned.ok
    assert check_number("E", lambda: 0.05, 0.0, 1.0, evaluate=lambda w: (w * 10, f"error {w * 10:g}")).ok


def test_a_raising_answer_is_reported_not_raised(capsys):
    def broken():
        return 1 / 0

    result = check_number("E", broken, 0, 1)
    assert result.implemented and not result.ok
    assert "ZeroDivisionError" in capsys.readouterr().out
