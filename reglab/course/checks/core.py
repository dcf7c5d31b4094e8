"""The checker framework the labs' exercise checks are built on.

A check is a list of :class:`Case` s and a list of :class:`Mistake` s. :func:`run_check` calls the student's
function on each case and checks the whole contract of the answer: its type, shape, dtype and device, its values,
that the inputs were not modified, that it did not just call the reglab function the exercise asks to write, and,
where the exercise says the result must be differentiable, that a gradient flows and equals the reference's. It
prints one line per case, then, under the first failed case, the hint of each mistake it recognised, once::

    Exercise 1.2 — backward warping
      ✓ 2D, 5 × 7, batch of 1
      ✗ 3D, 4 × 5 × 6, batch of 2: values differ (largest error 2.5)
        → the image moved the other way: did you sample at x − u(x) instead of x + u(x)?
      ✗ 2D, 7 × 3, batch of 3: values differ (largest error 1.9)
      1 of 3 cases passed.

A :class:`Mistake` says what a typical wrong answer computes (``output``); its hint is shown only when the
student's answer equals that output on a case where the mistake gives a wrong result, and on no case where the
mistake would be wrong did the student's answer come out right. So a hint never fires for an arbitrary wrong
answer, and each hint can be tested by the mistake it names.

This module holds the cases, the mistakes and the report; the checks of one answer's contract (values, forbidden
calls, inputs modified in place, gradients) are in :mod:`reglab.course.checks.contract`.

Example:
    >>> import torch
    >>> cases = [Case("2 values", (torch.tensor([1.0, 2.0]),), torch.tensor([2.0, 4.0]))]
    >>> halved = Mistake("you halved instead of doubling.", output=lambda x: x / 2)
    >>> result = run_check("Exercise 0 — double", lambda x: x + 1, cases, mistakes=[halved])
    Exercise 0 — double
      ✗ 2 values: values differ (largest error 1)
      0 of 1 cases passed.
    >>> result = run_check("Exercise 0 — double", lambda x: x / 2, cases, mistakes=[halved])
    Exercise 0 — double
      ✗ 2 values: values differ (largest error 3)
        → you halved instead of doubling.
      0 of 1 cases passed.
"""

import inspect
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from typing import Callable

import torch

from reglab.course.checks.contract import _clone, _compare, _gradient_problem, _modified, recording, same
from reglab.course.checks.contract import public_name  # noqa: F401  (the grader names functions as core.public_name)

_LIBRARIES = tuple(os.path.dirname(module.__file__) + os.sep for module in (torch, sys.modules["reglab"])
                   if getattr(module, "__file__", None))
_STUB = ("  … not implemented yet: write your code between the markers, replacing `raise NotImplementedError()`, "
         "then run this cell again.")


@dataclass
class Case:
    """One call of the student's function.

    Attributes:
        description: what the case is, printed after ✓/✗ (e.g. ``"3D, batch of 2"``).
        args: positional arguments for the student's function (tensors are cloned before every call).
        expected: the right answer (a tensor, or a tuple of tensors); its dtype and device are part of the contract.
        kwargs: keyword arguments for the student's function.
        atol, rtol: tolerances of the comparison of values.
        grad: check the gradient on this case (when :func:`run_check` is given ``gradient``).
        ndim: the number of spatial dimensions, for "works in 2D but not in 3D" (default: read from
            ``description``, ``"2D"``/``"3D"``).
    """

    description: str
    args: tuple
    expected: object
    kwargs: dict = field(default_factory=dict)
    atol: float = 1e-4
    rtol: float = 1e-4
    grad: bool = True
    ndim: "int | None" = None

    @property
    def dimension(self):
        if self.ndim is not None:
            return self.ndim
        found = re.search(r"\b([123])D\b", self.description)
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer and the hint that names it.

    Give one of:
        output: ``(*case.args) -> answer``, what the mistaken formula computes.
        derive: ``(expected) -> answer``, for mistakes of layout (a missing batch axis, a transposed result).
        test: ``(answer, case) -> bool``, for mistakes recognised by a property of the answer (NaN, zero);
            it must hold only for that mistake.

    Attributes:
        hint: the sentence shown under the first failed case.
    """

    hint: str
    output: "Callable | None" = None
    derive: "Callable | None" = None
    test: "Callable | None" = None

    def produce(self, case):
        """What this mistake answers on ``case`` (None when it does not apply)."""
        try:
            if self.output is not None:
                return self.output(*case.args, **case.kwargs)
            if self.derive is not None:
                return self.derive(case.expected)
        except Exception:  # a mistake that cannot be formed on this case does not apply there
            return None
        return None


@dataclass
class Result:
    """The outcome of a check: how many cases passed, and the messages printed."""

    exercise: str
    passed: int
    total: int
    implemented: bool
    messages: list
    hints: list = field(default_factory=list)

    @property
    def ok(self):
        return self.implemented and self.passed == self.total

    def __bool__(self):
        return self.ok

    def _ipython_display_(self):
        """Display nothing: the check has already printed its report."""


def _is_stub(error):
    """True for the stub's own ``raise NotImplementedError()``: no message, raised outside torch and reglab."""
    if type(error) is not NotImplementedError or error.args:
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and not frames[-1].filename.startswith(_LIBRARIES)


def _mistake_fires(mistake, runs):
    """True when the student's answers match ``mistake`` wherever it is wrong, and somewhere it is wrong."""
    matched = False
    for case, answer, passed in runs:
        if mistake.test is not None:
            matched = matched or (not passed and bool(mistake.test(answer, case)))
            continue
        wrong = mistake.produce(case)
        if wrong is None or same(wrong, case.expected, atol=case.atol, rtol=case.rtol):
            continue                                         # the mistake is right (or undefined) here: no evidence
        if passed:
            return False
        if same(answer, wrong, atol=max(case.atol, 1e-4), rtol=max(case.rtol, 1e-4)):
            matched = True
        else:
            return False
    return matched


