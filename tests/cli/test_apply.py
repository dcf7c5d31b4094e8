"""``reglab apply``: a saved transform on another image or label map gives what ``reglab register`` wrote."""

import numpy as np
import pytest
import SimpleITK as sitk

from tests.cli.conftest import FAST, run


@pytest.fixture
def result(pair, labels, tmp_path):
    out = tmp_path / "result"
    assert run("register", *pair, "--out", out, "--transform", "affine", *FAST, "--moving-labels", labels[1]) == 0
    return out


def test_apply_reproduces_the_warped_image_and_labels(pair, labels, result, tmp_path):
    assert run("apply", result / "transform.h5", pair[1], "--reference", pair[0], "--out", tmp_path / "w.nii.gz") == 0
    assert run("apply", result / "transform.h5", labels[1], "--reference", pair[0], "--out", tmp_path / "l.nii.gz",
               "--labels") == 0
    for mine, theirs in (("w.nii.gz", "warped.nii.gz"), ("l.nii.gz", "warped_labels.nii.gz")):
        a, b = (sitk.ReadImage(str(path)) for path in (tmp_path / mine, result / theirs))
        assert a.GetPixelID() == b.GetPixelID()
        assert np.array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))


def test_apply_to_labels_on_another_grid_matches_nearest_neighbour(pair, labels, result, tmp_path):
    fine = sitk.Resample(sitk.ReadImage(str(labels[1])), [80, 70], sitk.Transform(), sitk.sitkNearestNeighbor,
                         (-2.0, 1.0), (0.5, 0.5), (1.0, 0.0, 0.0, 1.0), 0)      # the moving labels on a 0.5 mm grid
    sitk.WriteImage(fine, str(tmp_path / "fine.nrrd"))
    assert run("apply", result / "transform.h5", tmp_path / "fine.nrrd", "--reference", pair[0], "--out",
               tmp_path / "on_fixed.nii.gz", "--labels") == 0
    mine = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "on_fixed.nii.gz")))
    nearest = sitk.GetArrayFromImage(sitk.Resample(fine, sitk.ReadImage(str(pair[0])),
                                                   sitk.ReadTransform(str(result / "transform.h5")),
                                                   sitk.sitkNearestNeighbor, 0))
    assert mine.dtype == np.uint8 and (mine == nearest).mean() > 0.95


@pytest.mark.parametrize("problem, message", [
    ("no-transform", "cannot read the transform: no such file"),
    ("bad-transform", "cannot read the transform: SimpleITK cannot read"),
    ("exists", "exists; pass --force to overwrite it"),
    ("3d-reference", "expected the same dimension for the transform, the image and the reference, got transform 2D, "
                     "image 2D, reference 3D"),
])
def test_apply_errors_are_one_line(problem, message, pair, result, tmp_path, capsys):
    transform, reference, out = result / "transform.h5", pair[0], tmp_path / "out.nii.gz"
    if problem == "no-transform":
        transform = tmp_path / "missing.h5"
    elif problem == "bad-transform":
        transform = tmp_path / "bad.h5"
        transform.write_text("not a transform")
    elif problem == "exists":
        out.write_text("keep me")
    else:
        reference = tmp_path / "volume.nii.gz"
        sitk.WriteImage(sitk.Image([8, 8, 8], sitk.sitkFloat32), str(reference))
    assert run("apply", transform, pair[1], "--reference", reference, "--out", out) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("reglab apply: error: ") and message in error, error
    assert not out.exists() or out.read_text(encoding="utf-8") == "keep me"
