"""The course pipeline: labs generated from solutions, no leaks, badges, setup cells, stubs that run; the course's
home named in one place; the base install imports without the instructors' and JupyterLab's packages."""

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from reglab.course import (BEGIN, END, KERNELSPEC, REPOSITORY, SETUP_CELL, build, colab_url, setup_cell,
                           solution_regions, strip_solutions)
from reglab.course.kernel import patient

course_build = importlib.import_module("reglab.course.build")   # the module (reglab.course.build is the function)
ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
NAMES = [path.name for path in SOLUTIONS]


def cells(path, kind=None):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in notebook["cells"] if kind is None or c["cell_type"] == kind]


def text(cell):
    return "".join(cell["source"])


def test_there_are_solutions_and_labs_for_each():
    assert SOLUTIONS, "no solution notebooks found"
    assert sorted(p.name for p in (ROOT / "labs").glob("*.ipynb")) == NAMES


def test_labs_are_up_to_date():
    stale = build(ROOT, check=True)
    assert not stale, f"labs/ is out of date, run `python -m reglab.course build`: {stale}"


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_text_leaks_into_the_lab(name):
    lab = "\n".join(text(c) for c in cells(ROOT / "labs" / name))
    assert BEGIN not in lab and END not in lab
    for cell in cells(ROOT / "solutions" / name, "code"):
        for region in solution_regions(text(cell)):
            for line in region.splitlines():
                line = line.strip()
                if len(line) > 12 and not line.startswith("#"):
                    assert line not in lab, f"solution line leaked into labs/{name}: {line!r}"


@pytest.mark.parametrize("name", NAMES)
def test_labs_have_no_outputs_and_solutions_have_outputs(name):
    assert all(not c["outputs"] and c["execution_count"] is None for c in cells(ROOT / "labs" / name, "code"))
    assert any(c["outputs"] for c in cells(ROOT / "solutions" / name, "code"))


@pytest.mark.parametrize("name", NAMES)
def test_labs_hold_no_nbval_markers_or_execution_times(name):
    """What only the solutions' tests need stays in solutions/: nbval's comments and tags, nbclient's timestamps."""
    for cell in cells(ROOT / "labs" / name):
        metadata = cell.get("metadata", {})
        assert "NBVAL" not in text(cell), f"labs/{name}: {text(cell)[:60]!r}"
        assert "execution" not in metadata and not any("nbval" in tag for tag in metadata.get("tags", []))


def test_strip_test_markers_removes_nbval_lines_tags_and_times_only():
    cell = {"cell_type": "code", "execution_count": 3, "outputs": [{"output_type": "stream", "text": "1"}],
            "source": ["# NBVAL_IGNORE_OUTPUT\n", "x = 1  # NBVAL_SKIP is a word here\n", "  #NBVAL_SKIP \n", "x"],
            "metadata": {"tags": ["nbval-ignore-output", "keep"], "nbgrader": {"grade_id": "a", "points": 1},
                         "execution": {"iopub.status.idle": "2026-01-01T00:00:00Z"}}}
    before = json.dumps(cell)
    stripped = course_build.strip_test_markers(cell)
    assert json.dumps(cell) == before                                   # the input is not modified
    assert stripped["source"] == "x = 1  # NBVAL_SKIP is a word here\nx"
    assert stripped["metadata"] == {"tags": ["keep"], "nbgrader": {"grade_id": "a", "points": 1}}
    assert stripped["outputs"] == cell["outputs"] and stripped["execution_count"] == 3
    solution = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    lab = course_build.student_notebook(solution, "00_x.ipynb")["cells"][0]
    assert lab["source"] == ["x = 1  # NBVAL_SKIP is a word here\n", "x"] and "execution" not in lab["metadata"]


@pytest.mark.parametrize("folder", ["solutions", "labs"])
@pytest.mark.parametrize("name", NAMES)
def test_title_badge_and_setup_cell(folder, name):
    first = cells(ROOT / folder / name)[0]
    number = name[:2]
    assert first["cell_type"] == "markdown" and re.match(rf"# Lab {number} — ", text(first))
    badges = re.findall(r"\(https://colab\.research\.google\.com/github/[^)]+\)", text(first))
    assert badges == [f"({colab_url(folder, name)})"], "the Colab badge must point at this very file"
    assert text(cells(ROOT / folder / name, "code")[0]) == SETUP_CELL


