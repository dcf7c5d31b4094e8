"""Instructor grading: a folder of submitted notebooks in, a score table and feedback out (for instructors).

::

    reglab grade submissions/ --lab 01 --out grades/ --workers 2 --timeout 60
    python -m reglab.course.grading submissions/ --lab 01          # the same, without the ``reglab`` command

* :mod:`~reglab.course.grading.submissions` - the lab's exercises from nbgrader metadata (:class:`Exercise`,
  :func:`lab_exercises`, :func:`find_lab`) and the submitted notebooks in a folder (:func:`collect_submissions`)
* :mod:`~reglab.course.grading.workspace` - what a run prepares: a private read-only copy of reglab, the cases,
  hashes of the course files
* :mod:`~reglab.course.grading.cases` - in the grader: each exercise's cases (expected values computed here);
  :mod:`~reglab.course.grading.judging` - the comparison of the student's answers with them;
  :mod:`~reglab.course.grading.codec` - answers as plain JSON data
* :mod:`~reglab.course.grading.sandbox` - a private user, bubblewrap, cgroups where they work; killing everything
* :mod:`~reglab.course.grading.execute` - running one submission in a fresh kernel with :class:`Limits`;
  :mod:`~reglab.course.grading.launch` - starting that kernel inside the isolation, and stopping all it started
* :mod:`~reglab.course.grading.answers`, :mod:`~reglab.course.grading.guard` - inside that kernel: the answers to
  the grader's inputs; resource limits and the audit hook
* :mod:`~reglab.course.grading.scoring` - one submission's grade: :func:`grade_submission`, :class:`Score`,
  :class:`Report`
* :mod:`~reglab.course.grading.report` - ``scores.csv``, ``scores.md`` with the class summary, feedback files
* :mod:`~reglab.course.grading.batch` - :func:`grade`: a whole folder in parallel, step by step
* :mod:`~reglab.course.grading.cli` - ``reglab grade`` (:func:`add_grade_parser`) and ``python -m``
* ``_common.py`` - private helpers shared by two of these files

Scores are computed in the grader's process from the students' answers (plain data), against expected values
computed by reglab here: nothing a notebook does in its kernel changes how it is compared. The kernels are
isolated as far as the machine allows (``isolation.txt`` in the output says what held); on Linux as root with
bubblewrap they see no network, no checkout, no other submission and no output folder. See docs/instructors.md.
"""

from reglab.course.grading.answers import MIME
from reglab.course.grading.batch import CourseFilesChanged, grade
from reglab.course.grading.cli import add_grade_arguments, add_grade_parser, main, run_grade
from reglab.course.grading.execute import Limits
from reglab.course.grading.guard import ALLOWED_PROGRAMS
from reglab.course.grading.report import class_summary, feedback_text, prepare_out, write_tables
from reglab.course.grading.sandbox import Isolation, detect
from reglab.course.grading.scoring import Report, Score, grade_submission
from reglab.course.grading.submissions import (COURSE, Exercise, collect_submissions, find_lab, find_submissions,
                                               lab_exercises, notebook_lab, relative_name)

__all__ = ["ALLOWED_PROGRAMS", "COURSE", "MIME", "CourseFilesChanged", "Exercise", "Isolation", "Limits", "Report",
           "Score", "add_grade_arguments", "add_grade_parser", "class_summary", "collect_submissions", "detect",
           "feedback_text", "find_lab", "find_submissions", "grade", "grade_submission", "lab_exercises", "main",
           "notebook_lab", "prepare_out", "relative_name", "run_grade", "write_tables"]
