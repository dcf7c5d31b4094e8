"""The command line of grading: a folder with bad files and another lab's notebook, an unknown lab."""

import csv
import json
import sys

import pytest

from reglab.course import grading
from tests.course.grading._notebooks import LAB, load


def test_command_line(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.ipynb").write_text("not json")
    other = load(LAB)
    other["cells"][0]["source"] = "# Lab 07 — Something else"
    (folder / "b.ipynb").write_text(json.dumps(other))
    out = folder / "grades"                                  # inside the submissions: never graded itself
    (out / "executed").mkdir(parents=True)
    (out / "executed" / "old.ipynb").write_text("{}")
    assert grading.main([str(folder), "--lab", "1", "--out", str(out), "--quiet"]) == 0
    assert "graded 0 of 2 submissions of lab 01" in capsys.readouterr().out
    rows = list(csv.DictReader(open(out / "scores.csv", encoding="utf-8")))
    assert [(r["student"], r["status"]) for r in rows] == [("a", "invalid JSON"), ("b", "another lab")]
    assert grading.main([str(folder), "--lab", "99", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "find_lab(): expected a notebook labs/99_*.ipynb" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["nbclient", "nbformat", "ipykernel"])
def test_without_the_grade_extra_one_line_says_which_extra_to_install(module, tmp_path, monkeypatch, capsys):
    from reglab.cli import main as reglab_main

    monkeypatch.setitem(sys.modules, module, None)                  # what `import module` sees when it is missing
    out = tmp_path / "out"
    for run in (reglab_main, grading.main):                          # `reglab grade` and `python -m ...grading`
        arguments = [str(tmp_path), "--lab", "1", "--out", str(out), "--quiet"]
        assert run(["grade"] + arguments if run is reglab_main else arguments) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and module in lines[0] and 'pip install "reglab[grade]"' in lines[0], captured.err
        assert lines[0].startswith("reglab grade: grade(): expected nbclient, nbformat and ipykernel")
        assert not out.exists()                                      # nothing started, nothing written
    with pytest.raises(ModuleNotFoundError, match=r"grade\(\): .*pip install \"reglab\[grade\]\""):
        grading.grade(tmp_path, lab="01", out=out)