def case_lines(rows, hints):
    """The report's case lines: ``rows`` ``[(line, failed)]`` in order, ``hints`` (``    → hint``) under the first
    failed one. The checkers (:func:`run_check`) and the grader (:func:`reglab.course.grading.judging.judge`) share it,
    so that a student reads the same report in both.

    Example:
        >>> case_lines([("  ✓ a", False), ("  ✗ b", True), ("  ✗ c", True)], ["look at b."])
        ['  ✓ a', '  ✗ b', '    → look at b.', '  ✗ c']
    """
    lines, hinted = [], False
    for line, failed in rows:
        lines.append(line)
        if failed and not hinted:
            lines += [f"    → {hint}" for hint in hints]
            hinted = True
    return lines


def run_check(exercise, student, cases, *, mistakes=(), diagnose=(), reference=None, gradient=(), names=None,
              forbid=(), detached=False):
    """Run ``student`` on every case, print a ✓/✗ report with hints, return a :class:`Result`.

    Args:
        exercise: the banner, e.g. ``"Exercise 1.2 — warp"``.
        student: the student's function (or layer).
        cases: list of :class:`Case`.
        mistakes: :class:`Mistake` s, the typical wrong answers of this exercise, in the order their hints are shown.
        diagnose: older form of hints, functions ``(answer, case) -> str | None`` tried on the failed cases.
        reference: the right function, for the gradient check.
        gradient: names of the arguments a gradient must reach (the exercise asks for a differentiable result).
        names: the arguments' names (default: the reference's parameters).
        forbid: the reglab functions the exercise asks to write; an answer that calls one of them fails.
        detached: the contract asks for a result cut from the graph (the answer of an optimisation).
    """
    names = list(names or (inspect.signature(reference).parameters if reference is not None else ()))
    positions = [names.index(name) for name in gradient]
    lines = [exercise]
    rows = []                  # (line, failed)
    hints = []
    runs = []                  # (case, answer, passed) for the mistakes
    passed = 0
    returned = False
    raised = []                # (case, error)
    worked = set()             # dimensions where a case passed
    modified = None
    called = []
    lessons = []               # what a broken contract teaches, once each
    gradient_lessons = []      # shown when every value was right
    for case in cases:
        args = tuple(_clone(a) for a in case.args)
        originals = tuple(_clone(a) for a in case.args)
        try:
            with recording(forbid, student) as calls:
                answer = student(*args, **case.kwargs)
        except Exception as error:  # the student's code may raise anything: report it as a lesson
            if not returned and _is_stub(error):
                lines.append(_STUB)
                print("\n".join(lines))
                return Result(exercise, 0, len(cases), False, lines)
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            rows.append((f"  ✗ {case.description}: raised {type(error).__name__}: {message}".rstrip(": "), True))
            raised.append((case, error))
            continue
        returned = True
        problem = lesson = None
        if calls:
            called += [c for c in calls if c not in called]
            problem = f"calls {calls[0]}"
        where = _modified(args, originals, names)
        if where and not problem:
            modified = modified or where
            problem = f"modified its input `{where}` in place"
        value_problem, value_lesson = _compare(answer, case.expected, case)
        if value_problem is None and detached and getattr(answer, "requires_grad", False):
            value_problem, value_lesson = ("still attached to the graph",
                                           "return the displacement detached (.detach()): it is a result, not a "
                                           "step of the optimisation.")
        if not problem:
            problem, lesson = value_problem, value_lesson
        if problem is None and positions and reference is not None and case.grad:
            with recording(forbid, student):
                problem, lesson = _gradient_problem(student, reference, case, positions, names)
            if lesson and lesson not in gradient_lessons:
                gradient_lessons.append(lesson)
        elif lesson and lesson not in lessons:
            lessons.append(lesson)
        if problem is None:
            passed += 1
            worked.add(case.dimension)
            rows.append((f"  ✓ {case.description}", False))
        else:
            rows.append((f"  ✗ {case.description}: {problem}", True))
        runs.append((case, answer, value_problem is None))

    if called:
        hints.append(f"this calls {', '.join(called)}: the exercise asks you to write it yourself.")
    elif modified:
        hints.append(f"your function modified its input `{modified}` in place; work on a copy (x = x.clone()) "
                     f"or use out-of-place operations (x = x + 1, not x += 1).")
    else:
        hints += lessons
        if all(ok for _, _, ok in runs) and not raised:
            hints += gradient_lessons
        for mistake in mistakes:
            if _mistake_fires(mistake, runs) and mistake.hint not in hints:
                hints.append(mistake.hint)
        if not hints:
            for case, answer, ok in runs:
                if ok:
                    continue
                for check in diagnose:
                    hint = check(answer, case)
                    if hint and hint not in hints:
                        hints.append(hint)
                        break
        failed_dims = {case.dimension for case, _ in raised}
        if raised and len(failed_dims) == 1 and None not in failed_dims and worked - failed_dims - {None}:
            case, error = raised[0]
            good = min(worked - failed_dims - {None})
            hints.append(f"your code works in {good}D but raised {type(error).__name__} on a {case.dimension}D case: "
                         f"make it dimension-generic (loop over the axes; 'trilinear', F.conv3d, "
                         f"3D padding for volumes).")
    lines += case_lines(rows, hints)
    lines.append(f"  {passed} of {len(cases)} cases passed." + (" Well done!" if passed == len(cases) else ""))
    print("\n".join(lines))
    return Result(exercise, passed, len(cases), True, lines, hints)


Diagnose = Callable[[object, Case], "str | None"]
