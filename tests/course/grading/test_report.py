"""The tables: the class summary; the output folder is the grader's (atomic writes that replace links, FIFOs and
folders planted under an output's name); names cannot collide, forge rows or become formulas."""

import csv
import os

import pytest

from reglab.course import grading
from reglab.course.grading import Exercise, Report, Score
from reglab.course.grading._common import _file_name
from reglab.course.grading.report import write_file


def test_class_summary_picks_the_most_common_failure_deterministically():
    e = Exercise("k", "1.1", "t", "f", "check_f", 2.0)

    def report(name, kind):
        return Report(name, f"{name}.ipynb", "graded", [], {"k": Score(0.0, 2.0, not kind, kind, kind)})
    reports = [report("a", "timed out"), report("b", "not implemented"), report("c", ""), report("d", "timed out"),
               report("e", "not implemented")]
    assert grading.class_summary(reports, [e]) == [(e, 1, 5, "not implemented (2)")]
    assert grading.class_summary(reports[::-1], [e]) == [(e, 1, 5, "not implemented (2)")]


def test_write_file_replaces_links_fifos_and_folders_never_follows_them(tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("keep")
    os.symlink(target, tmp_path / "scores.md")
    os.mkfifo(tmp_path / "scores.csv")
    (tmp_path / "x.ipynb").mkdir()
    for name in ("scores.md", "scores.csv", "x.ipynb"):
        write_file(tmp_path, name, "ours")
        assert (tmp_path / name).is_file() and not (tmp_path / name).is_symlink()
        assert (tmp_path / name).read_text(encoding="utf-8") == "ours"
    assert target.read_text(encoding="utf-8") == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv", "scores.md", "victim.txt", "x.ipynb"]


def test_the_output_folder_is_made_private_and_never_emptied_of_other_files(tmp_path):
    out = grading.prepare_out(tmp_path / "out")
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    (out / "feedback").mkdir()
    (out / "scores.csv").write_text("old")
    assert list(grading.prepare_out(out).iterdir()) == []
    (out / "thesis.tex").write_text("mine")
    with pytest.raises(ValueError, match="prepare_out"):
        grading.prepare_out(out)
    os.symlink(out, tmp_path / "link")
    with pytest.raises(ValueError, match="a link"):
        grading.prepare_out(tmp_path / "link")


def test_names_cannot_collide_forge_rows_or_become_formulas(tmp_path):
    e = Exercise("k", "1.1", "t", "f", "check_f", 1.0)
    students = ["a~b", "a_b", "x\n| 5 | forged", "=1+1", "-2", "n" * 248]
    reports = [Report(s, f"{s}.ipynb", "graded", ["a | b\nc"], {"k": Score(1.0, 1.0, True, "ok")}) for s in students]
    grading.write_tables(reports, [e], tmp_path, lab="01")
    assert len({_file_name(s) for s in students}) == len(students)
    assert max(len(p.name) for p in (tmp_path / "feedback").iterdir()) <= 72
    with open(tmp_path / "scores.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["student"] for r in rows] == ["a~b", "a_b", "x\n| 5 | forged", "'=1+1", "'-2", "n" * 248]
    table = (tmp_path / "scores.md").read_text(encoding="utf-8").splitlines()
    assert sum(line.startswith("| ") for line in table) == 1 + len(students) + 1 + 1
    assert "| x \\| 5 \\| forged | 1 | 1 ✓ | a \\| b c |" in table
