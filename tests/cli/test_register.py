"""Tests for the ``reglab`` command line (reglab.cli): tiny files in tmp_path, outputs read back by SimpleITK."""

import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from reglab.cli import COMMANDS, OUTPUTS, build_parser, main

FAST = ["--levels", "1", "--iterations", "30", "--quiet", "--device", "cpu"]


def blob_image(size=(40, 36), centre=(20.0, 17.0), spacing=(1.0, 1.0), origin=(0.0, 0.0)):
    """A smooth 2D Gaussian blob with two bumps (so rotations are visible), as a SimpleITK image (x, y order)."""
    y, x = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
    py, px = origin[1] + spacing[1] * y, origin[0] + spacing[0] * x                 # physical mm
    array = np.exp(-((px - centre[1]) ** 2 + (py - centre[0]) ** 2) / 60.0)
    array += 0.6 * np.exp(-((px - centre[1] - 6) ** 2 + (py - centre[0] + 5) ** 2) / 12.0)
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


@pytest.fixture
def pair(tmp_path):
    """Fixed on a 1 mm grid; moving on a 1.25 mm grid with another origin, the blob shifted by (1.5, -1) mm."""
    fixed = blob_image()
    moving = blob_image(size=(34, 30), centre=(19.0, 18.5), spacing=(1.25, 1.25), origin=(-2.0, 1.0))
    paths = tmp_path / "fixed.nii.gz", tmp_path / "moving.mha"
    sitk.WriteImage(fixed, str(paths[0]))
    sitk.WriteImage(moving, str(paths[1]))
    return paths


def run(*args):
    return main([str(a) for a in args])


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
    # SimpleITK resampling the moving file with the written transform gives the written warped image
    resampled = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0))
    expected = sitk.GetArrayFromImage(warped)
    scale = sitk.GetArrayFromImage(moving).max()     # the CLI rescales intensities to [0, 1] (percentiles)
    assert np.abs(resampled / scale - expected)[5:-5, 5:-5].max() < 0.05
    field = sitk.ReadImage(str(out / "displacement.nii.gz"))
    assert field.GetNumberOfComponentsPerPixel() == 2
    index = (17, 20)
    point = fixed.TransformIndexToPhysicalPoint(index)
    vector = np.array(field.GetPixel(index))
    assert np.allclose(np.array(point) + vector, transform.TransformPoint(point), atol=1e-3)
    assert (out / "overlay.png").stat().st_size > 1000


def test_never_overwrites_without_force(pair, tmp_path, capsys):
    out = tmp_path / "result"
    options = ["register", *pair, "--out", out, "--transform", "affine", *FAST]
    assert run(*options) == 0
    stamp = (out / "warped.nii.gz").stat().st_mtime_ns
    assert run(*options) == 2
    assert "pass --force to overwrite" in capsys.readouterr().err
    assert (out / "warped.nii.gz").stat().st_mtime_ns == stamp
    assert run(*options, "--force") == 0


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
    assert error.startswith("reglab register: error: ")
    assert __import__("re").search(message, error), error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("options, message", [
    (["--transform", "affine+spline"], "unknown model"),
    (["--similarity", "cc"], "unknown --similarity"),
    (["--regularization", "tv"], "unknown --regularization"),
    (["--levels", "0"], "expected --levels >= 1"),
])
def test_bad_options_are_reported(options, message, pair, tmp_path, capsys):
    assert run("register", *pair, "--out", tmp_path / "out", *FAST, *options) == 2
    assert message in capsys.readouterr().err


def test_one_image_only_is_an_error(pair, tmp_path, capsys):
    assert run("register", pair[0], "--out", tmp_path / "out", "--quiet") == 2
    assert "give both FIXED and MOVING, or neither" in capsys.readouterr().err


def test_demo_on_embedded_data(tmp_path):
    out = tmp_path / "demo"
    assert run("register", "--out", out, "--levels", "1", "--iterations", "2", "--quiet") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS + ("fixed.nii.gz", "moving.nii.gz"))
    assert sitk.ReadImage(str(out / "fixed.nii.gz")).GetSize() == (160, 196)


def test_help_and_subcommand_table(capsys):
    assert "register" in COMMANDS
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["register", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: reglab register" in text and "--force" in text and "transform.h5" in text
    assert main([]) == 2


def test_module_runs_as_a_program():
    done = subprocess.run([sys.executable, "-m", "reglab.cli", "register", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "FIXED" in done.stdout.upper()
