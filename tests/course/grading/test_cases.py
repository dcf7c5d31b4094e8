"""The grader's side of scoring: plain data both ways, the cases of every lab recorded with their expected values,
answers judged in the grader (a lie in the kernel cannot pass)."""

import json

import pytest
import torch

from reglab.course import grading
from reglab.course.grading import cases, codec, judging
from tests.course.grading._notebooks import ROOT, load


@pytest.mark.parametrize("value", [
    torch.arange(6.0).reshape(2, 3), torch.tensor([float("nan"), float("inf")], dtype=torch.float64),
    torch.ones(2, 2, dtype=torch.float16), torch.tensor([1, 2], dtype=torch.int64), torch.zeros(0, 3),
])
def test_tensors_go_through_json_exactly(value):
    back = codec.decode(json.loads(json.dumps(codec.encode(value), allow_nan=False)))
    assert back.dtype == value.dtype and back.shape == value.shape
    assert torch.equal(back.nan_to_num(7.0), value.nan_to_num(7.0))


def test_live_objects_never_come_back():
    class Liar(torch.Tensor):
        pass

    sent = codec.encode((torch.ones(2).as_subclass(Liar), lambda: 1, {"k": torch.Size([3])}))
    back = codec.decode(json.loads(json.dumps(sent)))
    assert type(back[0]) is torch.Tensor and isinstance(back[1], codec.Opaque) and back[2] == {"k": torch.Size([3])}
    with pytest.raises(ValueError, match="decode"):
        codec.decode({"tensor": {"dtype": "float32", "stored": "float32", "shape": [4], "data": "AAAA"}})
    with pytest.raises(ValueError, match="decode"):
        codec.decode({"pickle": "gASV"})


@pytest.mark.parametrize("lab", [f"{n:02d}" for n in range(9)])
def test_every_exercise_of_every_lab_has_cases_the_kernel_can_receive(lab):
    notebook = load(grading.find_lab(lab))
    hidden = ROOT / "instructor" / "hidden" / f"lab{lab}.py"
    recorder, extra = cases.checks(lab, hidden_source=hidden.read_text(encoding="utf-8") if hidden.exists() else "")
    for exercise in grading.lab_exercises(notebook):
        visible, secret = recorder(exercise.checker)
        if visible is None:                 # a checker that takes notebook values: not gradable (see the report)
            continue
        assert visible.cases and (visible.replay or all(case.expected is not None for case in visible.cases))
        assert secret is not None and secret.cases, f"lab {lab}: no hidden tests for {exercise.checker}"
        forbid = cases.forbid_paths([visible, secret], extra.get(exercise.checker, []))
        request = cases.request([visible, secret], forbid)
        text = json.dumps(request, allow_nan=False)
        assert "expected" not in text and '"object"' not in text
        assert len(request["cases"]) == len(visible.cases) + len(secret.cases)


def test_the_grader_judges_the_answers_itself():
    recorder, _ = cases.checks("01")
    visible, _ = recorder("check_warp")
    from reglab import warping

    right = [{"answer": codec.encode(warping.warp(*case.args)), "calls": []} for case in visible.cases]
    assert judging.judge(visible, right).passed == len(visible.cases)
    zeros = [{"answer": codec.encode(torch.zeros_like(case.expected)), "calls": []} for case in visible.cases]
    verdict = judging.judge(visible, zeros)
    assert verdict.passed == 0 and verdict.implemented
    opaque = [{"answer": {"object": "Liar"}, "calls": []} for _ in visible.cases]
    assert judging.judge(visible, opaque).passed == 0


def test_hidden_tests_are_not_shipped_in_the_wheel():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert all(pattern.startswith("reglab") for pattern in config["packages"]["find"]["include"])
    assert "instructor" not in json.dumps(config)
    assert not (ROOT / "reglab" / "instructor").exists()
