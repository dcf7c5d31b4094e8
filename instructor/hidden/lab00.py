"""Hidden tests for Lab 00 — Why registration, and what it needs (instructors only; not in labs/ or the package).

``reglab grade --lab 00`` records each function here in the grader's process, like the visible checker of the
same name in ``reglab.course.checks.lab00``, and sends only the cases' inputs to the student's kernel; the
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
    path = core.__file__.replace("core.py", "lab00.py")
    spec = importlib.util.spec_from_file_location("_reglab_hidden_copy_lab00", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.torch = _Torch("torch")

    def hidden(exercise, function, cases, **options):
        return run_check(f"{exercise} (hidden tests)", function, cases, **options)

    module.run_check = hidden
    return getattr(module, checker)(student)


def check_bounding_box(student):
    """bounding box: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_bounding_box", student)


def check_surface_points(student):
    """surface points: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_surface_points", student)


def check_kmeans(student):
    """kmeans: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_kmeans", student)


def check_objective(student):
    """objective: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_objective", student)


def check_which_way(student):
    """which way: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_which_way", student)


def check_same_penalty(student):
    """same penalty: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_same_penalty", student)


def __getattr__(name):
    """An exercise added to the visible checkers later gets the same reseeded hidden cases."""
    import importlib

    if name.startswith("check_") and hasattr(importlib.import_module("reglab.course.checks.lab00"), name):
        return lambda student: _reseeded(name, student)
    raise AttributeError(name)
