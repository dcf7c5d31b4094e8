"""The grader's side of scoring: each exercise's cases recorded from the checkers, sent as plain inputs.

The lab's checkers (``reglab/course/checks/labNN.py``) and the hidden tests (``instructor/hidden/labNN.py``) are
loaded **in the grader's process**, from private copies of their files, with ``run_check`` replaced by a function
that records its arguments instead of calling the student. That gives, per exercise, the cases (inputs and the
expected answers, computed here by reglab's reference implementations), the typical mistakes, the reglab
functions the exercise asks to write (``forbid``) and the arguments a gradient must reach. Only the inputs go to
the kernel (:func:`request`); the kernel sends back the student's answers as plain data
(:mod:`~reglab.course.grading.answers`), and :func:`reglab.course.grading.judging.judge` compares them here.
Nothing the notebook does inside its kernel (a patched ``torch``, ``display``, builtins or checker module) can
change a comparison made here.
"""

import contextlib
import importlib.util
import io
import re
import types
from dataclasses import dataclass, field
from pathlib import Path

from reglab.course.checks import core
from reglab.course.grading import codec

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


__all__ = ["Check", "checks", "forbid_paths", "public_name", "request"]