@pytest.mark.parametrize("folder", ["solutions", "labs"])
@pytest.mark.parametrize("name", NAMES)
def test_every_colab_link_and_install_points_at_the_course_repository(folder, name):
    """Badges and setup cells agree with reglab.course.REPOSITORY; no other GitHub home appears anywhere."""
    notebook = "\n".join(text(c) for c in cells(ROOT / folder / name))
    homes = set(re.findall(r"(?:colab\.research\.google\.com/github|github\.com)/([\w.-]+/[\w.-]+)", notebook))
    assert homes == {REPOSITORY}, f"{folder}/{name} names {homes}, expected only {REPOSITORY!r}"
    assert f'REGLAB_SOURCE = "git+https://github.com/{REPOSITORY}@' in SETUP_CELL


def test_the_repository_is_named_only_in_build_py():
    """README, docs, the library and the tests take the course's home from reglab.course.REPOSITORY."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, encoding="utf-8",
                             errors="replace").stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    naming = [name for name in tracked
              if not name.endswith(".ipynb") and name != "reglab/course/build.py" and (ROOT / name).is_file()
              and REPOSITORY in (ROOT / name).read_text(encoding="utf-8", errors="replace")]
    assert not naming, f"{REPOSITORY!r} is named outside reglab/course/build.py (and the built notebooks): {naming}"


def test_build_with_another_repository_rewrites_every_badge_setup_cell_and_the_constant(tmp_path, monkeypatch):
    """`python -m reglab.course build --repository OWNER/NAME` on a copy of the checkout."""
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    (tmp_path / "reglab" / "course").mkdir(parents=True)
    shutil.copy(ROOT / "reglab" / "course" / "build.py", tmp_path / "reglab" / "course" / "build.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(course_build, "REPOSITORY", REPOSITORY)     # main() changes them: undone after the test
    monkeypatch.setattr(course_build, "SETUP_CELL", SETUP_CELL)
    assert course_build.main(["build", "--repository", "someone/their-course"]) == 0
    assert course_build.main(["check"]) == 0
    source = (tmp_path / "reglab" / "course" / "build.py").read_text(encoding="utf-8")
    assert re.search(r'^REPOSITORY = "someone/their-course"', source, re.M)
    original = (ROOT / "reglab" / "course" / "build.py").read_text(encoding="utf-8").splitlines()
    assert [a for a, b in zip(original, source.splitlines()) if a != b] == [
        next(line for line in original if line.startswith("REPOSITORY = "))]    # that one line, nothing else
    for folder in ("solutions", "labs"):
        for name in NAMES:
            path = tmp_path / folder / name
            badges = re.findall(r"\(https://colab\.research\.google\.com/github/[^)]+\)", text(cells(path)[0]))
            home = "https://colab.research.google.com/github/someone/their-course"
            assert badges == [f"({home}/blob/main/{folder}/{name})"]
            assert text(cells(path, "code")[0]) == setup_cell("someone/their-course")
            assert REPOSITORY not in path.read_text(encoding="utf-8")
    # only the badge and the setup cell of a solution changed: outputs and every other cell are kept
    for name in NAMES:
        before, after = cells(ROOT / "solutions" / name), cells(tmp_path / "solutions" / name)
        assert len(before) == len(after)
        changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
        assert set(changed) <= {0, next(i for i, c in enumerate(before) if c["cell_type"] == "code")}
        assert all(a.get("outputs") == b.get("outputs") for a, b in zip(before, after))
    with pytest.raises(SystemExit):
        course_build.main(["build", "--repository", "not a repository"])


@pytest.mark.parametrize("name", NAMES)
def test_labs_declare_the_generic_kernel(name):
    """ipykernel's own spec: JupyterLab and Notebook 7 do not rewrite it (and mark the lab modified) on opening."""
    metadata = json.loads((ROOT / "labs" / name).read_text(encoding="utf-8"))["metadata"]
    assert metadata["kernelspec"] == KERNELSPEC == {"display_name": "Python 3 (ipykernel)", "language": "python",
                                                    "name": "python3"}


