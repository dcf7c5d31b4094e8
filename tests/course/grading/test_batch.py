"""Instructor grading end to end: fixture submissions built from labs/01 and solutions/01, graded once, against
the expected score table, the notes, the tables and the feedback; endless loops. These start kernels (slow).

The fixtures are the lab's notebooks cut down to the setup cell, the imports and the exercises (the figures are
not needed to grade, and the suite must stay fast), with one change each: correct, partly correct, and one
submission per failure mode.
"""

import csv
import json
import os
import re
import tempfile

import pytest

from reglab.course import grading
from reglab.course.grading import Limits
from reglab.course.grading._common import _file_name
from tests.course.grading._notebooks import LAB, SOLUTION, load, text

LIMITS = Limits(cell=20, notebook=120, memory=3072, output=1)      # generous: nothing times out by accident
TIGHT = Limits(cell=5, notebook=3, memory=3072, output=1)          # for the endless loops


def trimmed(path):
    """The title, the setup cell, the imports cell and the exercises (banner, solution, checker) of a notebook."""
    notebook = load(path)
    keep = []
    for index, cell in enumerate(notebook["cells"]):
        source = text(cell)
        if (index < 2 or "from reglab.course.checks import lab01" in source or "nbgrader" in cell.get("metadata", {})
                or (cell["cell_type"] == "markdown" and "### Exercise" in source)):
            keep.append(cell)
    notebook["cells"] = keep
    return notebook


def code(source):
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


