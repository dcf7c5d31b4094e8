"""The class summary of the tables."""

from reglab.course import grading
from reglab.course.grading import Exercise, Report, Score


def test_class_summary_picks_the_most_common_failure_deterministically():
    e = Exercise("k", "1.1", "t", "f", "check_f", 2.0)

    def report(name, kind):
        return Report(name, f"{name}.ipynb", "graded", [], {"k": Score(0.0, 2.0, not kind, kind, kind)})
    reports = [report("a", "timed out"), report("b", "not implemented"), report("c", ""), report("d", "timed out"),
               report("e", "not implemented")]
    assert grading.class_summary(reports, [e]) == [(e, 1, 5, "not implemented (2)")]
    assert grading.class_summary(reports[::-1], [e]) == [(e, 1, 5, "not implemented (2)")]