def test_execute_names_the_extra_when_nbclient_is_missing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nbclient", None)                 # what `import nbclient` sees when missing
    with pytest.raises(ModuleNotFoundError, match=r"execute\(\): .*pip install \"reglab\[grade\]\""):
        course_build.execute(tmp_path / "missing.ipynb")


BLOCK_EXTRAS = """
import importlib, pkgutil, sys
class Block:                       # what a base install (no extras) looks like to `import`
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"nbclient", "nbformat", "ipykernel", "jupyterlab", "jupyter_server",
                                  "jupyter_client", "nbval", "notebook", "selenium"}:
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import reglab
names = [m.name for m in pkgutil.walk_packages(reglab.__path__, "reglab.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_module_imports_without_the_extras():
    """The base install (no [lab], [grade] or [test]) is enough to import the library, the checkers and the tools."""
    result = subprocess.run([sys.executable, "-c", BLOCK_EXTRAS], capture_output=True, encoding="utf-8",
                            errors="replace", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) > 50


def test_base_dependencies_leave_the_hosts_jupyter_alone():
    """pyproject: no JupyterLab, nbclient, nbformat or ipykernel in the base install; ipywidgets takes Colab's 7.x."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {re.split(r"[<>=!\[ ]", d)[0].lower(): d for d in project["dependencies"]}
    assert not {"jupyterlab", "nbclient", "nbformat", "ipykernel", "notebook"} & set(base)
    assert base["ipywidgets"].replace(" ", "") == "ipywidgets>=7.6,<9"
    extras = project["optional-dependencies"]
    assert any(d.startswith("jupyterlab") for d in extras["lab"])
    assert {re.split(r"[<>=]", d)[0] for d in extras["grade"]} == {"nbclient", "nbformat", "ipykernel"}
    assert {re.split(r"[<>=]", d)[0] for d in extras["grade"]} <= {re.split(r"[<>=]", d)[0] for d in extras["test"]}


@pytest.mark.parametrize("name", NAMES)
def test_every_exercise_has_a_checker_right_after_it(name):
    notebook = cells(ROOT / "solutions" / name)
    exercises = [i for i, c in enumerate(notebook) if c["cell_type"] == "code" and BEGIN in text(c)]
    assert len(exercises) >= 4, "each lab has at least four exercises"
    for i in exercises:
        following = text(notebook[i + 1])
        assert re.search(rf"lab{name[:2]}\.check_\w+\(", following), f"cell {i} has no checker after it"
        assert notebook[i]["metadata"]["nbgrader"]["solution"] is True
        assert notebook[i + 1]["metadata"]["nbgrader"]["points"] > 0


def test_strip_solutions_keeps_indentation_and_rejects_bad_markers():
    stub = strip_solutions(f"x = 1\nif x:\n        {BEGIN}\n        y = 2\n        {END}\nz = 3")
    assert stub == "x = 1\nif x:\n        # YOUR CODE HERE\n        raise NotImplementedError()\nz = 3"
    with pytest.raises(ValueError, match="never closed"):
        strip_solutions(f"{BEGIN}\nx = 1")
    with pytest.raises(ValueError, match="without"):
        strip_solutions(f"x = 1\n{END}")
    with pytest.raises(ValueError, match="nested"):
        strip_solutions(f"{BEGIN}\n{BEGIN}\n{END}")


@pytest.mark.parametrize("name", NAMES)
def test_student_lab_runs_top_to_bottom_with_its_stubs(name, tmp_path):
    """Exercise cells may fail; checkers say "not implemented yet"; every other cell runs (polled in slices)."""
    notebook = nbformat.read(ROOT / "labs" / name, as_version=4)
    patient(NotebookClient)(notebook, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"a cell failed in the student version of {name}:\n{cell.source}\n{errors[0].evalue}"
        if re.search(r"lab\d\d\.check_\w+\(", cell.source):
            printed = "".join(o.get("text", "") for o in cell.outputs)
            assert "not implemented yet" in printed
