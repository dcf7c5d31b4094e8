"""Checkers for questions: exercises whose answer is a choice or a number, not a function.

The labs ask students to predict before they run, to read a figure, to tune a weight to
a target and to find the bug in a given registration. Each question is a function the
student completes (so the unanswered stub does not break "Run all"), for example::

    def which_way():
        \"\"\"Your answer: "a", "b", "c" or "d".\"\"\"
        ### BEGIN SOLUTION
        return "b"
        ### END SOLUTION

and the lab's checker calls :func:`check_choice` or :func:`check_number` with the right
answer and a hint for each wrong one (Labs 00–04), or :func:`ask` with a judge,
:func:`choice` or :func:`number_in` (Labs 05–08). The report has the form of
:func:`reglab.course.checks.core.run_check`: one ✓/✗ line, the hint, the count.

Example:
    >>> result = check_choice("Exercise 9.1 — predict", lambda: "b", "a",
    ...                       options={"a": "left", "b": "right"}, hints={"b": "look again."})
    Exercise 9.1 — predict
      ✗ your answer: (b) right
        → look again.
      0 of 1 cases passed.
    >>> check_number("Exercise 9.2 — tune", lambda: 0.5, 0.2, 1.0, what="λ").ok
    Exercise 9.2 — tune
      ✓ λ = 0.5 is within [0.2, 1]
      1 of 1 cases passed. Well done!
    True
"""

import math

import torch

from reglab.course.checks.core import _STUB, Result, _is_stub


def _ask(exercise, student):
    """Call the student's answer function: (answer, None), or (None, Result) when it is a stub or raised."""
    try:
        return student(), None
    except Exception as error:  # the student's code may raise anything: report it as a lesson
        if _is_stub(error):
            lines = [exercise, _STUB]
            print("\n".join(lines))
            return None, Result(exercise, 0, 1, False, lines)
        message = f": {error}" if str(error) else ""
        lines = [exercise, f"  ✗ raised {type(error).__name__}{message}", "  0 of 1 cases passed."]
        print("\n".join(lines))
        return None, Result(exercise, 0, 1, True, lines)


def _report(exercise, line, ok, hints, why):
    lines = [exercise, ("  ✓ " if ok else "  ✗ ") + line]
    if not ok:
        lines += [f"    → {hint}" for hint in hints]
    elif why:
        lines.append(f"    {why}")
    lines.append(f"  {int(ok)} of 1 cases passed." + (" Well done!" if ok else ""))
    print("\n".join(lines))
    return Result(exercise, int(ok), 1, True, lines, [] if ok else list(hints))


def _normalise(answer):
    if isinstance(answer, str):
        return answer.strip().strip("()").lower()
    return answer


def check_choice(exercise, student, correct, *, options, hints=None, why=""):
    """A multiple-choice question: ``student()`` returns one key of ``options`` (a letter or a name).

    Args:
        exercise: the banner, e.g. ``"Exercise 0.5 — predict: which way?"``.
        student: the student's function of no arguments.
        correct: the right key, or a set of keys when the answer is a set (the student returns a set,
            list or tuple of keys then).
        options: ``{key: text}``, the choices as the notebook lists them.
        hints: ``{wrong key: hint}`` (for a set answer, keys missing or added by mistake), shown on a wrong answer.
        why: one sentence printed under a right answer.

    Returns:
        :class:`~reglab.course.checks.core.Result`.
    """
    answer, stopped = _ask(exercise, student)
    if stopped is not None:
        return stopped
    hints = hints or {}
    keys = ", ".join(repr(k) for k in options)
    if isinstance(correct, (set, frozenset)):
        if isinstance(answer, str) or not hasattr(answer, "__iter__"):
            return _report(exercise, f"your answer {answer!r} is not a set of names", False,
                           [f"return a set of names, e.g. {{'{next(iter(options))}'}}; the names are {keys}."], why)
        chosen = {_normalise(a) for a in answer}
        unknown = sorted(str(a) for a in chosen - set(options))
        if unknown:
            return _report(exercise, f"unknown name(s) {', '.join(unknown)}", False, [f"the names are {keys}."], why)
        ok = chosen == set(correct)
        wrong = sorted(chosen ^ set(correct))
        tips = [hints[k] for k in wrong if k in hints] or ["compare your choice with the figure (or the numbers) once more."]
        shown = "{" + ", ".join(sorted(chosen)) + "}"
        return _report(exercise, f"your answer: {shown}", ok, tips, why)
    choice = _normalise(answer)
    if choice not in options:
        return _report(exercise, f"your answer {answer!r} is not one of {keys}", False,
                       [f"return one of {keys}, as a string."], why)
    ok = choice == correct
    tip = hints.get(choice, "not this one: reread the question and the output above it.")
    return _report(exercise, f"your answer: ({choice}) {options[choice]}", ok, [tip], why)


