"""The tables and the feedback: ``scores.csv``, ``scores.md`` (with the class summary), ``feedback/<name>.md``.

``scores.csv`` and ``scores.md`` have one row per submitted file and per exercise the points, pass/fail and a
one-line reason; the class summary says per exercise how many passed and the most common failure. Each feedback
file has the student's total, what went wrong while running, and the grader's ✓/✗ lines.

The output folder is the grader's alone (:func:`prepare_out`: fresh or emptied, mode 0700) and every file is
written atomically through a new temporary file opened with ``O_EXCL | O_NOFOLLOW`` (:func:`write_file`), so a
link, a FIFO or a folder planted under an output's name is replaced, never followed.
"""

import csv
import io
import os
import stat
from collections import Counter
from pathlib import Path

from reglab.course.grading._common import _file_name, _markdown, _short, _spreadsheet

OUTPUTS = ("scores.csv", "scores.md", "feedback", "executed", "isolation.txt")
"""What ``reglab grade`` writes in its output folder (an existing folder may hold only these)."""


def prepare_out(out):
    """Make ``out`` the grader's own: created fresh (0700), or emptied when it holds only a previous run's output.

    Raises:
        ValueError: ``out`` is a link or not a folder, or holds anything else (nothing is deleted then).
    """
    import shutil

    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ValueError(f"prepare_out(): expected a folder for the output, got {out} (a link or a file)")
    if out.exists():
        others = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
        if others:
            raise ValueError(f"prepare_out(): expected an empty output folder or one with a previous run's "
                             f"scores only, got {out} holding {', '.join(others[:3])}")
        for entry in out.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    else:
        out.mkdir(parents=True)
    os.chmod(out, 0o700)
    return out


def write_file(folder, name, text):
    """Write ``text`` to ``folder/name`` atomically: a new temporary file (``O_EXCL | O_NOFOLLOW``), then rename.

    Whatever was at ``folder/name`` (a link, a FIFO, a file) is replaced, never followed or opened.
    """
    folder = Path(folder)
    data = text.encode("utf-8") if isinstance(text, str) else text
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    temporary = folder / f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        target = folder / name
        if target.is_dir() and not target.is_symlink():      # a folder planted under the name: out of the way
            import shutil

            shutil.rmtree(target)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _private_folder(folder):
    """``folder`` as a fresh private directory (a link or file of that name is removed first)."""
    folder = Path(folder)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()
    folder.mkdir(mode=0o700, exist_ok=True)
    if not stat.S_ISDIR(os.lstat(folder).st_mode):
        raise ValueError(f"_private_folder(): expected a folder, got {folder}")
    return folder


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


def column_labels(exercises):
    """Each exercise's label in the CSV header: its number (``1.2``), with the function when two share it.

    Example:
        >>> from reglab.course.grading import Exercise
        >>> column_labels([Exercise("a", "1.2", "", "warp", "c", 1.0), Exercise("b", "1.2", "", "turn", "d", 1.0),
        ...                Exercise("c", "1.3", "", "compose", "e", 1.0)])
        ['1.2 warp', '1.2 turn', '1.3']
    """
    numbers = Counter(e.number for e in exercises)
    return [e.number if numbers[e.number] == 1 else f"{e.number} {e.function}" for e in exercises]


def write_tables(reports, exercises, out, *, lab, executed=None, isolation=()):
    """Write ``scores.csv``, ``scores.md``, ``feedback/<name>.md`` (and ``executed/<name>.ipynb``) in ``out``.

    Each file is written atomically (:func:`write_file`); names come from ``_file_name`` (collision-free, at
    most 69 characters); Markdown cells are escaped and CSV cells neutralised (a leading ``= + - @``).

    Args:
        executed: student -> the executed notebook's text (optional).
        isolation: lines saying which isolation held (written to ``isolation.txt`` and ``scores.md``).
    """
    out = Path(out)
    maximum = sum(e.points for e in exercises)
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    header = ["student", "file", "status", "total", "max"]
    for label in column_labels(exercises):
        header += [f"{label} points", f"{label} passed", f"{label} reason"]
    writer.writerow(header + ["notes"])
    for report in reports:
        row = [report.student, report.path, report.status, f"{report.total:g}", f"{maximum:g}"]
        for e in exercises:
            score = report.scores[e.key]
            row += [f"{score.points:g}", "yes" if score.passed else "no", score.reason]
        writer.writerow([_spreadsheet(cell) for cell in row + ["; ".join(report.notes)]])
    write_file(out, "scores.csv", stream.getvalue())

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
        lines.append(f"| {_markdown(report.student)} | {report.total:g} | "
                     + " | ".join(_markdown(c) for c in cells) + " | " + _markdown(notes) + " |")
    lines += ["", "## Class summary", "", "| exercise | passed | most common failure |", "|---|---:|---|"]
    for exercise, passed, total, common in class_summary(reports, exercises):
        lines.append(f"| {exercise.number} {_markdown(exercise.title)} | {passed} of {total} | {_markdown(common)} |")
    if isolation:
        lines += ["", "## Isolation of the kernels", ""] + [f"- {line}" for line in isolation]
        write_file(out, "isolation.txt", "\n".join(isolation) + "\n")
    write_file(out, "scores.md", "\n".join(lines) + "\n")

    feedback = _private_folder(out / "feedback")
    for report in reports:
        write_file(feedback, f"{_file_name(report.student)}.md", feedback_text(report, exercises, lab=lab))
    if executed:
        folder = _private_folder(out / "executed")
        for student, text in executed.items():
            write_file(folder, f"{_file_name(student)}.ipynb", text)


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
    lines = [f"# Lab {lab} — feedback for {_markdown(report.student)}", "",
             f"**{report.total:g} of {maximum:g} points.**", ""]
    if report.notes:
        lines += ["While running your notebook:", ""] + [f"- {_markdown(note)}" for note in report.notes] + [""]
    for e in exercises:
        score = report.scores[e.key]
        lines += [f"## Exercise {e.number} — {e.title}: {score.points:g} of {score.max_points:g} "
                  f"{'✓' if score.passed else '✗'}", "", score.reason, ""]
        if score.messages:
            lines += ["```"] + [str(line).replace("```", "` ` `") for line in score.messages] + ["```", ""]
    return "\n".join(lines)
