"""Grading a folder: every submission of one lab, in parallel, then the tables and the feedback.

For every submitted notebook of lab ``NN`` (:mod:`~reglab.course.grading.submissions`):

1. read it; invalid JSON, a file that is not a notebook, or the notebook of another lab gets a row with that
   reason and no kernel is started (:mod:`~reglab.course.grading.scoring`);
2. copy it into a scratch folder of its own and execute it there in a fresh kernel, on the CPU, with a time
   limit per cell and per notebook, a memory limit, a cap on the output, and an audit hook
   (:mod:`~reglab.course.grading.execute`, :mod:`~reglab.course.grading.guard`);
3. after the student's cells, call the lab's visible checker (``reglab.course.checks.labNN``) and the hidden
   tests (``instructor/hidden/labNN.py``) on each exercise's function, found by the name the checker cell passes.

Output in ``out`` (:mod:`~reglab.course.grading.report`): ``scores.csv``, ``scores.md``, ``feedback/<student>.md``,
and ``executed/<student>.ipynb`` (the executed copy, for a closer look). Results do not depend on the order or
the number of workers.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from reglab.course.grading._common import _file_name
from reglab.course.grading.execute import Limits
from reglab.course.grading.report import write_tables
from reglab.course.grading.scoring import grade_submission
from reglab.course.grading.submissions import COURSE, collect_submissions, find_lab, lab_exercises, relative_name


def _warm_matplotlib(scratch):
    """Build matplotlib's font cache once, so that each kernel copies it instead of searching fonts."""
    env = dict(os.environ, MPLCONFIGDIR=str(scratch / "matplotlib"), MPLBACKEND="agg")
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)


def _grade_one(job):
    return grade_submission(**job)


def grade(submissions, *, lab, out, workers=1, limits=Limits(), course=COURSE, hidden=None, partial=False,
          progress=True):
    """Grade every notebook in ``submissions`` and write the tables and the feedback to ``out``.

    Args:
        submissions: a folder of ``.ipynb`` (searched recursively) or one notebook.
        lab: the lab's number.
        out: the output folder (created).
        workers: submissions graded at the same time (each uses one kernel process).
        limits: :class:`Limits`.
        course: the folder with ``labs/`` or ``solutions/``.
        hidden: the folder of hidden tests (default ``course/instructor/hidden``); ``labNN.py`` in it.
        partial: score in proportion to the cases passed.
        progress: show a tqdm progress bar.

    Returns:
        The list of :class:`Report`, sorted by student.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    lab = f"{int(lab):02d}"
    reference = find_lab(lab, course)
    exercises = lab_exercises(json.loads(reference.read_text(encoding="utf-8")))
    if not exercises:
        raise ValueError(f"grade(): expected graded exercises (nbgrader `points`) in {reference}, got none")
    hidden = Path(hidden) if hidden is not None else Path(course) / "instructor" / "hidden"
    hidden_file = hidden / f"lab{lab}.py"
    hidden_source = hidden_file.read_text(encoding="utf-8") if hidden_file.exists() else ""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(submissions)
    found = [(student, path) for student, path in collect_submissions(root, reference.name)
             if out.resolve() not in path.resolve().parents]           # an --out inside the folder is not graded
    protected = [p for p in (root if root.is_dir() else root.parent, out, hidden) if p.exists()]
    scratch = Path(tempfile.mkdtemp(prefix="reglab-grade-"))
    try:
        _warm_matplotlib(scratch)
        jobs = [dict(path=path, exercises=exercises, lab=lab, student=student, scratch=scratch, limits=limits,
                     protected=[str(p.resolve()) for p in protected], hidden_source=hidden_source, partial=partial,
                     executed=out / "executed" / f"{_file_name(student)}.ipynb",
                     relative=relative_name(path, root) + ".ipynb" if root.is_dir() else path.name)
                for student, path in found]
        reports = []
        bar = tqdm(total=len(jobs), desc=f"grading lab {lab}", unit="notebook", disable=not progress)
        if workers <= 1:
            for job in jobs:
                reports.append(_grade_one(job))
                bar.update()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:     # the kernels are the processes
                for future in as_completed([pool.submit(_grade_one, job) for job in jobs]):
                    reports.append(future.result())
                    bar.update()
        bar.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    reports.sort(key=lambda report: report.student)
    write_tables(reports, exercises, out, lab=lab)
    return reports
