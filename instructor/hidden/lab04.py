"""Hidden tests for Lab 04 — Regularization (instructors only; not shipped in labs/ or the package).

``reglab grade --lab 04`` records each hidden check in the grader's process and sends only the cases' inputs to the
student's kernel; the expected values stay in the grader. The checks are the visible checkers of
``reglab.course.checks.lab04`` with other random seeds (:mod:`reglab.course.checks.reseeded`). Add hand-written edge
cases the way ``lab01.py`` does, as functions named like the visible checkers.
"""

from reglab.course.checks.core import run_check  # noqa: F401  (reglab grade swaps it to record the cases)
from reglab.course.checks.reseeded import reseeded_checks

OFFSET = 100_003
"""Added to every seed the visible checker uses."""

FORBID = {}
"""Extra reglab functions an exercise asks to write (``module:qualname``), beyond the checkers' ``forbid``."""

__getattr__ = reseeded_checks("04", OFFSET, globals())
