"""Instructor grading: a folder of submitted notebooks in, a score table and feedback out (for instructors).

::

    reglab grade submissions/ --lab 01 --out grades/ --workers 2 --timeout 60
    python -m reglab.course.grading submissions/ --lab 01          # the same, without the ``reglab`` command

* :mod:`~reglab.course.grading.submissions` - the lab's exercises from nbgrader metadata (:class:`Exercise`,
  :func:`lab_exercises`, :func:`find_lab`) and the submitted notebooks in a folder (:func:`collect_submissions`)
* :mod:`~reglab.course.grading.execute` - running one submission in a fresh kernel in a scratch folder, with
  :class:`Limits` on time, memory and output; the grading cells that call the checkers
* :mod:`~reglab.course.grading.guard` - inside that kernel: resource limits and the audit hook
* :mod:`~reglab.course.grading.scoring` - one submission's grade: :func:`grade_submission`, :class:`Score`,
  :class:`Report`
* :mod:`~reglab.course.grading.report` - ``scores.csv``, ``scores.md`` with the class summary, feedback files
* :mod:`~reglab.course.grading.batch` - :func:`grade`: a whole folder in parallel, step by step
* :mod:`~reglab.course.grading.cli` - ``reglab grade`` (:func:`add_grade_parser`) and ``python -m``
* ``_common.py`` - private helpers shared by two of these files

The checkers it calls are :mod:`reglab.course.checks` and ``instructor/hidden/labNN.py``. This is isolation by
process, scratch folder and limits, **not a security sandbox**: code that is written to escape (ctypes, reading
memory, forking daemons) can. Grade on a machine and an account that hold nothing the students should not see.
See docs/instructors.md.
"""

from reglab.course.grading.batch import grade
from reglab.course.grading.cli import add_grade_arguments, add_grade_parser, main, run_grade
from reglab.course.grading.execute import MIME, Limits
from reglab.course.grading.guard import ALLOWED_PROGRAMS
from reglab.course.grading.report import class_summary, feedback_text, write_tables
from reglab.course.grading.scoring import Report, Score, grade_submission
from reglab.course.grading.submissions import (COURSE, Exercise, collect_submissions, find_lab, lab_exercises,
                                               notebook_lab, relative_name)

__all__ = ["ALLOWED_PROGRAMS", "COURSE", "MIME", "Exercise", "Limits", "Report", "Score", "add_grade_arguments",
           "add_grade_parser", "class_summary", "collect_submissions", "feedback_text", "find_lab", "grade",
           "grade_submission", "lab_exercises", "main", "notebook_lab", "relative_name", "run_grade", "write_tables"]
