"""Exercise checkers: one module per lab, one function per exercise (for the students' notebooks and the grader).

* :mod:`~reglab.course.checks.core` - the framework: :class:`Case`, :func:`run_check` (✓/✗ per case), :func:`same`
* :mod:`~reglab.course.checks.contract` - the checks of one answer: values, forbidden calls, inputs, gradients
* :mod:`~reglab.course.checks.questions` - the checkers of question exercises (a letter, a choice, a number in a range)
* :mod:`~reglab.course.checks.reseeded` - hidden tests drawn like the visible ones, with other seeds (for the grader)
* :mod:`~reglab.course.checks.lab00` - Lab 00, why unsupervised learning and what registration needs
* :mod:`~reglab.course.checks.lab01` - Lab 01, how to transform images
* :mod:`~reglab.course.checks.lab02` - Lab 02, transformation models
* :mod:`~reglab.course.checks.lab03` - Lab 03, similarity measures
* :mod:`~reglab.course.checks.lab04` - Lab 04, regularization
* :mod:`~reglab.course.checks.lab05` - Lab 05, classical registration
* :mod:`~reglab.course.checks.lab06` - Lab 06, learning-based registration
* :mod:`~reglab.course.checks.lab07` - Lab 07, architectures
* :mod:`~reglab.course.checks.lab08` - Lab 08, evaluation

A notebook imports its lab's module (``from reglab.course.checks import lab01``) and calls one checker per
exercise (``lab01.check_warp(warp)``). Each checker calls the student's function on several cases (2D and 3D,
batch > 1, odd and non-square sizes), compares with reglab's own implementation, prints ✓/✗ per case and, on a
failure, a hint that teaches the concept. An untouched stub prints "not implemented yet" instead of a traceback.
``reglab grade`` loads the same files (and ``instructor/hidden/labNN.py``) to score submissions.
The lab modules are imported on first use, so a notebook loads only its own.
"""

from reglab.course.checks.core import Case, Result, run_check, same

__all__ = ["Case", "Result", "run_check", "same"]
