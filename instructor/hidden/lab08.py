"""Hidden tests for Lab 08 — Evaluation (instructors only; not shipped in labs/ or the package).

``reglab grade --lab 08`` records each function here in the grader's process, like the visible checker of the
same name in ``reglab.course.checks.lab08``, and sends only the cases' inputs to the student's kernel; the
expected values stay in the grader. These cases are the visible checker's own kinds (sizes, batches, 2D and 3D,
the same typical mistakes and hints) drawn with **other random seeds**, so an answer tuned to the visible cases'
numbers does not pass them. Add hand-written edge cases the way ``lab01.py`` does; keep the names equal to the
visible checkers'.
"""

import importlib.util
import types

import torch

from reglab.course.checks import core
from reglab.course.checks.core import run_check

OFFSET = 100_003
"""Added to every seed the visible checker uses."""

FORBID = {}
"""Extra reglab functions an exercise asks to write (``module:qualname``), beyond the checkers' ``forbid``."""


class _Generator(torch.Generator):
    def manual_seed(self, seed):
        return super().manual_seed(seed + OFFSET)


class _Torch(types.ModuleType):
    """``torch`` for the checker's copy: the same, but its generators draw other numbers."""

    Generator = _Generator

    def __getattr__(self, name):
        return getattr(torch, name)


def _reseeded(checker, student):
    """Run the visible ``checker`` on a private copy of its module, with other seeds and a hidden title."""
    path = core.__file__.replace("core.py", "lab08.py")
    spec = importlib.util.spec_from_file_location("_reglab_hidden_copy_lab08", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.torch = _Torch("torch")

    def hidden(exercise, function, cases, **options):
        return run_check(f"{exercise} (hidden tests)", function, cases, **options)

    module.run_check = hidden
    return getattr(module, checker)(student)


def check_dice(student):
    """dice: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_dice", student)


def check_hd95(student):
    """hd95: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_hd95", student)


def check_jacobian_determinant(student):
    """jacobian determinant: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_jacobian_determinant", student)


def check_tre(student):
    """tre: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_tre", student)


def __getattr__(name):
    """An exercise added to the visible checkers later gets the same reseeded hidden cases."""
    import importlib

    if name.startswith("check_") and hasattr(importlib.import_module("reglab.course.checks.lab08"), name):
        return lambda student: _reseeded(name, student)
    raise AttributeError(name)
