"""The exercise table from nbgrader metadata, every lab gradable, the students' names from a folder."""

import pytest

from reglab.course import grading
from tests.course.grading._notebooks import LAB, ROOT, SOLUTION, load


def test_exercises_come_from_the_nbgrader_metadata():
    for path in (LAB, SOLUTION):
        exercises = [e for e in grading.lab_exercises(load(path)) if e.key[5] == "_"]   # not the questions (ex1_2b_check)
        assert [(e.number, e.function, e.checker, e.points) for e in exercises] == [
            ("1.1", "identity_grid", "check_identity_grid", 1.0), ("1.2", "warp", "check_warp", 1.0),
            ("1.3", "affine_displacement", "check_affine_displacement", 1.0), ("1.4", "compose", "check_compose", 1.0),
            ("1.5", "index_to_physical", "check_index_to_physical", 1.0)]
        assert [e.key for e in exercises] == [f"ex1_{i}_check" for i in range(1, 6)]


def test_points_are_read_from_the_metadata():
    notebook = load(LAB)
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "ex1_3_check":
            cell["metadata"]["nbgrader"]["points"] = 2.5
    assert {e.key: e.points for e in grading.lab_exercises(notebook)}["ex1_3_check"] == 2.5
    assert sum(e.points for e in grading.lab_exercises(notebook)) == len(grading.lab_exercises(notebook)) + 1.5


def test_a_graded_cell_without_a_checker_call_is_an_error():
    notebook = load(LAB)
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "ex1_2_check":
            cell["source"] = "print('graded by hand')"
    with pytest.raises(ValueError, match=r"lab_exercises\(\): expected a checker call"):
        grading.lab_exercises(notebook)


def test_every_lab_in_the_course_has_gradable_exercises():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        exercises = grading.lab_exercises(load(path))
        assert all(e.points > 0 for e in exercises), path.name
        assert grading.notebook_lab(load(path)) == path.name[:2]
        module = ROOT / "reglab" / "course" / "checks" / f"lab{path.name[:2]}.py"
        source = module.read_text(encoding="utf-8")
        assert all(f"def {e.checker}(" in source for e in exercises), path.name


def test_collect_submissions_names_students(tmp_path):
    for name in ("zoe.ipynb", "amy/01_transform_images.ipynb", "group/bo.ipynb", ".ipynb_checkpoints/zoe.ipynb",
                 "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = grading.collect_submissions(tmp_path, "01_transform_images.ipynb")
    assert [(student, path.relative_to(tmp_path).as_posix()) for student, path in found] == [
        ("amy", "amy/01_transform_images.ipynb"), ("group/bo", "group/bo.ipynb"), ("zoe", "zoe.ipynb")]
    with pytest.raises(ValueError, match=r"find_submissions\(\): expected a folder"):
        grading.collect_submissions(tmp_path / "missing")


def test_every_notebook_gets_a_row_with_the_reason_it_is_skipped(tmp_path):
    for name in ("zoe.ipynb", ".ipynb_checkpoints/zoe.ipynb", "..%2Fup.ipynb", "grades/old.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    (tmp_path / "link.ipynb").symlink_to(tmp_path / "zoe.ipynb")
    found = grading.find_submissions(tmp_path, "01_transform_images.ipynb", exclude=[tmp_path / "grades"])
    reasons = {student: (reason or "").split(":")[0] for student, _, reason in found}
    assert reasons == {"zoe": "", ".ipynb_checkpoints/zoe": "skipped", "..%2Fup": "skipped", "link": "skipped"}
