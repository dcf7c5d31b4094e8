"""The old path of the exercise checkers, kept for notebooks saved before they moved to :mod:`reglab.course.checks`.

``from reglab.checks import lab01`` and ``import reglab.checks.lab01`` give the very module objects of
:mod:`reglab.course.checks` (registered in ``sys.modules`` under the old names), so an old notebook and a new one
share one checker. New code imports from :mod:`reglab.course.checks`.
"""

import sys

from reglab.course.checks import core, lab00, lab01, lab02, lab03, lab04, lab05, lab06, lab07, lab08

for _module in (core, lab00, lab01, lab02, lab03, lab04, lab05, lab06, lab07, lab08):
    sys.modules[f"reglab.checks.{_module.__name__.rsplit('.', 1)[1]}"] = _module
del _module

__all__ = ["core", "lab00", "lab01", "lab02", "lab03", "lab04", "lab05", "lab06", "lab07", "lab08"]
