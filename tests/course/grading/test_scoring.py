"""One submission's grade: bad files get a row without a kernel; a grading result becomes points and a reason;
the hidden tests pass the solution and catch a wrong answer."""

import importlib.util

import pytest
import torch

from reglab.course import grading
from reglab.course.grading import Exercise
from reglab.course.grading.scoring import _score
from tests.course.grading._notebooks import LAB, ROOT, SOLUTION, load, text


@pytest.mark.parametrize("content, status", [
    (b"\xff\xfe not text", "invalid JSON"),
    (b"", "invalid JSON"),
    (b"[1, 2, 3]", "not a notebook"),
    (b'{"cells": 3}', "not a notebook"),
])
def test_bad_files_get_a_row_without_a_kernel(tmp_path, content, status):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    exercises = grading.lab_exercises(load(LAB))
    report, executed = grading.grade_submission(path, exercises, lab="01")
    assert executed is None
    assert report.status == status and report.total == 0 and len(report.scores) == len(exercises)
    assert all(not score.passed and score.reason == report.notes[0] for score in report.scores.values())


def _solutions():
    import torch.nn.functional as F

    import reglab
    from reglab import fields, grid

    namespace = dict(torch=torch, F=F, reglab=reglab, grid=grid, fields=fields)
    for cell in load(SOLUTION)["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            exec(text(cell), namespace)
    return namespace


def _hidden():
    spec = importlib.util.spec_from_file_location("hidden_lab01", ROOT / "instructor" / "hidden" / "lab01.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("exercise", grading.lab_exercises(load(LAB)), ids=lambda e: e.function)
def test_hidden_tests_pass_the_solution_and_catch_a_wrong_answer(exercise, capsys):
    hidden, namespace = _hidden(), _solutions()
    check = getattr(hidden, exercise.checker)
    assert check(namespace[exercise.function]).ok

    def wrong(*args):
        answer = namespace[exercise.function](*args)
        return answer + 0.5
    result = check(wrong)
    assert result.implemented and result.passed < result.total


def _check(n=2):
    from reglab.course.checks.core import Case
    from reglab.course.grading.cases import Check

    cases = [Case(f"2D, case {i}", (torch.full((2,), float(i)),), torch.full((2,), 2.0 * i)) for i in range(n)]
    return Check("Exercise 1.2 — warping", cases)


def _answers(values):
    from reglab.course.grading import codec

    return [{"answer": codec.encode(torch.tensor(v)), "calls": []} for v in values]


@pytest.mark.parametrize("result, partial, expected", [
    ({"status": "answered", "answers": _answers([[0.0, 0.0], [2.0, 2.0], [0.0, 0.0], [2.0, 2.0]])}, False,
     (2.0, True, "passed: 2 cases + 2 hidden")),
    ({"status": "answered", "answers": _answers([[0.0, 0.0], [2.5, 2.0], [0.0, 0.0], [2.0, 2.0]])}, True,
     (1.5, False, "3 of 4 cases passed; 2D, case 1: values differ (largest error 0.5)")),
    ({"status": "answered", "answers": _answers([[0.0, 0.0], [2.0, 2.0], [0.0, 0.0]])}, False,
     (0.0, False, "3 of 4 cases passed; hidden tests: 2D, case 1: no answer (the kernel stopped or ran out of time)")),
    ({"status": "answered", "answers": [{"error": "NotImplementedError: ", "stub": True}] * 4}, False,
     (0.0, False, "not implemented (the stub is still there)")),
    ({"status": "answered",
      "answers": [dict(a, calls=["reglab.warp"]) for a in _answers([[0.0, 0.0], [2.0, 2.0]] * 2)]},
     False, (0.0, False, "calls reglab.warp: the exercise asks you to write it")),
    ({"status": "missing", "defined": ["warp_image", "helper"]}, False,
     (0.0, False, "function `warp` is missing (renamed or deleted?; found `warp_image`)")),
    ({"status": "error", "error": "RuntimeError: boom"}, False,
     (0.0, False, "could not call `warp`: RuntimeError: boom")),
    ({"status": "answered", "answers": "forged"}, False, (0.0, False, "could not call `warp`: no answers")),
])
def test_score_from_the_kernels_answers(result, partial, expected):
    exercise = Exercise("ex1_2_check", "1.2", "warping", "warp", "check_warp", 2.0)
    score = _score(exercise, dict(result, token="t", key=exercise.key), [_check(), _check()], partial=partial)
    assert (score.points, score.passed, score.reason) == expected
    assert score.max_points == 2.0 and (score.kind == "") == score.passed
