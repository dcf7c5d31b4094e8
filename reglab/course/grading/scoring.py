"""One submission's grade: read and check the notebook, execute it, turn the checkers' results into points.

A notebook that is not valid JSON, not a notebook, or another lab's notebook gets a row with that reason and no
kernel is started. Otherwise an exercise scores its points when every visible and hidden case passes
(``partial``: in proportion to the cases passed); what went wrong while running (exceptions, timeouts, blocked
actions, a dead kernel) becomes one note each.

It is a little longer than ~300 lines because it is one thing, one submission's grade, and reads top to bottom:
the :class:`Score` and :class:`Report` it returns, an exercise's points from its verdicts (:func:`_score`), the
notes of the run (:func:`_grade_results`), then :func:`grade_submission`, which reads, executes and scores.
"""

import difflib
import json
import os
import re
import stat
import tempfile
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from reglab.course.grading._common import _short
from reglab.course.grading.answers import MIME
from reglab.course.grading.execute import Limits, _execute
from reglab.course.grading.judging import judge
from reglab.course.grading.submissions import notebook_lab

MAX_NOTEBOOK = 64 * 1024 ** 2
"""Bytes of a submitted notebook; a larger file is not run."""


@dataclass
class Score:
    """The grade of one exercise of one submission.

    Attributes:
        points, max_points: points scored and possible.
        passed: every visible and hidden case passed.
        reason: one line (``"passed: 4 + 3 hidden cases"``, ``"timed out after 60 s: an endless loop?"``).
        kind: the failure's category for the class summary (``""`` when passed).
        messages: the checkers' lines, for the feedback file.
    """

    points: float
    max_points: float
    passed: bool
    reason: str
    kind: str = ""
    messages: list = field(default_factory=list)


@dataclass
class Report:
    """The grade of one submission.

    Attributes:
        student: the student's name (the file name, or its folder when the file has the lab's name).
        path: the submitted file, relative to the submissions folder.
        status: ``"graded"`` or why it was not (``"invalid JSON"``, ``"another lab"``, ...).
        notes: what went wrong while running it (exceptions, timeouts, blocked actions), one line each.
        scores: exercise key -> :class:`Score`.
    """

    student: str
    path: str
    status: str
    notes: list
    scores: dict

    @property
    def total(self):
        return round(sum(score.points for score in self.scores.values()), 2)


def _sanitize(text, scratch):
    if str(scratch):                                   # "" would put <scratch> between every two characters
        text = text.replace(str(scratch), "<scratch>")
    text = re.sub(r"0x[0-9a-fA-F]{6,}", "0x…", text)
    return re.sub(r"\s+", " ", text).strip()


def _first_failure(messages):
    """``(reason, kind)`` of the first ✗ line of a check and its hint."""
    for i, line in enumerate(messages):
        if line.strip().startswith("✗"):
            problem = line.strip()[1:].strip()
            following = messages[i + 1].strip() if i + 1 < len(messages) else ""
            hint = following[1:].strip() if following.startswith("→") else ""
            kind = hint or re.sub(r"[-+]?\d[\d.eE+-]*", "N", problem.split(": ", 1)[-1])
            return (f"{problem} → {hint}" if hint else problem), kind
    return "", "wrong answer"


