"""Input mistakes caught before a run: 4D series, truncated files, overlap and extents, masks on other grids."""

import gzip
import re

import numpy as np
import pytest
import SimpleITK as sitk

from tests.cli.conftest import FAST, blob_image, run


def placed(image, *, origin=None, spacing=None):
    """The same voxels with another origin or spacing (the content does not follow: a header change)."""
    image = sitk.Image(image)
    image.SetOrigin(origin or image.GetOrigin())
    image.SetSpacing(spacing or image.GetSpacing())
    return image


def error_line(capsys):
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("reglab register: error: "), error
    return error


def test_a_4d_file_with_several_volumes_is_one_clear_line(tmp_path, capsys):
    volume = sitk.GaussianSource(sitk.sitkFloat32, [12, 12, 12], [3.0] * 3, [6.0] * 3)
    series = tmp_path / "series.nii.gz"
    sitk.WriteImage(sitk.JoinSeries([volume] * 5), str(series))
    sitk.WriteImage(volume, str(tmp_path / "fixed.nii.gz"))
    assert run("register", tmp_path / "fixed.nii.gz", series, "--out", tmp_path / "out", *FAST) == 2
    assert "holds 5 volumes of 12×12×12 voxels (a 4D series)" in error_line(capsys)
    single = tmp_path / "single.nii.gz"                                    # a 4D file of one volume is that volume
    sitk.WriteImage(sitk.JoinSeries([volume]), str(single))
    assert run("register", tmp_path / "fixed.nii.gz", single, "--out", tmp_path / "out", "--transform", "affine",
               *FAST) == 0


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_a_truncated_nifti_is_caught(suffix, pair, tmp_path, capsys):
    # SimpleITK reads both without an error and fills the missing half with zeros
    moving = tmp_path / f"cut{suffix}"
    sitk.WriteImage(sitk.Cast(blob_image(size=(60, 60)), sitk.sitkInt16), str(moving))
    data = moving.read_bytes()
    moving.write_bytes(data[:len(data) // 2])
    assert (sitk.GetArrayFromImage(sitk.ReadImage(str(moving))) == 0).mean() > 0.4
    assert run("register", pair[0], moving, "--out", tmp_path / "out", *FAST) == 2
    assert re.search(r"cannot read the moving image: .* is truncated", error_line(capsys))
    assert not (tmp_path / "out").exists()


def test_a_gzip_without_a_nifti_header_is_still_checked_to_its_end(tmp_path):
    from reglab.cli.errors import CommandError
    from reglab.cli.inputs import check_complete

    path = tmp_path / "image.mha.gz"
    path.write_bytes(gzip.compress(b"x" * 100_000)[:-20])
    with pytest.raises(CommandError, match="truncated: its compressed data end early"):
        check_complete(path, "moving")


def test_an_image_mostly_exact_zeros_at_its_end_is_a_warning(pair, tmp_path, capsys):
    image = blob_image()
    array = sitk.GetArrayFromImage(image)
    array[len(array) * 2 // 5:] = 0                                      # the last 60 % in file order
    moving = sitk.GetImageFromArray(array)
    sitk.WriteImage(moving, str(tmp_path / "zeros.mha"))
    assert run("register", pair[0], tmp_path / "zeros.mha", "--out", tmp_path / "out", "--transform", "affine",
               *FAST) == 0
    assert re.search(r"warning: the last 6\d% of the moving image .* is exact zeros", capsys.readouterr().err)


def test_images_that_do_not_overlap_are_an_error(pair, tmp_path, capsys):
    far = placed(blob_image(), origin=(500.0, 0.0))
    sitk.WriteImage(far, str(tmp_path / "far.nii.gz"))
    assert run("register", pair[0], tmp_path / "far.nii.gz", "--out", tmp_path / "out", *FAST) == 2
    error = error_line(capsys)
    assert "do not overlap in physical space: fixed spans x [-0.5, 35.5] y [-0.5, 39.5] mm" in error
    assert "moving spans x [499.5, 535.5]" in error


def test_wildly_different_extents_are_an_error(pair, tmp_path, capsys):
    metres = placed(blob_image(), spacing=(1000.0, 1000.0))                        # a header in m read as mm
    sitk.WriteImage(metres, str(tmp_path / "metres.nii.gz"))
    assert run("register", pair[0], tmp_path / "metres.nii.gz", "--out", tmp_path / "out", *FAST) == 2
    assert "extents differ wildly (1000×): fixed 36×40 mm (spacing 1×1 mm), moving 36000×40000 mm" in error_line(capsys)


def test_a_small_overlap_is_a_warning(pair, tmp_path, capsys):
    sitk.WriteImage(placed(blob_image(), origin=(33.0, 0.0)), str(tmp_path / "shifted.nii.gz"))
    assert run("register", pair[0], tmp_path / "shifted.nii.gz", "--out", tmp_path / "out", "--transform", "affine",
               *FAST) == 0
    assert re.search(r"warning: only \d+% of the fixed image lies inside the moving image", capsys.readouterr().err)


def mask_file(path, image, value=1):
    mask = sitk.Image(image.GetSize(), sitk.sitkUInt8) + value
    mask.CopyInformation(image)
    sitk.WriteImage(mask, str(path))
    return path


def test_a_mask_of_all_ones_is_valid(pair, tmp_path):
    mask = mask_file(tmp_path / "mask.nii.gz", blob_image())
    assert run("register", *pair, "--out", tmp_path / "out", "--transform", "affine", *FAST, "--fixed-mask", mask) == 0


def test_a_mask_on_another_grid_is_resampled_through_its_geometry(pair, tmp_path, capsys):
    from reglab.cli.register import _mask

    coarse = sitk.Image([9, 10], sitk.sitkUInt8)                          # 4 mm voxels over the left half only
    coarse.SetSpacing((2.0, 4.0))
    coarse.SetOrigin((0.0, 0.0))
    coarse[0:9, 0:10] = 1
    path = tmp_path / "coarse.nii.gz"
    sitk.WriteImage(coarse, str(path))
    mask = _mask(path, blob_image())
    assert "is on another grid (9×10 voxels of 2×4 mm" in capsys.readouterr().err
    # physical x < 17 mm (the mask ends at x = 8 · 2 + 1 mm, a voxel's half) is inside, on the fixed 1 mm grid
    inside = mask[0, 0].numpy()
    assert inside.shape == (40, 36) and inside[:, :17].all() and not inside[:, 18:].any()
    assert run("register", *pair, "--out", tmp_path / "out", "--transform", "affine", *FAST, "--fixed-mask", path) == 0


def test_a_mask_that_selects_nothing_names_both_grids(pair, tmp_path, capsys):
    elsewhere = sitk.Image([8, 8], sitk.sitkUInt8) + 1
    elsewhere.SetOrigin((300.0, 300.0))
    sitk.WriteImage(elsewhere, str(tmp_path / "elsewhere.nii.gz"))
    assert run("register", *pair, "--out", tmp_path / "out", *FAST, "--fixed-mask", tmp_path / "elsewhere.nii.gz") == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert "selects no voxel of the fixed image (mask: 8×8 voxels of 1×1 mm at (300, 300) mm; fixed image: " \
           "36×40 voxels of 1×1 mm at (0, 0) mm)" in error


def test_labels_must_be_whole_numbers(pair, tmp_path, capsys):
    sitk.WriteImage(blob_image(), str(tmp_path / "soft.nii.gz"))
    assert run("register", *pair, "--out", tmp_path / "out", *FAST, "--moving-labels", tmp_path / "soft.nii.gz") == 2
    assert "holds fractional values; expected a label map" in error_line(capsys)


def test_inside_fraction_is_exact_on_a_shift():
    from reglab.cli.inputs import _inside_fraction

    fixed = blob_image(size=(10, 10))
    moving = placed(fixed, origin=(5.0, 0.0))
    assert _inside_fraction(fixed, moving) == pytest.approx(0.5)
    assert np.isclose(_inside_fraction(moving, moving), 1.0)
