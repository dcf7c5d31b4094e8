"""The course pipeline: labs generated from solutions, no leaks, badges, setup cells, stubs that run."""

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from reglab.course import BEGIN, END, SETUP_CELL, build, colab_url, solution_regions, strip_solutions

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


@pytest.mark.parametrize("folder", ["solutions", "labs"])
@pytest.mark.parametrize("name", NAMES)
def test_title_badge_and_setup_cell(folder, name):
    first = cells(ROOT / folder / name)[0]
    number = name[:2]
    assert first["cell_type"] == "markdown" and re.match(rf"# Lab {number} — ", text(first))
    badges = re.findall(r"\(https://colab\.research\.google\.com/github/[^)]+\)", text(first))
    assert badges == [f"({colab_url(folder, name)})"], "the Colab badge must point at this very file"
    assert text(cells(ROOT / folder / name, "code")[0]) == SETUP_CELL


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
    """Exercise cells may fail; checkers say "not implemented yet"; every other cell runs."""
    notebook = nbformat.read(ROOT / "labs" / name, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"a cell failed in the student version of {name}:\n{cell.source}\n{errors[0].evalue}"
        if re.search(r"lab\d\d\.check_\w+\(", cell.source):
            printed = "".join(o.get("text", "") for o in cell.outputs)
            assert "not implemented yet" in printed
