"""Hidden tests for Lab 05 — Classical registration (instructors only; not shipped in labs/ or the package).

``reglab grade --lab 05`` records each function here in the grader's process, like the visible checker of the
same name in ``reglab.course.checks.lab05``, and sends only the cases' inputs to the student's kernel; the
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
    path = core.__file__.replace("core.py", "lab05.py")
    spec = importlib.util.spec_from_file_location("_reglab_hidden_copy_lab05", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.torch = _Torch("torch")

    def hidden(exercise, function, cases, **options):
        return run_check(f"{exercise} (hidden tests)", function, cases, **options)

    module.run_check = hidden
    return getattr(module, checker)(student)


def check_rigid_displacement(student):
    """rigid displacement: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_rigid_displacement", student)


def check_rigid_loss(student):
    """rigid loss: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_rigid_loss", student)


def check_register_rigid(student):
    """register rigid: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_register_rigid", student)


def check_downsample(student):
    """downsample: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_downsample", student)


def check_landscape_question(student):
    """landscape question: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_landscape_question", student)


def check_initialization_prediction(student):
    """initialization prediction: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_initialization_prediction", student)


def check_multimodal_bug(student):
    """multimodal bug: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_multimodal_bug", student)


def check_penalty_question(student):
    """penalty question: the visible cases' kinds, drawn with other seeds."""
    return _reseeded("check_penalty_question", student)


def __getattr__(name):
    """An exercise added to the visible checkers later gets the same reseeded hidden cases."""
    import importlib

    if name.startswith("check_") and hasattr(importlib.import_module("reglab.course.checks.lab05"), name):
        return lambda student: _reseeded(name, student)
    raise AttributeError(name)
