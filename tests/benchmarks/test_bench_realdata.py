"""benchmarks/bench_realdata.py's pair-by-pair comparison (``paired``) and ``--combine`` of earlier runs."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_realdata.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_realdata", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(dice, hd95):
    return {"dice": list(dice), "hd95": list(hd95), "folding": 0.0, "cpu": 1.0, "wall": 1.0}


def test_paired_means_and_counts(bench):
    tool = [_row((0.8, 0.7), (2.0, 3.0)), _row((0.6, 0.7), (1.0, 3.0)), _row((0.9, 0.5), (4.0, 2.0))]
    reference = [_row((0.7, 0.7), (3.0, 3.0)), _row((0.7, 0.6), (1.0, 2.0)), _row((0.8, 0.6), (2.0, 2.0))]
    out = {name: (mean, interval, better, worse)
           for name, mean, interval, better, worse in bench.paired(tool, reference)}
    mean, (low, high), better, worse = out["Dice anterior"]
    assert mean == pytest.approx(np.mean([0.1, -0.1, 0.1]))
    assert (better, worse) == (2, 1)
    assert low <= mean <= high and low >= -0.1 - 1e-12 and high <= 0.1 + 1e-12
    mean, _, better, worse = out["HD95 anterior (mm)"]                   # lower is better: -1, 0, +2
    assert mean == pytest.approx(1 / 3) and (better, worse) == (1, 1)
    mean, _, better, worse = out["HD95 posterior (mm)"]
    assert mean == pytest.approx(1 / 3) and (better, worse) == (0, 1)                # 0, +1, 0: one tie


def test_paired_interval_of_a_constant_difference_is_that_difference(bench):
    tool = [_row((0.8, 0.8), (2.0, 2.0))] * 5
    reference = [_row((0.75, 0.8), (2.5, 2.0))] * 5
    for name, mean, (low, high), better, worse in bench.paired(tool, reference, resamples=50):
        assert low == pytest.approx(mean) and high == pytest.approx(mean)


def test_paired_refuses_unmatched_pairs(bench):
    with pytest.raises(ValueError, match=r"paired\(\): expected the same number"):
        bench.paired([_row((1, 1), (1, 1))], [])


def test_combine_renders_the_pairs_of_both_runs(bench, tmp_path, monkeypatch, capsys):
    runs = []
    for index, pairs in enumerate(([["038", "039"]], [["199", "203"], ["204", "205"]])):
        results = {"before": [_row((0.5, 0.5), (4.0, 4.0))] * len(pairs),
                   "ants-syn": [_row((0.7, 0.7), (2.0, 2.0))] * len(pairs),
                   "reglab-defaults": [_row((0.8, 0.6), (1.0, 3.0))] * len(pairs)}
        runs.append(tmp_path / f"run{index}.json")
        runs[-1].write_text(json.dumps({"threads": 2, "pairs": pairs, "results": results}))
    out = tmp_path / "combined.md"
    monkeypatch.setattr(sys, "argv", ["bench_realdata.py", "--combine", *map(str, runs), "--out", str(out)])
    assert bench.main() == 0
    table = out.read_text(encoding="utf-8")
    assert "3 pairs" in table and "038<-039, 199<-203, 204<-205" in table
    assert "| reglab-defaults | 0.800 | 0.600 | 0.700 | 1.00 | 3.00 |" in table
    assert "| reglab-defaults | +0.100 [+0.100, +0.100], 3 / 0 | -0.100 [-0.100, -0.100], 0 / 3 |" in table
    assert table in capsys.readouterr().out + "\n"


def test_combine_refuses_runs_at_different_thread_counts(bench, tmp_path, monkeypatch):
    for threads in (1, 2):
        (tmp_path / f"{threads}.json").write_text(json.dumps({"threads": threads, "pairs": [], "results": {}}))
    files = [str(tmp_path / "1.json"), str(tmp_path / "2.json")]
    monkeypatch.setattr(sys, "argv", ["bench_realdata.py", "--combine", *files])
    with pytest.raises(SystemExit, match="one thread count"):
        bench.main()
