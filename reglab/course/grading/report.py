"""The tables and the feedback: ``scores.csv``, ``scores.md`` (with the class summary), ``feedback/<student>.md``.

``scores.csv`` and ``scores.md`` have one row per student and per exercise the points, pass/fail and a one-line
reason; the class summary says per exercise how many passed and the most common failure. Each feedback file has
the student's total, what went wrong while running, and the checkers' messages.
"""

import csv
from collections import Counter
from pathlib import Path

from reglab.course.grading._common import _file_name, _short


def class_summary(reports, exercises):
    """Per exercise: ``(exercise, passed, submissions, most common failure or "")``, deterministic.

    Example:
        >>> from reglab.course.grading import Exercise, Report, Score
        >>> e = Exercise("ex1_1_check", "1.1", "grid", "identity_grid", "check_identity_grid", 1.0)
        >>> fail = lambda kind: Report("s", "s.ipynb", "graded", [], {e.key: Score(0, 1, False, kind, kind)})
        >>> [row[1:] for row in class_summary([fail("not implemented"), fail("timed out"), fail("timed out")], [e])]
        [(0, 3, 'timed out (2)')]
    """
    rows = []
    for exercise in exercises:
        scores = [report.scores[exercise.key] for report in reports]
        kinds = Counter(report.scores[exercise.key].kind for report in reports
                        if report.status == "graded" and not report.scores[exercise.key].passed)
        common = ""
        if kinds:
            kind, count = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))[0]
            common = f"{kind} ({count})"
        rows.append((exercise, sum(score.passed for score in scores), len(scores), common))
    return rows


def write_tables(reports, exercises, out, *, lab):
    """Write ``scores.csv``, ``scores.md`` and ``feedback/<student>.md`` in ``out``."""
    out = Path(out)
    maximum = sum(e.points for e in exercises)
    with open(out / "scores.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        header = ["student", "file", "status", "total", "max"]
        for e in exercises:
            header += [f"{e.number} points", f"{e.number} passed", f"{e.number} reason"]
        writer.writerow(header + ["notes"])
        for report in reports:
            row = [report.student, report.path, report.status, f"{report.total:g}", f"{maximum:g}"]
            for e in exercises:
                score = report.scores[e.key]
                row += [f"{score.points:g}", "yes" if score.passed else "no", score.reason]
            writer.writerow(row + ["; ".join(report.notes)])

    lines = [f"# Lab {lab} — scores", "", f"{len(reports)} submissions, {len(exercises)} exercises, "
             f"{maximum:g} points.", ""]
    lines.append("| student | total | " + " | ".join(f"{e.number} `{e.function}` ({e.points:g})" for e in exercises)
                 + " | notes |")
    lines.append("|---|---:|" + "---|" * len(exercises) + "---|")
    for report in reports:
        cells = []
        for e in exercises:
            score = report.scores[e.key]
            mark = "✓" if score.passed else "✗"
            if report.status != "graded":
                cells.append("–")
                continue
            cells.append(f"{score.points:g} {mark}" + ("" if score.passed else f" {_short(score.reason)}"))
        notes = _short("; ".join(report.notes), 80) if report.notes else ""
        lines.append(f"| {report.student} | {report.total:g} | " + " | ".join(c.replace("|", "\\|") for c in cells)
                     + " | " + notes.replace("|", "\\|") + " |")
    lines += ["", "## Class summary", "", "| exercise | passed | most common failure |", "|---|---:|---|"]
    for exercise, passed, total, common in class_summary(reports, exercises):
        common = common.replace("|", "\\|")
        lines.append(f"| {exercise.number} {exercise.title} | {passed} of {total} | {common} |")
    (out / "scores.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for report in reports:
        (feedback / f"{_file_name(report.student)}.md").write_text(feedback_text(report, exercises, lab=lab),
                                                                   encoding="utf-8")


def feedback_text(report, exercises, *, lab):
    """The Markdown feedback of one student: total, what went wrong while running, each exercise's messages.

    Example:
        >>> from reglab.course.grading import Exercise, Report, Score
        >>> e = Exercise("ex1_1_check", "1.1", "the identity grid", "identity_grid", "check_identity_grid", 1.0)
        >>> score = Score(1.0, 1.0, True, "passed: 5 cases", "", ["  ✓ 2D"])
        >>> r = Report("ana", "ana.ipynb", "graded", [], {e.key: score})
        >>> print(feedback_text(r, [e], lab="01"))
        # Lab 01 — feedback for ana
        <BLANKLINE>
        **1 of 1 points.**
        <BLANKLINE>
        ## Exercise 1.1 — the identity grid: 1 of 1 ✓
        <BLANKLINE>
        passed: 5 cases
        <BLANKLINE>
        ```
          ✓ 2D
        ```
        <BLANKLINE>
    """
    maximum = sum(e.points for e in exercises)
    lines = [f"# Lab {lab} — feedback for {report.student}", "", f"**{report.total:g} of {maximum:g} points.**", ""]
    if report.notes:
        lines += ["While running your notebook:", ""] + [f"- {note}" for note in report.notes] + [""]
    for e in exercises:
        score = report.scores[e.key]
        lines += [f"## Exercise {e.number} — {e.title}: {score.points:g} of {score.max_points:g} "
                  f"{'✓' if score.passed else '✗'}", "", score.reason, ""]
        if score.messages:
            lines += ["```"] + [str(line) for line in score.messages] + ["```", ""]
    return "\n".join(lines)