def _score(exercise, result, checks, *, partial):
    """A :class:`Score` from the kernel's answers, judged here against the grader's own expected values."""
    points = exercise.points
    status = result.get("status")
    if status == "missing":
        defined = [str(name) for name in result.get("defined", []) if isinstance(name, str)]
        close = difflib.get_close_matches(exercise.function, defined, n=1, cutoff=0.5)
        found = f"; found `{_short(close[0], 40)}`" if close else ""
        return Score(0.0, points, False, f"function `{exercise.function}` is missing (renamed or deleted?{found})",
                     "function missing or renamed")
    if status != "answered" or not isinstance(result.get("answers"), list):
        error = _sanitize(str(result.get("error", "no answers")), "")[:200]
        return Score(0.0, points, False, f"could not call `{exercise.argument or exercise.function}`: {error}",
                     "could not be called")
    visible, hidden = checks
    if visible is None:                                  # the lab and its checker module disagree: tell the instructor
        return Score(0.0, points, False, f"not graded: the checker `{exercise.checker}` was not found, or it takes "
                     f"values from the notebook (the grader sends a checker's inputs itself)", "not graded")
    answers = [a if isinstance(a, dict) else {} for a in result["answers"]]
    verdicts = [judge(visible, answers[:len(visible.cases)])]
    if hidden is not None:
        verdicts.append(judge(hidden, answers[len(visible.cases):len(visible.cases) + len(hidden.cases)]))
    messages = list(verdicts[0].messages)
    if hidden is not None:
        messages += ["Hidden tests:"] + verdicts[1].messages[1:]
    called = sorted({name for verdict in verdicts for name in verdict.called})
    if called:
        return Score(0.0, points, False, f"calls {', '.join(called)}: the exercise asks you to write it",
                     "calls reglab's own implementation", messages)
    if not all(verdict.implemented for verdict in verdicts):
        return Score(0.0, points, False, "not implemented (the stub is still there)", "not implemented", messages)
    passed = sum(verdict.passed for verdict in verdicts)
    total = sum(verdict.total for verdict in verdicts)
    if passed == total:
        cases = f"{verdicts[0].total} cases" + (f" + {verdicts[1].total} hidden" if hidden is not None else "")
        return Score(points, points, True, f"passed: {cases}", "", messages)
    earned = round(points * passed / total, 2) if partial and total else 0.0
    where = verdicts[0] if verdicts[0].passed < verdicts[0].total else verdicts[1]
    label = "" if where is verdicts[0] else "hidden tests: "
    reason, kind = _first_failure(where.messages)
    return Score(earned, points, False, f"{passed} of {total} cases passed; {label}{reason}", kind, messages)


def _grade_results(exercises, checks, notebook, client, state, first_grading, guard, work, limits, *, token, partial):
    notes = []

    def where(index):
        if index >= first_grading:
            return "a grading cell"
        lines = notebook.cells[index].source.strip().splitlines() or [""]
        return f"cell {state['numbers'][index]} (`{_short(lines[0].strip(), 30)}`)"

    for index, cell in enumerate(notebook.cells[:first_grading]):
        if cell.cell_type != "code":
            continue
        if index in client.timed_out:
            notes.append(f"{where(index)} timed out after {client.budgets.get(index)} s (an endless loop?)")
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename, evalue = output.get("ename", ""), _sanitize(str(output.get("evalue", "")), work)
                if ename in ("MemoryError",) or "can't allocate memory" in evalue:
                    notes.append(f"{where(index)} ran out of memory (limit {limits.memory} MB)")
                else:
                    notes.append(_short(f"{where(index)} raised {ename}: {evalue}", 200))
                break
    if client.output_cut is not None:
        notes.append(f"output over {limits.output:g} MB, cut from {where(client.output_cut)} (huge output)")
    if state["skipped"] is not None:
        notes.append(f"notebook time limit ({limits.notebook:g} s) reached: cells from "
                     f"{state['numbers'][state['skipped']]} on were not run")
    blocked = [line for line in guard if not line.startswith("note: ")]
    for line in sorted(set(blocked), key=blocked.index)[:5]:       # the kernel's own report: it can be switched off
        notes.append(_short("attempted and blocked (audit hook in the kernel): " + _sanitize(line, work), 200))
    if state.get("left"):
        notes.append(f"left {state['left']} process(es) running after its cells (the grader killed them)")
    if state.get("limits", {}).get("memory"):
        notes.append(f"hit the memory limit of its process tree ({limits.memory} MB)")
    if state.get("limits", {}).get("pids"):
        notes.append(f"hit the limit of {limits.processes} processes and threads")
    if state["dead"] is not None:
        why = "stopped after ignoring the time limit" if state["killed"] else "died (memory limit or a crash?)"
        notes.append(f"the kernel {why} in {where(state['dead'])}")

    scores = {}
    for offset, exercise in enumerate(exercises):
        index = first_grading + 1 + offset
        cell = notebook.cells[index]
        result = None
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get(MIME) if isinstance(output.get("data"), dict) else None
            if isinstance(data, dict) and data.get("token") == token and data.get("key") == exercise.key:
                result = data
        if result is not None:
            scores[exercise.key] = _score(exercise, result, checks[exercise.key], partial=partial)
        elif index in client.timed_out:
            scores[exercise.key] = Score(0.0, exercise.points, False,
                                         f"timed out after {int(limits.cell)} s (an endless loop?)", "timed out")
        elif state["dead"] is not None and state["dead"] <= index:
            scores[exercise.key] = Score(0.0, exercise.points, False, "not graded: the kernel stopped",
                                         "the kernel stopped")
        else:
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            why = (f"{errors[0].get('ename')}: {_sanitize(str(errors[0].get('evalue', '')), work)}"[:150]
                   if errors else "no result")
            scores[exercise.key] = Score(0.0, exercise.points, False, f"not graded: {why}", "not graded")
    return notes, scores


