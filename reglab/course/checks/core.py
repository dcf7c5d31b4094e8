"""The checker framework the labs' exercise checks are built on.

A check is a list of :class:`Case` s. :func:`run_check` calls the student's
function on each case, compares the answer with the expected one, and prints
one line per case::

    Exercise 1.2 — warp
      ✓ 2D, 5 × 7
      ✗ 3D, batch of 2: values differ (largest error 2.5)
        → the image moved the other way: did you sample at x − u(x) instead of x + u(x)?
      1 of 2 cases passed.

``diagnose(answer, case)`` functions turn a wrong answer into a hint: each
returns a message when it recognises a typical mistake (for example by
comparing the answer with what the mistaken formula would give), else None.
"""

from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Case:
    """One call of the student's function.

    Attributes:
        description: what the case is, printed after ✓/✗ (e.g. ``"3D, batch of 2"``).
        args: positional arguments for the student's function (tensors are cloned before the call).
        expected: the right answer (a tensor, or a tuple of tensors).
        atol, rtol: tolerances of the comparison.
    """

    description: str
    args: tuple
    expected: object
    kwargs: dict = field(default_factory=dict)
    atol: float = 1e-4
    rtol: float = 1e-4


@dataclass
class Result:
    """The outcome of a check: how many cases passed, and the messages printed."""

    exercise: str
    passed: int
    total: int
    implemented: bool
    messages: list

    @property
    def ok(self):
        return self.implemented and self.passed == self.total

    def __bool__(self):
        return self.ok

    def _ipython_display_(self):
        """Display nothing: the check has already printed its report."""


def _clone(value):
    return value.clone() if isinstance(value, torch.Tensor) else value


def _compare(answer, expected, case):
    """None when ``answer`` matches ``expected``, else what is wrong."""
    if isinstance(expected, tuple):
        if not isinstance(answer, tuple) or len(answer) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {type(answer).__name__}"
        for a, e in zip(answer, expected):
            problem = _compare(a, e, case)
            if problem:
                return problem
        return None
    if not isinstance(answer, torch.Tensor):
        return f"expected a torch.Tensor, got {type(answer).__name__}"
    if answer.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got {tuple(answer.shape)}"
    if not torch.isfinite(answer.to(torch.float64)).all():
        return "the answer contains NaN or Inf"
    difference = (answer.to(torch.float64) - expected.to(torch.float64)).abs()
    if not torch.allclose(answer.to(torch.float64), expected.to(torch.float64), atol=case.atol, rtol=case.rtol):
        return f"values differ (largest error {difference.max().item():.3g})"
    return None


def run_check(exercise, student, cases, *, diagnose=()):
    """Run ``student`` on every case, print a ✓/✗ report with hints, return a :class:`Result`.

    Args:
        exercise: the banner, e.g. ``"Exercise 1.2 — warp"``.
        student: the student's function.
        cases: list of :class:`Case`.
        diagnose: functions ``(answer, case) -> str | None`` that recognise typical mistakes.
    """
    lines = [exercise]
    passed = 0
    for case in cases:
        args = tuple(_clone(a) for a in case.args)
        try:
            answer = student(*args, **case.kwargs)
        except NotImplementedError:
            lines.append("  … not implemented yet: write your code between the markers, replacing "
                         "`raise NotImplementedError()`, then run this cell again.")
            print("\n".join(lines))
            return Result(exercise, 0, len(cases), False, lines)
        except Exception as error:  # the student's code may raise anything: report it as a lesson
            lines.append(f"  ✗ {case.description}: raised {type(error).__name__}: {error}")
            continue
        problem = _compare(answer, case.expected, case)
        if problem is None and any(
            isinstance(a, torch.Tensor) and not torch.equal(a, c) for a, c in zip(args, case.args)
        ):
            problem = "your function modified its input in place; work on a copy (or use out-of-place operations)"
        if problem is None:
            passed += 1
            lines.append(f"  ✓ {case.description}")
            continue
        lines.append(f"  ✗ {case.description}: {problem}")
        for check in diagnose:
            hint = check(answer, case)
            if hint:
                lines.append(f"    → {hint}")
                break
    lines.append(f"  {passed} of {len(cases)} cases passed." + (" Well done!" if passed == len(cases) else ""))
    print("\n".join(lines))
    return Result(exercise, passed, len(cases), True, lines)


def same(answer, other, atol=1e-4):
    """True when ``answer`` is a tensor equal to ``other`` (for diagnose functions)."""
    return (isinstance(answer, torch.Tensor) and isinstance(other, torch.Tensor) and answer.shape == other.shape
            and torch.allclose(answer.to(torch.float64), other.to(torch.float64), atol=atol))


Diagnose = Callable[[object, Case], "str | None"]
