"""Instructor grading (being split by concern; the code is in :mod:`reglab.course.grading.scoring` for now)."""

from reglab.course.grading.scoring import (ALLOWED_PROGRAMS, COURSE, MIME, Exercise, Limits, Report, Score, add_grade_arguments, add_grade_parser,
                                    class_summary, collect_submissions, feedback_text, find_lab, grade, grade_submission,
                                    lab_exercises, main, notebook_lab, relative_name, run_grade, write_tables)

__all__ = ["ALLOWED_PROGRAMS", "COURSE", "MIME", "Exercise", "Limits", "Report", "Score", "add_grade_arguments",
           "add_grade_parser", "class_summary", "collect_submissions", "feedback_text", "find_lab", "grade",
           "grade_submission", "lab_exercises", "main", "notebook_lab", "relative_name", "run_grade", "write_tables"]
