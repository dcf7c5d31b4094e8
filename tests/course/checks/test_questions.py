"""The question checkers' framework: choices, sets of names, numbers and tuned values; ask with its judges."""

import torch

from reglab.course.checks.questions import ask, check_choice, check_number, choice, number_in

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


def test_number_in_judges_a_range_and_refuses_non_numbers():
    judge = number_in(1.0, 2.0, "mm", below="too small", above="too large")
    assert judge(1.5)[0] and judge(torch.tensor(2.0))[0]
    assert judge(0.5) == (False, "your answer 0.5 mm", "too small")
    assert judge(3)[2] == "too large"
    assert not judge(float("nan"))[0] and not judge("1.5")[0] and not judge(True)[0]


def test_ask_reports_a_right_a_wrong_and_a_refused_answer(capsys):
    judge = choice({"a": "look at the curve again.", "b": ""}, "b", "the second valley.")
    right = ask("Exercise 5.5 — interpret", lambda: " (B) ", judge)
    assert right.ok and right.hints == [] and right.messages == [
        "Exercise 5.5 — interpret", "  ✓ (b): the second valley.", "  1 of 1 cases passed. Well done!"]
    wrong = ask("Exercise 5.5 — interpret", lambda: "a", judge)
    assert wrong.implemented and not wrong.ok and wrong.hints == ["look at the curve again."]
    assert wrong.messages == ["Exercise 5.5 — interpret", "  ✗ your answer (a)", "    → look at the curve again.",
                           "  0 of 1 cases passed."]
    refused = ask("E", lambda: 2, judge)
    assert refused.messages[1:3] == ["  ✗ your answer 2", "    → answer with one letter among 'a', 'b'."]
    assert capsys.readouterr().out.count("Exercise 5.5 — interpret") == 2


def test_ask_reports_a_stub_and_an_exception_with_or_without_a_message():
    judge = number_in(0, 1, "", below="low", above="high")
    assert not ask("E", stub, judge).implemented
    for error, line in [(KeyError("x"), "  ✗ raised KeyError: 'x'"), (RuntimeError(), "  ✗ raised RuntimeError")]:
        def broken():
            raise error

        for result in (ask("E", broken, judge), check_number("E", broken, 0, 1)):       # the same report
            assert result.implemented and not result.ok and result.messages == ["E", line, "  0 of 1 cases passed."]
