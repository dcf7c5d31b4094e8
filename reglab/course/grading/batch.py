"""Grading a folder: every submission of one lab, in parallel, then the tables and the feedback.

For every ``.ipynb`` under the submissions folder (:mod:`~reglab.course.grading.submissions`), one row:

1. a hidden file or a link is skipped (with the reason); invalid JSON, a file that is not a notebook, or the
   notebook of another lab gets a row with that reason and no kernel is started
   (:mod:`~reglab.course.grading.scoring`);
2. otherwise it runs in a fresh kernel, isolated as far as the machine allows
   (:mod:`~reglab.course.grading.sandbox`, :mod:`~reglab.course.grading.execute`), with a private read-only copy
   of reglab (:mod:`~reglab.course.grading.workspace`);
3. the kernel answers the cases of each exercise (the visible checker's and the hidden tests'), and the grader
   compares the answers with its own expected values (:mod:`~reglab.course.grading.cases`).

Output in ``out`` (:mod:`~reglab.course.grading.report`): ``scores.csv``, ``scores.md``, ``feedback/<name>.md``,
``executed/<name>.ipynb`` and ``isolation.txt`` (which mechanisms held). The checkers and the hidden tests are
hashed before and after; a change is an error for the whole run. Results do not depend on the order or the
number of workers.
"""

import json
from pathlib import Path

from reglab.course.build import require_grade_extra
from reglab.course.grading.execute import Limits
from reglab.course.grading.report import prepare_out, write_tables
from reglab.course.grading.scoring import _failed_report, grade_submission
from reglab.course.grading.submissions import COURSE, find_lab, find_submissions, lab_exercises, relative_name
from reglab.course.grading.workspace import digest, prepare


class CourseFilesChanged(RuntimeError):
    """The checkers or the hidden tests changed while grading: no score of the run can be trusted."""


def grade(submissions, *, lab, out, workers=1, limits=Limits(), course=COURSE, hidden=None, partial=False,
          progress=True, isolation=None, checks=None):
    """Grade every notebook in ``submissions`` and write the tables and the feedback to ``out``.

    Args:
        submissions: a folder of ``.ipynb`` (searched recursively) or one notebook.
        lab: the lab's number.
        out: the output folder: created, or emptied when it holds only a previous run's output.
        workers: submissions graded at the same time (each uses one kernel process).
        limits: :class:`Limits`.
        course: the folder with ``labs/`` or ``solutions/``.
        hidden: the folder of hidden tests (default ``course/instructor/hidden``); ``labNN.py`` in it.
        partial: score in proportion to the cases passed.
        progress: show a tqdm progress bar.
        isolation: a :class:`reglab.course.grading.sandbox.Isolation` (default: what this machine offers).
        checks: the folder of the checker modules ``labNN.py`` (default: this reglab's ``course/checks``).

    Returns:
        The list of :class:`Report`, sorted by student, one per ``.ipynb`` found.

    Raises:
        ModuleNotFoundError: the ``grade`` extra (nbclient, nbformat, ipykernel) is not installed.
        ValueError: no such lab, no graded exercises, an output folder holding other files.
        CourseFilesChanged: the checkers or the hidden tests changed during the run (the tables are written,
            with the error in ``scores.md``).
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    require_grade_extra("grade")                          # nbclient, nbformat, ipykernel: one line saying how
    import nbformat
    from tqdm.auto import tqdm

    from reglab.course.checks import core

    lab = f"{int(lab):02d}"
    reference = find_lab(lab, course)
    exercises = lab_exercises(json.loads(reference.read_text(encoding="utf-8")))
    if not exercises:
        raise ValueError(f"grade(): expected graded exercises (nbgrader `points`) in {reference}, got none")
    hidden = Path(hidden) if hidden is not None else Path(course) / "instructor" / "hidden"
    hidden_file = hidden / f"lab{lab}.py"
    hidden_source = hidden_file.read_text(encoding="utf-8") if hidden_file.exists() else ""
    checkers = Path(checks) if checks is not None else Path(core.__file__).parent
    watched = [checkers / name for name in ("__init__.py", "core.py", "contract.py", "questions.py", "reseeded.py",
                                            f"lab{lab}.py")] + [hidden_file]
    before = digest(watched)
    root = Path(submissions)
    found = find_submissions(root, reference.name, exclude=[out])
    out = prepare_out(out)
    run = prepare(lab, exercises, hidden_source=hidden_source, isolation=isolation, checks_folder=checkers)
    reports, executed = [], {}
    try:
        def one(student, path, reason):
            relative = relative_name(path, root) + ".ipynb" if root.is_dir() else path.name
            if reason is not None:
                return _failed_report(student, relative, "skipped", exercises, reason), None
            try:
                return grade_submission(path, exercises, lab=lab, student=student, run=run, limits=limits,
                                        partial=partial, relative=relative)
            except Exception as error:  # one bad file never stops the run
                return _failed_report(student, relative, "not run", exercises,
                                      f"could not grade: {type(error).__name__}"), None

        bar = tqdm(total=len(found), desc=f"grading lab {lab}", unit="notebook", disable=not progress)
        results = []
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:     # the kernels are the processes
            futures = {pool.submit(one, *item): item for item in found}
            for future in as_completed(futures):
                student, path, _ = futures[future]
                try:
                    results.append(future.result())
                except Exception as error:  # a bug of ours on one file: that file's row says so
                    results.append((_failed_report(student, str(path.name), "not run", exercises,
                                                   f"could not grade: {type(error).__name__}"), None))
                bar.update()
        bar.close()
        for report, notebook in results:
            reports.append(report)
            if notebook is not None:
                try:
                    executed[report.student] = nbformat.writes(notebook)
                except Exception:  # an executed copy that cannot be written is only a convenience
                    pass
    finally:
        run.close()
    reports.sort(key=lambda report: report.student)
    changed = sorted(set(before.items()) ^ set(digest(watched).items()))
    isolation_lines = run.isolation.describe()
    if changed:
        names = sorted({Path(path).name for path, _ in changed})
        isolation_lines = [f"ERROR: course files changed during the run: {', '.join(names)}"] + isolation_lines
    write_tables(reports, exercises, out, lab=lab, executed=executed, isolation=isolation_lines)
    if changed:
        raise CourseFilesChanged(f"grade(): expected the checkers and hidden tests unchanged, got changes in "
                                 f"{', '.join(sorted({Path(p).name for p, _ in changed}))}: no score can be trusted")
    return reports
