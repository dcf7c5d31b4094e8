"""Hidden tests drawn like the visible ones: a lab's checkers run again with other random seeds.

``instructor/hidden/labNN.py`` (instructors only; not shipped) may hold hand-written cases, as Lab 01's does, or
ask for the visible checkers' own kinds of cases (sizes, batches, 2D and 3D, the same mistakes and hints) drawn
with other seeds, so that an answer tuned to the visible cases' numbers does not pass them::

    from reglab.course.checks.core import run_check
    from reglab.course.checks.reseeded import reseeded_checks

    OFFSET = 100_003          # added to every seed the visible checker uses
    FORBID = {}               # extra reglab functions an exercise asks to write, beyond the checkers' ``forbid``
    __getattr__ = reseeded_checks("03", OFFSET, globals())

Every ``check_xxx`` of ``reglab.course.checks.lab03`` is then a hidden check of the same name. Each call runs the
checker on a private copy of its module whose ``torch.Generator`` adds ``OFFSET`` to every seed, and whose
``run_check`` is the hidden module's own (looked up at call time, so ``reglab grade`` can record the cases in its
process instead of running them).
"""

import importlib
import importlib.util
import types

import torch

from reglab.course.checks import core


def _reseeded_torch(offset):
    """``torch`` as the checker's copy sees it: the same, but its generators draw other numbers."""

    class Generator(torch.Generator):
        def manual_seed(self, seed):
            return super().manual_seed(seed + offset)

    class Torch(types.ModuleType):
        def __getattr__(self, name):
            return getattr(torch, name)

    module = Torch("torch")
    module.Generator = Generator
    return module


def reseeded_checks(lab, offset, namespace):
    """A module ``__getattr__`` giving, for each visible ``check_xxx`` of lab ``lab``, its reseeded hidden check.

    Args:
        lab: ``"03"``.
        offset: added to every seed the visible checker uses.
        namespace: the hidden module's ``globals()``; its ``run_check`` reports the cases (as "(hidden tests)").

    Returns:
        ``__getattr__(name)`` for the hidden module: a function ``check(student)`` for a checker of the lab,
        AttributeError for any other name.
    """
    def run(checker, student):
        path = core.__file__.replace("core.py", f"lab{lab}.py")
        spec = importlib.util.spec_from_file_location(f"_reglab_hidden_copy_lab{lab}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.torch = _reseeded_torch(offset)

        def hidden(exercise, function, cases, **options):
            return namespace["run_check"](f"{exercise} (hidden tests)", function, cases, **options)

        module.run_check = hidden
        return getattr(module, checker)(student)

    def hidden_check(name):
        if name.startswith("check_") and hasattr(importlib.import_module(f"reglab.course.checks.lab{lab}"), name):
            def check(student):
                return run(name, student)

            check.__name__ = check.__qualname__ = name
            check.__doc__ = f"{name}: the visible cases' kinds, drawn with other seeds."
            return check
        raise AttributeError(name)

    return hidden_check
