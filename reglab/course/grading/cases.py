"""The grader's side of scoring: each exercise's cases as plain inputs, and the comparison of the answers.

The lab's checkers (``reglab/course/checks/labNN.py``) and the hidden tests (``instructor/hidden/labNN.py``) are
loaded **in the grader's process**, from private copies of their files, with ``run_check`` replaced by a function
that records its arguments instead of calling the student. That gives, per exercise, the cases (inputs and the
expected answers, computed here by reglab's reference implementations), the typical mistakes, the reglab
functions the exercise asks to write (``forbid``) and the arguments a gradient must reach. Only the inputs go to
the kernel (:func:`request`); the kernel sends back the student's answers as plain data
(:mod:`~reglab.course.grading.answers`), and :func:`judge` compares them here. Nothing the notebook does inside
its kernel (a patched ``torch``, ``display``, builtins or checker module) can change a comparison made here.
"""

import contextlib
import importlib.util
import io
import re
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch

from reglab.course.checks import core
from reglab.course.grading import codec
from reglab.course.grading.answers import weighted_gradients

GRADIENT_SEED = 0
"""Seed of the random weights ``w`` of the gradient check: the gradient of ``sum(w · answer)`` is compared."""


@dataclass
class Check:
    """One checker's call of ``run_check``, recorded in the grader's process.

    Attributes:
        title: the banner (``"Exercise 1.2 — backward warping"``).
        cases: the :class:`reglab.course.checks.core.Case` list, expected values included.
        mistakes, diagnose: the checker's hints.
        forbid: the reglab functions the exercise asks to write (objects of the grader's process).
        reference: the right function, for the gradient check (or None).
        gradient: positions of the arguments a gradient must reach.
        names: the arguments' names.
    """

    title: str
    cases: list
    mistakes: list = field(default_factory=list)
    diagnose: list = field(default_factory=list)
    forbid: list = field(default_factory=list)
    reference: object = None
    gradient: list = field(default_factory=list)
    names: list = field(default_factory=list)
    replay: object = None


class _Call:
    """One call a checker that does not use ``run_check`` made to the student's function (a question)."""

    def __init__(self, number, args, kwargs):
        self.description, self.args, self.kwargs, self.expected = f"call {number}", args, kwargs, None


class _Recorded(Exception):
    def __init__(self, check):
        super().__init__(check.title)
        self.check = check


def _record(exercise, student, cases, *, mistakes=(), diagnose=(), reference=None, gradient=(), names=None,
            forbid=(), **ignored):
    import inspect

    names = list(names or (inspect.signature(reference).parameters if reference is not None else ()))
    positions = [names.index(name) for name in gradient if name in names]
    raise _Recorded(Check(exercise, list(cases), list(mistakes), list(diagnose), list(forbid), reference, positions,
                          names))


class _NotHere(Exception):
    """Raised to a checker that calls the student's function while the grader only records its calls."""


def _load(name, path=None, source=None):
    """A private module from a file or a source text, its ``run_check`` replaced by the recorder."""
    if path is not None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = types.ModuleType(name)
        exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    module.run_check = _record
    return module


def _needs_notebook_values(function):
    """True for a checker that takes more than the student's function (values from the notebook)."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) > 1


def checks(lab, *, checks_folder=None, hidden_source=""):
    """``{checker name: [visible Check, hidden Check or None]}`` of lab ``lab``, plus the hidden module's FORBID.

    Args:
        lab: ``"01"``.
        checks_folder: the folder of ``labNN.py`` (default: this reglab's ``reglab/course/checks``).
        hidden_source: the text of ``instructor/hidden/labNN.py`` ("" for none).

    Returns:
        ``(recorder, extra_forbid)``: ``recorder(checker)`` gives ``[visible, hidden]`` (each a :class:`Check` or
        None), ``extra_forbid`` the hidden module's ``FORBID`` dict (checker -> functions).
    """
    folder = Path(checks_folder) if checks_folder else Path(core.__file__).parent
    visible = _load(f"_reglab_grader_lab{lab}", path=folder / f"lab{lab}.py")
    hidden = _load(f"_reglab_grader_hidden{lab}", source=hidden_source) if hidden_source else None
    extra = dict(getattr(hidden, "FORBID", {}) or {})

    def recorder(checker):
        found = []
        for module in (visible, hidden):
            function = getattr(module, checker, None) if module is not None else None
            if function is None or _needs_notebook_values(function):
                found.append(None)            # not gradable here: its inputs would come from the student's kernel
                continue
            calls = []

            def recording(*args, **kwargs):
                calls.append(_Call(len(calls) + 1, args, kwargs))
                raise _NotHere()

            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    function(recording)
            except _Recorded as recorded:
                found.append(recorded.check)
                continue
            except TypeError:             # e.g. a hidden fallback for a checker that takes notebook values
                found.append(None)
                continue
            # a checker of its own kind (a question): the grader replays the student's answers to it
            found.append(Check(f"{checker}", calls, replay=function))
        return found

    return recorder, extra


def function_path(function):
    """``"module:qualname"`` of a reglab function or method, the form the kernel resolves."""
    module = function.__module__
    copy = re.fullmatch(r"_reglab_(?:grader|hidden_copy)_lab(\d+)", module)
    if copy:                                                      # a private copy of a checker module
        module = f"reglab.course.checks.lab{copy.group(1)}"
    return f"{module}:{function.__qualname__}"


def request(check_list, forbid):
    """The plain-data request for one exercise: each case's inputs (no expected values), what to record.

    Returns:
        A dict ``{"cases": [{"args", "kwargs", "grad"}], "forbid": ["module:qualname"], "gradient": [...],
        "seed": GRADIENT_SEED}``; the cases of the visible and the hidden check one after the other.
    """
    cases = []
    gradient = []
    for check in check_list:
        if check is None:
            continue
        gradient = gradient or check.gradient
        for case in check.cases:
            cases.append({"args": codec.encode(tuple(case.args)), "kwargs": codec.encode(dict(case.kwargs)),
                          "grad": bool(check.gradient and check.reference is not None and getattr(case, "grad", True))})
    return {"cases": cases, "forbid": sorted(set(forbid)), "gradient": list(gradient), "seed": GRADIENT_SEED}


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


def public_name(path):
    """``reglab.warp`` style name of ``"module:qualname"`` (the shortest importable in the grader's process)."""
    module, _, qualname = path.partition(":")
    try:
        function = _resolve(path)
        return core.public_name(function) if "." not in qualname else f"{module}.{qualname}"
    except Exception:  # a name that does not resolve here: show it as given
        return f"{module}.{qualname}"


def _resolve(path):
    import importlib

    module, _, qualname = path.partition(":")
    value = importlib.import_module(module)
    for part in qualname.split("."):
        value = getattr(value, part)
    return value


def forbid_paths(check_list, extra):
    """``["module:qualname"]`` of the functions an exercise asks to write: the checkers' ``forbid`` and FORBID."""
    paths = []
    for check in check_list:
        for function in (check.forbid if check is not None else []):
            paths.append(function_path(function))
    for item in extra:
        paths.append(item if isinstance(item, str) else function_path(item))
    return sorted({p for p in paths if not p.startswith("_reglab_grader_hidden")})


__all__ = ["Check", "Verdict", "checks", "forbid_paths", "judge", "public_name", "request", "weighted_gradients"]
