"""The grader's judgement of one exercise: the student's answers (plain data) against the expected values.

:func:`judge` compares, in the grader's process, the answers the kernel sent back (one per case of a recorded
:class:`~reglab.course.grading.cases.Check`) with the expected values computed here, with the checkers' own
comparison (:func:`reglab.course.checks.core._compare`), mistakes and report lines, and returns a :class:`Verdict`.
Nothing the notebook does inside its kernel can change a comparison made here. A checker of its own kind (a
question) is replayed here on the student's recorded answers (:func:`_replay`).
"""

import contextlib
import io
from dataclasses import dataclass, field

import torch

from reglab.course.checks import core
from reglab.course.grading import codec
from reglab.course.grading.answers import weighted_gradients


@dataclass
class Verdict:
    """The grader's judgement of one check (visible or hidden): like the checker's Result, computed here."""

    title: str
    passed: int
    total: int
    implemented: bool
    messages: list
    called: list = field(default_factory=list)


def _gradient_problem(check, case, got, names):
    try:
        want = weighted_gradients(check.reference, tuple(case.args), dict(case.kwargs), check.gradient)
    except Exception:  # a reference that cannot be differentiated here: no gradient contract
        return None
    for position, mine, theirs in zip(check.gradient, got, want):
        name = names[position] if position < len(names) else f"argument {position + 1}"
        if theirs is None:
            continue
        if not isinstance(mine, torch.Tensor):
            return (f"no gradient reaches `{name}`: the result must be differentiable (no .item(), .detach(), "
                    f".numpy(), torch.no_grad() or torch.tensor(...) of computed values)")
        if mine.shape != theirs.shape:
            return f"the gradient with respect to `{name}` has the wrong shape"
        scale = theirs.abs().max().item()
        if not torch.allclose(mine.to(torch.float64), theirs.to(torch.float64), rtol=1e-3, atol=1e-4 * (1 + scale)):
            error = (mine.to(torch.float64) - theirs.to(torch.float64)).abs().max().item()
            return f"the gradient with respect to `{name}` differs from reglab's (largest error {error:.3g})"
    return None


def _hints(check, runs):
    hints = []
    fires = getattr(core, "_mistake_fires", None)
    for mistake in check.mistakes:
        try:
            if fires is not None and fires(mistake, runs) and mistake.hint not in hints:
                hints.append(mistake.hint)
        except Exception:  # a hint that cannot be evaluated on this answer is not shown
            continue
    if not hints:
        for case, answer, ok in runs:
            if ok:
                continue
            for diagnose in check.diagnose:
                try:
                    hint = diagnose(answer, case)
                except Exception:  # a diagnose function that does not apply to this answer
                    hint = None
                if hint and hint not in hints:
                    hints.append(hint)
                    break
    return hints


def _value_problem(answer, case):
    """What is wrong with ``answer`` for ``case`` (the checkers' own comparison, run here), or None."""
    try:
        found = core._compare(answer, case.expected, case)
    except Exception as error:  # an answer of a kind the comparison does not expect
        return f"the answer could not be compared ({type(error).__name__})"
    return found[0] if isinstance(found, tuple) else found


def _replay(check, answers):
    """Run a checker of its own kind (:attr:`Check.replay`) in the grader on the student's recorded answers."""
    import builtins

    answers = list(answers)

    def student(*args, **kwargs):
        data = answers.pop(0) if answers else {"error": "RuntimeError: no answer"}
        if data.get("stub"):
            namespace = {"NotImplementedError": builtins.NotImplementedError}
            exec(compile("raise NotImplementedError()", "<student>", "exec"), namespace)
        if "error" in data:
            raise _StudentError(str(data["error"]))
        return codec.decode(data.get("answer"))

    with contextlib.redirect_stdout(io.StringIO()):
        result = check.replay(student)
    return Verdict(result.exercise, int(result.passed), int(result.total), bool(result.implemented),
                   [str(line) for line in result.messages])


class _StudentError(Exception):
    """What the student's function raised in the kernel (its type and message, as text)."""


def judge(check, answers):
    """Compare the student's answers (decoded plain data, one per case) with ``check``'s expected values.

    Args:
        check: a :class:`Check`.
        answers: one dict per case as the kernel sent it: ``answer`` (encoded), or ``error`` / ``stub``, and
            ``modified`` (argument positions changed in place), ``calls`` (forbidden reglab functions it called),
            ``gradients`` (encoded, for gradient cases).

    Returns:
        A :class:`Verdict` with ✓/✗ lines in the checkers' format.
    """
    if check.replay is not None:
        return _replay(check, answers)
    lines, rows, runs, called = [check.title], [], [], []
    passed, returned = 0, False
    names = check.names
    for case, data in zip(check.cases, answers):
        if data.get("stub") and not returned:
            lines.append("  … not implemented yet: write your code between the markers, replacing "
                         "`raise NotImplementedError()`, then run this cell again.")
            return Verdict(check.title, 0, len(check.cases), False, lines)
        if "error" in data:
            rows.append((f"  ✗ {case.description}: raised {str(data['error'])[:300]}", True))
            continue
        returned = True
        try:
            answer = codec.decode(data.get("answer"))
        except (ValueError, TypeError, KeyError) as error:
            answer, problem = None, f"the answer could not be read ({error})"
        else:
            problem = None
        calls = [str(c) for c in data.get("calls", [])]
        if calls:
            called += [c for c in calls if c not in called]
            problem = problem or f"calls {calls[0]}"
        modified = data.get("modified") or []
        if modified and not problem:
            index = int(modified[0])
            name = names[index] if index < len(names) else f"argument {index + 1}"
            problem = f"your function modified its input `{name}` in place"
        value_problem = _value_problem(answer, case) if answer is not None else "no answer"
        problem = problem or value_problem
        if problem is None and "gradients" in data:
            try:
                got = [codec.decode(g) for g in data["gradients"]]
            except (ValueError, TypeError, KeyError):
                got = [None] * len(check.gradient)
            problem = _gradient_problem(check, case, got, names)
        if problem is None:
            passed += 1
            rows.append((f"  ✓ {case.description}", False))
        else:
            rows.append((f"  ✗ {case.description}: {problem}", True))
        runs.append((case, answer, value_problem is None))
    missing = len(check.cases) - len(answers)
    for case in check.cases[len(answers):]:
        rows.append((f"  ✗ {case.description}: no answer (the kernel stopped or ran out of time)", True))
    if called:
        hints = [f"this calls {', '.join(called)}: the exercise asks you to write it yourself."]
    else:
        hints = _hints(check, runs)
    lines += core.case_lines(rows, hints)
    lines.append(f"  {passed} of {len(check.cases)} cases passed." + (" Well done!" if passed == len(check.cases)
                                                                    and not missing else ""))
    return Verdict(check.title, passed, len(check.cases), True, lines, called)


__all__ = ["Verdict", "judge"]