def check_number(exercise, student, low, high, *, what="your answer", unit="", hints=(), why="", evaluate=None):
    """A number within ``[low, high]``: ``student()`` returns it (``evaluate(answer)`` may map it first).

    Args:
        exercise: the banner.
        student: the student's function of no arguments.
        low, high: the range that counts as right (inclusive).
        what: the name printed before the value (e.g. ``"λ"``).
        unit: printed after the value.
        hints: ``[(low, high, hint), …]``: the hint shown when the (evaluated) value falls in that range.
        why: one sentence printed under a right answer.
        evaluate: ``answer -> (value, description)``: for "tune to a target" questions, run what the answer
            sets (e.g. a registration with the chosen weight) and check the measured value instead.
    """
    answer, stopped = _ask(exercise, student)
    if stopped is not None:
        return stopped
    try:
        number = float(answer)
    except (TypeError, ValueError):
        return _report(exercise, f"your answer {answer!r} is not a number", False, ["return a number (int or float)."], why)
    value, described = number, f"{what} = {number:g}{unit}"
    if evaluate is not None:
        value, described = evaluate(number)
    ok = low <= value <= high
    tips = [hint for a, b, hint in hints if a <= value <= b] or [f"the right range is narrower: try again."]
    verdict = f"is within [{low:g}, {high:g}]" if ok else f"is outside the target [{low:g}, {high:g}]"
    return _report(exercise, f"{described} {verdict}", ok, tips, why)


def ask(exercise, student, judge):
    """Check a question exercise: call ``student()`` (no arguments) and let ``judge`` grade its answer.

    A question is written as a function that returns its answer (a letter, or a number), so that an
    untouched stub raises ``NotImplementedError`` only when it is checked, as the other exercises do.

    Args:
        exercise: the banner, e.g. ``"Exercise 5.5 — predict: ..."``.
        student: a function of no arguments that returns the answer.
        judge: ``(answer) -> (ok, line, hint)``: whether it is right, a line that describes the answer
            (printed after ✓/✗), and what to think about when it is wrong (None when right); :func:`choice`
            and :func:`number_in` make the usual ones.

    Returns:
        :class:`reglab.course.checks.core.Result` with one case.

    Example:
        >>> def judge(answer):
        ...     return answer == "b", f"your answer {answer!r}", "think again about the pyramid."
        >>> result = ask("Exercise 0 — predict", lambda: "a", judge)
        Exercise 0 — predict
          ✗ your answer 'a'
            → think again about the pyramid.
          0 of 1 cases passed.
    """
    answer, stopped = _ask(exercise, student)
    if stopped is not None:
        return stopped
    ok, line, hint = judge(answer)
    return _report(exercise, line, ok, [] if ok else [hint], "")


def choice(options, right, explanation):
    """A ``judge`` for :func:`ask`: a multiple-choice answer among ``options`` ``{letter: hint if chosen}``.

    ``right`` is the correct letter; ``explanation`` is printed when it is chosen. Answers are
    compared case-insensitively, without surrounding spaces or brackets.

    Example:
        >>> judge = choice({"a": "look at the curve again.", "b": ""}, "b", "the second valley.")
        >>> judge(" (B) "), judge("a")[2], judge(2)[0]
        ((True, '(b): the second valley.', None), 'look at the curve again.', False)
    """
    def judge(answer):
        letter = _normalise(answer) if isinstance(answer, str) else None
        if letter not in options:
            return False, f"your answer {answer!r}", f"answer with one letter among {', '.join(map(repr, options))}."
        if letter == right:
            return True, f"({letter}): {explanation}", None
        return False, f"your answer ({letter})", options[letter]
    return judge


def number_in(low, high, unit, *, below, above):
    """A ``judge`` for :func:`ask`: a finite number (or one-element tensor) between ``low`` and ``high``.

    ``unit`` is printed after the number; ``below`` and ``above`` are the hints for an answer under ``low``
    and over ``high``. Strings and booleans are refused.

    Example:
        >>> judge = number_in(1.0, 2.0, "mm", below="too small", above="too large")
        >>> judge(0.5), judge(1.5)[0]
        ((False, 'your answer 0.5 mm', 'too small'), True)
    """
    def judge(answer):
        if isinstance(answer, torch.Tensor) and answer.numel() == 1:
            answer = answer.item()
        if not isinstance(answer, (int, float)) or isinstance(answer, bool) or not math.isfinite(answer):
            return False, f"your answer {answer!r}", "answer with one finite number."
        if answer < low:
            return False, f"your answer {answer:g} {unit}".rstrip(), below
        if answer > high:
            return False, f"your answer {answer:g} {unit}".rstrip(), above
        return True, f"your answer {answer:g} {unit} lies in [{low:g}, {high:g}]".replace("  ", " "), None
    return judge
