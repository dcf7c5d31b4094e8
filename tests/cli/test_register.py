"""``reglab register``: outputs read back by SimpleITK, labels, metrics, the engine's default stages, B-spline spacing
in mm, progress records, the engine's warnings."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from reglab.cli import COMMANDS, OUTPUTS, build_parser, main
from reglab.registration import DEFAULT_STAGES
from tests.cli.conftest import FAST, blob_image, run


def test_register_writes_outputs_that_simpleitk_reads(pair, tmp_path):
    out = tmp_path / "result"
    assert run("register", *pair, "--out", out, "--transform", "rigid", "--similarity", "ncc", *FAST,
               "--optimizer", "lbfgs") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    fixed, moving = sitk.ReadImage(str(pair[0])), sitk.ReadImage(str(pair[1]))
    warped = sitk.ReadImage(str(out / "warped.nii.gz"))
    assert warped.GetSize() == fixed.GetSize() and np.allclose(warped.GetSpacing(), fixed.GetSpacing())
    transform = sitk.ReadTransform(str(out / "transform.h5"))
    # the moving blob sits at (x, y) = (18.5, 19) mm where the fixed one sits at (17, 20) mm
    assert np.allclose(transform.TransformPoint((17.0, 20.0)), (18.5, 19.0), atol=0.2)
    # warped.nii.gz holds the moving file's own intensities (0 … 1000 here), as SimpleITK resamples them
    resampled = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32))
    expected = sitk.GetArrayFromImage(warped)
    assert warped.GetPixelID() == sitk.sitkFloat32 and expected.max() > 900
    assert np.abs(resampled - expected).max() < 1e-3
    field = sitk.ReadImage(str(out / "displacement.nii.gz"))
    assert field.GetNumberOfComponentsPerPixel() == 2
    index = (17, 20)
    point = fixed.TransformIndexToPhysicalPoint(index)
    vector = np.array(field.GetPixel(index))
    assert np.allclose(np.array(point) + vector, transform.TransformPoint(point), atol=1e-3)
    assert (out / "overlay.png").stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["similarity"]["measure"] == "ncc" and metrics["similarity"]["after"] > metrics["similarity"]["before"]
    assert metrics["folding_percent"] == 0 and set(metrics["time_s"]) == {"rigid", "total"}


def dice_of(a, b, label):
    return 2 * np.sum((a == label) & (b == label)) / (np.sum(a == label) + np.sum(b == label))


def test_labels_are_warped_and_scored(pair, labels, tmp_path, capsys):
    out = tmp_path / "result"
    assert run("register", *pair, "--out", out, "--transform", "affine", "--similarity", "ncc", "--levels", "1",
               "--iterations", "40", "--device", "cpu", "--moving-labels", labels[1], "--fixed-labels", labels[0]) == 0
    printed = capsys.readouterr().out
    warped = sitk.ReadImage(str(out / "warped_labels.nii.gz"))
    assert warped.GetPixelID() == sitk.sitkUInt8                                   # the file's integer type kept
    array, fixed = sitk.GetArrayFromImage(warped), sitk.GetArrayFromImage(sitk.ReadImage(str(labels[0])))
    assert set(np.unique(array)) <= {0, 1, 2}
    # label-preserving resampling agrees with SimpleITK's nearest neighbour through the same transform, but at edges
    transform = sitk.ReadTransform(str(out / "transform.h5"))
    nearest = sitk.GetArrayFromImage(sitk.Resample(sitk.ReadImage(str(labels[1])), sitk.ReadImage(str(pair[0])),
                                                   transform, sitk.sitkNearestNeighbor, 0))
    assert (nearest == array).mean() > 0.95
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["labels"]
    assert sorted(metrics) == ["1", "2"]
    for label, row in metrics.items():
        assert row["dice_after"] == pytest.approx(dice_of(fixed, array, int(label)), abs=1e-6)    # NumPy oracle
        assert row["dice_after"] > row["dice_before"] and row["dice_after"] > 0.9
        assert 0 <= row["hd95_mm_after"] < row["hd95_mm_before"]
    assert re.search(r"label\s+Dice before → after\s+HD95 \(mm\) before → after", printed)
    assert re.search(rf"^2\s+{metrics['2']['dice_before']:.3f} → {metrics['2']['dice_after']:.3f}", printed, re.M)
    assert str(out / "warped_labels.nii.gz") in printed


def test_fixed_labels_need_moving_labels(pair, labels, tmp_path, capsys):
    assert run("register", *pair, "--out", tmp_path / "out", *FAST, "--fixed-labels", labels[0]) == 2
    assert "--fixed-labels needs --moving-labels" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bspline_spacing_is_in_mm_on_an_anisotropic_grid(tmp_path, capsys):
    fixed = blob_image(size=(72, 20), spacing=(0.5, 2.0))               # ITK (x, y) spacing: 0.5 mm × 2 mm
    paths = tmp_path / "fixed.nii.gz", tmp_path / "moving.nii.gz"
    sitk.WriteImage(fixed, str(paths[0]))
    sitk.WriteImage(blob_image(), str(paths[1]))
    out = tmp_path / "result"
    assert run("register", *paths, "--out", out, "--transform", "affine+bspline", "--levels", "1", "--iterations", "3",
               "--device", "cpu", "--grid-spacing", "8") == 0
    composite = sitk.CompositeTransform(sitk.ReadTransform(str(out / "transform.h5")))
    bspline = [composite.GetNthTransform(i) for i in range(composite.GetNumberOfTransforms())
               if composite.GetNthTransform(i).GetName() == "BSplineTransform"]
    coefficients = sitk.BSplineTransform(bspline[0]).GetCoefficientImages()[0]
    assert coefficients.GetSpacing() == (8.0, 8.0)                     # 16 voxels of 0.5 mm, 4 voxels of 2 mm
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["bspline_control_spacing_mm"] == [8.0, 8.0]
    assert "control points every 8×8 mm" in capsys.readouterr().out


def test_each_stage_leaves_a_one_line_progress_record(pair, tmp_path, capsys):
    assert run("register", *pair, "--out", tmp_path / "result", "--transform", "affine+bspline", "--levels", "1",
               "--iterations", "4", "--device", "cpu") == 0
    captured = capsys.readouterr()
    for stage in ("affine", "bspline"):
        assert re.search(rf"{stage}\s*: \d+ iterations in \d\d:\d\d", captured.err), captured.err
    assert re.search(r"^time\s+affine [\d.]+ s, bspline [\d.]+ s; [\d.]+ s in all", captured.out, re.M)
    assert re.search(r"^mi\s+[\d.]+ before, [\d.]+ after", captured.out, re.M)       # --transform: mi as before
    assert re.search(r"^folding\s+[\d.]+ % of the fixed grid", captured.out, re.M)


def test_default_run_is_the_engines_stages(pair, tmp_path, capsys):
    from reglab.registration import DEFAULT_STAGES

    out = tmp_path / "result"
    assert run("register", *pair, "--out", out, "--iterations", "6,4,0", "--device", "cpu") == 0
    captured = capsys.readouterr()
    for stage in ("affine", "svf"):
        assert re.search(rf"{stage}\s*: \d+ iterations in \d\d:\d\d", captured.err), captured.err
    assert re.search(r"^time\s+affine [\d.]+ s, svf [\d.]+ s; [\d.]+ s in all", captured.out, re.M)
    assert re.search(r"^local_ncc\s+-?[\d.]+ before, [\d.]+ after .*window 5", captured.out, re.M)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["transform"] == "affine+svf" and set(metrics["time_s"]) == {"affine", "svf", "total"}
    for used, engine in zip(metrics["stages"], DEFAULT_STAGES):          # each stage's own options, iterations given
        assert used == {**engine, "iterations": [6, 4, 0]}
    assert metrics["similarity"]["after"] > metrics["similarity"]["before"]
    # transform.h5 is a composite (affine, then a displacement field) that SimpleITK reads and resamples with
    # to exactly warped.nii.gz, which holds the moving file's own intensities (0 … 1000)
    composite = sitk.CompositeTransform(sitk.ReadTransform(str(out / "transform.h5")))
    kinds = sorted(composite.GetNthTransform(i).GetName() for i in range(composite.GetNumberOfTransforms()))
    assert kinds == ["AffineTransform", "DisplacementFieldTransform"], kinds
    fixed, moving = sitk.ReadImage(str(pair[0])), sitk.ReadImage(str(pair[1]))
    resampled = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, composite, sitk.sitkLinear, 0.0, sitk.sitkFloat32))
    warped = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "warped.nii.gz")))
    assert warped.max() > 900 and np.abs(resampled - warped).max() < 1e-3


@pytest.mark.parametrize("options, message", [
    (["--levels", "2"], "the affine stage's default 40,20,0 has 3 levels' iterations, --levels is 2; give "
                        "--iterations"),
    (["--iterations", "5,3"], "--iterations 5,3 has 2 levels' iterations, --levels is 3"),
    (["--iterations", "5,x"], "expected --iterations as a whole number >= 0 or one per level"),
    (["--iterations", "-1"], "expected --iterations as a whole number >= 0"),
])
def test_iterations_per_level_must_match_the_levels(options, message, pair, tmp_path, capsys):
    assert run("register", *pair, "--out", tmp_path / "out", "--quiet", "--device", "cpu", *options) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error, error
    assert not (tmp_path / "out").exists()


def test_a_stage_option_replaces_it_in_every_default_stage(pair, tmp_path):
    out = tmp_path / "result"
    assert run("register", *pair, "--out", out, "--similarity", "mi", "--weight", "2", "--levels", "2",
               "--iterations", "3,2", "--quiet", "--device", "cpu") == 0
    stages = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["stages"]
    assert [s["similarity"] for s in stages] == ["mi", "mi"] and "similarity_options" not in stages[1]
    assert stages[1]["regularization"] == "diffusion" and stages[1]["weight"] == 2.0
    assert [s["iterations"] for s in stages] == [[3, 2], [3, 2]]


def test_engine_warnings_are_printed_once(pair, tmp_path, capsys, monkeypatch, recwarn):
    from reglab.registration import plausibility

    monkeypatch.setattr(plausibility, "MAX_SCALE", 1.0)               # any fitted affine map now looks implausible
    out = tmp_path / "result"
    assert run("register", *pair, "--out", out, "--transform", "affine", "--similarity", "ncc", "--levels", "1",
               "--iterations", "20", "--device", "cpu") == 0
    printed = capsys.readouterr()
    lines = [line for line in printed.out.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and re.match(r"warning:\s+stage 0 \(affine\): the affine part scales by", lines[0]), lines
    assert "warning" not in printed.err and not [w for w in recwarn if "register()" in str(w.message)]
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["warnings"] == [lines[0].split(None, 1)[1]]
    assert run("register", *pair, "--out", out, "--force", "--transform", "affine", "--similarity", "ncc",
               "--levels", "1", "--iterations", "20", "--device", "cpu", "--quiet") == 0
    printed = capsys.readouterr()
    assert printed.out == ""
    assert re.fullmatch(r"reglab: warning: stage 0 \(affine\): the affine part [^\n]*\n", printed.err), printed.err


def test_never_overwrites_without_force(pair, labels, tmp_path, capsys):
    out = tmp_path / "result"
    options = ["register", *pair, "--out", out, "--transform", "affine", *FAST]
    assert run(*options, "--moving-labels", labels[1]) == 0
    (out / "notes.txt").write_text("the user's own file")
    stamp = (out / "warped.nii.gz").stat().st_mtime_ns
    assert run(*options) == 2
    assert "pass --force to overwrite" in capsys.readouterr().err
    assert (out / "warped.nii.gz").stat().st_mtime_ns == stamp
    assert run(*options, "--force") == 0
    # the new set replaced the old one whole: no stale warped_labels from the first run; the user's file stays
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS + ("notes.txt",))


@pytest.mark.parametrize("problem, message", [
    ("missing", "cannot read the moving image: .*no such file"),
    ("garbage", "cannot read the moving image: .*SimpleITK cannot read"),
    ("empty", "moving image .* is empty: every voxel is 0"),
    ("3d", "different dimensions: fixed is 2D, moving is 3D"),
    ("tiny", "too small or empty"),
])
def test_bad_inputs_are_reported(problem, message, pair, tmp_path, capsys):
    moving = tmp_path / "bad.nii.gz"
    if problem == "garbage":
        moving.write_bytes(b"this is not an image")
    elif problem == "empty":
        sitk.WriteImage(sitk.Image([16, 16], sitk.sitkFloat32), str(moving))
    elif problem == "3d":
        sitk.WriteImage(sitk.GaussianSource(sitk.sitkFloat32, [16, 16, 16], [4.0] * 3, [8.0] * 3), str(moving))
    elif problem == "tiny":
        sitk.WriteImage(sitk.GaussianSource(sitk.sitkFloat32, [16, 2], [4.0, 1.0], [8.0, 1.0]), str(moving))
    assert run("register", pair[0], moving, "--out", tmp_path / "out", *FAST) == 2
    error = capsys.readouterr().err
    assert error.startswith("reglab register: error: ") and error.count("\n") == 1
    assert re.search(message, error), error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("options, message", [
    (["--transform", "affine+spline"], "unknown model"),
    (["--similarity", "cc"], "unknown --similarity"),
    (["--regularization", "tv"], "unknown --regularization"),
    (["--levels", "0"], "expected --levels >= 1"),
    (["--weight", "nan"], "expected --weight to be a finite number >= 0, got nan"),
    (["--weight", "-1"], "expected --weight to be a finite number >= 0"),
    (["--grid-spacing", "inf"], "expected --grid-spacing to be a finite number > 0"),
    (["--device", "mps"], "--device 'mps' is not available in this PyTorch build .*available: cpu"),
    (["--device", "nonsense"], "--device 'nonsense' is not available"),
])
def test_bad_options_are_one_line_and_exit_code_2(options, message, pair, tmp_path, capsys):
    assert run("register", *pair, "--out", tmp_path / "out", *FAST, *options) == 2
    error = capsys.readouterr().err
    assert error.startswith("reglab register: error: ") and error.count("\n") == 1, error
    assert re.search(message, error), error
    assert not (tmp_path / "out").exists()


def test_one_image_only_is_an_error(pair, tmp_path, capsys):
    assert run("register", pair[0], "--out", tmp_path / "out", "--quiet") == 2
    assert "give both FIXED and MOVING, or neither" in capsys.readouterr().err


def test_demo_on_embedded_data(tmp_path):
    out = tmp_path / "demo"
    assert run("register", "--out", out, "--levels", "1", "--iterations", "2", "--quiet", "--device", "cpu") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS + ("fixed.nii.gz", "moving.nii.gz"))
    assert sitk.ReadImage(str(out / "fixed.nii.gz")).GetSize() == (160, 196)


def test_help_and_subcommand_table(capsys):
    assert {"register", "apply", "grade"} <= set(COMMANDS)
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["register", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: reglab register" in text and "--force" in text and "transform.h5" in text
    assert "--moving-labels" in text and "spacing in mm" in text
    text = " ".join(text.split())
    assert "same contrast use local_ncc" in text and "DEFAULT_STAGES" in text
    for stage in DEFAULT_STAGES:                             # the help states each default stage's schedule
        assert ", ".join(map(str, stage["iterations"])) in text
    assert main([]) == 2


def test_module_runs_as_a_program():
    done = subprocess.run([sys.executable, "-m", "reglab.cli", "register", "--help"], capture_output=True,
                          encoding="utf-8", errors="replace", timeout=120)
    assert done.returncode == 0 and "FIXED" in done.stdout.upper()