def _failed_report(student, path, status, exercises, reason):
    scores = {e.key: Score(0.0, e.points, False, reason, status) for e in exercises}
    return Report(student, path, status, [reason], scores)


def _read_submission(path):
    """The bytes of a submitted file: a regular file, not a link, at most :data:`MAX_NOTEBOOK` bytes."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_NOTEBOOK:
            raise ValueError(f"larger than {MAX_NOTEBOOK // 1024 ** 2} MB")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read(MAX_NOTEBOOK + 1)
    finally:
        os.close(fd)


def grade_submission(path, exercises, *, lab, student=None, run=None, limits=Limits(), hidden_source="",
                     partial=False, relative=None):
    """Grade one submitted notebook: read it, execute it in an isolated kernel, judge each exercise here.

    Args:
        path: the submitted ``.ipynb``.
        exercises: the lab's :class:`Exercise` list (:func:`lab_exercises`).
        lab: the lab's number (``"01"``); a notebook of another lab is not run.
        student: the name in the table (default: the file's stem).
        run: the :class:`reglab.course.grading.workspace.Run` (default: one prepared for this call and removed).
        limits: :class:`Limits`.
        hidden_source: the source of the hidden tests module, when ``run`` is not given.
        partial: score in proportion to the cases passed.
        relative: the file's name in the table (default: its name).

    Returns:
        ``(Report, executed notebook or None)``; never raises for a bad submission.

    Example:
        >>> import tempfile
        >>> from reglab.course.grading.submissions import find_lab, lab_exercises
        >>> lab = json.loads(find_lab(1).read_text(encoding="utf-8"))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     bad = Path(folder) / "bob.ipynb"
        ...     _ = bad.write_text('{"cells": [', encoding="utf-8")
        ...     report, _ = grade_submission(bad, lab_exercises(lab), lab="01")
        >>> report.status, report.total, report.notes
        ('invalid JSON', 0.0, ['invalid JSON: Expecting value: line 1 column 12 (char 11)'])
    """
    import nbformat

    from reglab.course.grading import workspace

    path = Path(path)
    student = student or path.stem
    relative = relative or path.name
    lab = f"{int(lab):02d}"
    try:
        data = _read_submission(path)
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return _failed_report(student, relative, "invalid JSON", exercises, f"invalid JSON: {error}"), None
    except ValueError as error:
        return _failed_report(student, relative, "not run", exercises, f"not run: {error}"), None
    except OSError as error:
        why = "a symbolic link" if getattr(error, "errno", None) == 40 else error.strerror
        return _failed_report(student, relative, "unreadable", exercises, f"unreadable: {why}"), None
    try:
        with warnings.catch_warnings():                    # old notebooks have no cell ids: fine for grading
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
            raise ValueError("no list of cells")
    except Exception as error:  # nbformat raises several kinds for a JSON file that is not a notebook
        reason = re.sub(r"\s+", " ", str(error)).strip()[:120]
        return (_failed_report(student, relative, "not a notebook", exercises, f"not a Jupyter notebook: {reason}"),
                None)
    found = notebook_lab(notebook)
    if found is not None and found != lab:
        return _failed_report(student, relative, "another lab", exercises,
                              f"another lab's notebook: this is Lab {found}, expected Lab {lab}"), None

    owned = run is None
    run = workspace.prepare(lab, exercises, hidden_source=hidden_source) if owned else run
    folder = Path(tempfile.mkdtemp(prefix="s", dir=run.scratch))
    token = uuid.uuid4().hex                                  # results are read only from our grading cells
    try:
        client, state, first_grading, guard = _execute(
            notebook, exercises, run.requests, folder=folder, lib=run.lib, warm=run.warm, limits=limits,
            isolation=run.isolation, uid=run.next_uid(), token=token)
        notes, scores = _grade_results(exercises, run.checks, notebook, client, state, first_grading, guard,
                                       folder, limits, token=token, partial=partial)
        notebook.cells = notebook.cells[:first_grading]
        return Report(student, relative, "graded", notes, scores), notebook
    except Exception as error:  # the grader must go on with the next submission whatever happened here
        reason = _sanitize(f"could not run the notebook: {type(error).__name__}: {error}", folder)[:200]
        return _failed_report(student, relative, "not run", exercises, reason), None
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        if owned:
            run.close()
