"""The old path of instructor grading, kept so that ``from reglab.grading import grade`` and
``python -m reglab.grading SUBMISSIONS --lab NN`` go on working; the code is in :mod:`reglab.course.grading`.
"""

import sys

from reglab.course.grading import (ALLOWED_PROGRAMS, COURSE, MIME, Exercise, Limits, Report, Score, add_grade_arguments,
                                   add_grade_parser, class_summary, collect_submissions, feedback_text, find_lab, grade,
                                   grade_submission, lab_exercises, main, notebook_lab, relative_name, run_grade,
                                   write_tables)

__all__ = ["ALLOWED_PROGRAMS", "COURSE", "MIME", "Exercise", "Limits", "Report", "Score", "add_grade_arguments",
           "add_grade_parser", "class_summary", "collect_submissions", "feedback_text", "find_lab", "grade",
           "grade_submission", "lab_exercises", "main", "notebook_lab", "relative_name", "run_grade", "write_tables"]

if __name__ == "__main__":
    sys.exit(main())