def with_function(notebook, name, source):
    """Replace the solution cell that defines ``name`` by ``source``."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and f"def {name}(" in text(cell):
            cell["source"] = source
            return notebook
    raise AssertionError(f"no cell defines {name}")


def stub(name):
    lab = load(LAB)
    return next(text(c) for c in lab["cells"] if c["cell_type"] == "code" and f"def {name}(" in text(c))


def solution(name):
    return next(text(c) for c in load(SOLUTION)["cells"] if c["cell_type"] == "code" and f"def {name}(" in text(c))


def after_setup(notebook, *sources):
    notebook["cells"][3:3] = [code(source) for source in sources]
    return notebook


def make_submissions(folder, outside):
    """Write the fixture class into ``folder``; return the victim files the bad ones try to delete."""
    victim = folder / "victim.txt"
    victim.write_text("an instructor's file\n")
    (outside / "keep").mkdir()
    submissions = {
        "ana_correct": trimmed(SOLUTION),
        "ben_partial": with_function(with_function(trimmed(SOLUTION), "warp", solution("warp").replace(
            "+ displacement", "- displacement")), "compose", stub("compose")),
        "dan_other_lab": trimmed(SOLUTION),
        "eve_exception": after_setup(with_function(trimmed(SOLUTION), "identity_grid", solution(
            "identity_grid").replace("return torch.stack", "return undefined_name + torch.stack")), "ratio = 1 / 0",
            "big = bytearray(8 * 1024 ** 3)   # 8 GB: over the memory limit"),
        "gus_huge_output": after_setup(trimmed(SOLUTION), 'print("x" * 3_000_000)'),
        "hal_renamed": with_function(trimmed(SOLUTION), "warp",
                                     solution("warp").replace("def warp(", "def warp_image(")),
        "ivy_files": after_setup(trimmed(SOLUTION), f"import os\nos.remove({str(victim)!r})",
                                 f"import shutil\nshutil.rmtree({str(outside / 'keep')!r})",
                                 f"import subprocess\nsubprocess.run(['rm', {str(victim)!r}])",
                                 "print(open('ana_correct.ipynb').read()[:10])",
                                 f"print(open({str(folder / 'ana_correct.ipynb')!r}).read()[:10])"),
        "kim_network": after_setup(trimmed(SOLUTION), "import urllib.request\n"
                                                      "urllib.request.urlopen('http://example.com', timeout=2)"),
    }
    title = submissions["dan_other_lab"]["cells"][0]
    title["source"] = text(title).replace("# Lab 01 — How to transform images", "# Lab 02 — Transformation models")
    for name, notebook in submissions.items():
        (folder / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    (folder / "cat_invalid_json.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ', encoding="utf-8")
    return victim


EXERCISES = grading.lab_exercises(load(LAB))
ALL = {e.function for e in EXERCISES}
EXPECTED = {   # student: (status, the functions whose exercise fails); every exercise is worth 1 point
    "ana_correct": ("graded", set()),
    "ben_partial": ("graded", {"warp", "compose"}),
    "cat_invalid_json": ("invalid JSON", ALL),
    "dan_other_lab": ("another lab", ALL),
    "eve_exception": ("graded", {"identity_grid"}),
    "gus_huge_output": ("graded", set()),
    "hal_renamed": ("graded", {"warp"}),
    "ivy_files": ("graded", set()),
    "kim_network": ("graded", set()),
}


def failing(report):
    return {e.function for e in EXERCISES if not report.scores[e.key].passed}


def score(report, function):
    return report.scores[next(e.key for e in EXERCISES if e.function == function)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    outside = tmp_path_factory.mktemp("outside")
    out = tmp_path_factory.mktemp("grades") / "out"
    victim = make_submissions(folder, outside)
    reports = grading.grade(folder, lab=1, out=out, workers=2, limits=LIMITS, progress=False)
    with open(out / "scores.csv", encoding="utf-8") as stream:
        rows = {row["student"]: row for row in csv.DictReader(stream)}
    return dict(reports={r.student: r for r in reports}, rows=rows, out=out, victim=victim, outside=outside,
                folder=folder)


def test_score_table_matches_the_expected_one(graded):
    table = {student: (report.status, failing(report)) for student, report in graded["reports"].items()}
    assert table == EXPECTED
    for student, row in graded["rows"].items():
        assert float(row["total"]) == len(EXERCISES) - len(EXPECTED[student][1])


def test_points_agree_with_pass_fail_and_the_metadata(graded):
    for report in graded["reports"].values():
        for score in report.scores.values():
            assert score.max_points == 1.0 and score.points == (1.0 if score.passed else 0.0)
        assert report.total == sum(score.passed for score in report.scores.values())


@pytest.mark.parametrize("student, function, words", [
    ("ana_correct", "warp", ["passed", "cases + 4 hidden"]),
    ("ben_partial", "warp", ["cases passed", "x − u(x)"]),
    ("ben_partial", "compose", ["not implemented"]),
    ("cat_invalid_json", "identity_grid", ["invalid JSON"]),
    ("dan_other_lab", "affine_displacement", ["Lab 02", "expected Lab 01"]),
    ("eve_exception", "identity_grid", ["raised NameError", "undefined_name"]),
    ("hal_renamed", "warp", ["`warp` is missing", "`warp_image`"]),
])
def test_one_line_reasons(graded, student, function, words):
    reason = score(graded["reports"][student], function).reason
    assert "\n" not in reason
    for word in words:
        assert word in reason


@pytest.mark.parametrize("student, words", [
    ("ana_correct", []),
    ("eve_exception", ["cell 4 (`ratio = 1 / 0`) raised ZeroDivisionError: division by zero",
                       "cell 5 (`big = bytearray(8 * 1024 ** 3…`) ran out of memory (limit 3072 MB)"]),
    ("gus_huge_output", ["huge output", "over 1 MB"]),
    ("ivy_files", ["attempted and blocked (audit hook in the kernel): deleting", "running another program (rm)",
                   "raised FileNotFoundError"]),
    ("kim_network", ["network access (example.com)"]),
])
def test_notes_say_what_went_wrong(graded, student, words):
    notes = graded["rows"][student]["notes"]
    if not words:
        assert notes == ""
    for word in words:
        assert word in notes, notes


def test_nothing_outside_the_scratch_folder_was_touched(graded):
    assert graded["victim"].read_text(encoding="utf-8") == "an instructor's file\n"
    assert (graded["outside"] / "keep").is_dir()
    assert sorted(p.name for p in graded["folder"].iterdir()) == sorted(
        [f"{name}.ipynb" for name in EXPECTED] + ["victim.txt"])


def test_markdown_table_feedback_and_class_summary(graded):
    out = graded["out"]
    table = (out / "scores.md").read_text(encoding="utf-8")
    n = len(EXERCISES)
    assert table.count("\n| ") == 1 + len(EXPECTED) + 1 + n          # score table header + rows, summary + rows
    assert f"| ana_correct | {n} | " + " | ".join(["1 ✓"] * n) + " |  |" in table
    summary = table.split("## Class summary")[1]
    assert "| 1.2 backward warping with \\`grid_sample\\` | 5 of 9 |" in summary
    assert "| 1.4 composing two displacements | 6 of 9 | not implemented (1) |" in summary
    feedback = (out / "feedback" / f"{_file_name('ben_partial')}.md").read_text(encoding="utf-8")
    assert f"**{n - 2} of {n} points.**" in feedback and "did you sample at x − u(x)" in feedback
    assert "Hidden tests:" in feedback
    assert sorted(p.stem for p in (out / "feedback").iterdir()) == sorted(_file_name(s) for s in EXPECTED)
    assert (out / "executed" / f"{_file_name('ana_correct')}.ipynb").exists()


def test_endless_loops_time_out_and_grading_goes_on(tmp_path):
    notebook = trimmed(SOLUTION)
    notebook["cells"] = [notebook["cells"][0]] + [cell for cell in notebook["cells"][2:]   # no setup, no data: fast
                                                  if "load_brain_slice" not in text(cell)]
    notebook["cells"].insert(1, code("import time\nimport torch\nimport torch.nn.functional as F\nimport reglab\n"
                                     "from reglab import fields, grid"))
    with_function(notebook, "warp", "def warp(moving, displacement):\n    while True:\n        time.sleep(0.05)")
    last = next(i for i, c in enumerate(notebook["cells"]) if "def index_to_physical(" in text(c))
    notebook["cells"].insert(last, code("while True:        # sleeps, so that the test burns no CPU\n"
                                        "    time.sleep(0.05)"))
    path = tmp_path / "fay_endless_loop.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    exercises = grading.lab_exercises(load(LAB))
    report, _ = grading.grade_submission(path, exercises, lab="01", limits=TIGHT)
    assert failing(report) == {"warp", "index_to_physical"}
    assert score(report, "warp").reason == "timed out after 5 s (an endless loop?)"
    assert "`index_to_physical` is missing" in score(report, "index_to_physical").reason
    pattern = rf"cell {last + 1} \(`while True: .*`\) timed out after [123] s \(an endless loop\?\)"
    assert re.fullmatch(pattern, report.notes[0])
    assert report.notes[1] == f"notebook time limit (3 s) reached: cells from {last + 2} on were not run"


def test_outputs_hold_no_paths_or_times_of_this_run(graded, tmp_path):
    out, reports = graded["out"], list(graded["reports"].values())
    written = [out / "scores.csv", out / "scores.md", *sorted((out / "feedback").iterdir())]
    for path in written:
        content = path.read_text(encoding="utf-8")
        assert "reglab-grade-" not in content and tempfile.gettempdir() + os.sep + "reglab" not in content
        assert not re.search(r"\d\d:\d\d:\d\d|0x[0-9a-f]{6,}", content), path.name
    exercises = grading.lab_exercises(load(LAB))
    grading.write_tables(sorted(reports, key=lambda r: r.student), exercises, tmp_path, lab="01",
                         isolation=grading.detect().describe())
    for path in written:
        assert (tmp_path / path.relative_to(out)).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("private_user", [False, True], ids=["plain", "private-user"])
def test_without_bubblewrap_or_cgroups_a_notebook_still_grades_and_nothing_stays(tmp_path, private_user):
    from reglab.course.grading import sandbox, workspace

    found = sandbox.detect(use_bwrap=False, use_cgroup=False)
    if private_user and not found.root:
        pytest.skip("a private user needs root, setpriv and a Python it can read (here it is under /root)")
    isolation = sandbox.Isolation(root=private_user, base_uid=found.base_uid + 5000)
    notebook = after_setup(trimmed(SOLUTION), "import os, time\nif os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)")
    path = tmp_path / "ana.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    exercises = grading.lab_exercises(load(LAB))
    run = workspace.prepare("01", exercises, isolation=isolation)
    try:
        report, _ = grading.grade_submission(path, exercises, lab="01", run=run, limits=LIMITS)
    finally:
        run.close()
    assert report.total == len(EXERCISES), report.notes
    assert "bubblewrap: no" in " ".join(isolation.describe())
    alive = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as stream:
                alive += [pid] if b"_kernel_main" in stream.read() else []
        except OSError:
            continue
    assert alive == []
