"""The command line of grading: a folder with bad files and another lab's notebook, an unknown lab."""

import csv
import json

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
