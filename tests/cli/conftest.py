"""Small files the command-line tests write: a 2D blob pair on different grids, with label maps."""

import numpy as np
import pytest
import SimpleITK as sitk

from reglab.cli import main

FAST = ["--levels", "1", "--iterations", "30", "--quiet", "--device", "cpu"]
"""Options that keep one run of ``reglab register`` on a tiny 2D pair under a second or two."""


def blob_image(size=(40, 36), centre=(20.0, 17.0), spacing=(1.0, 1.0), origin=(0.0, 0.0)):
    """A smooth 2D Gaussian blob with two bumps (so rotations are visible), as a SimpleITK image (x, y order)."""
    y, x = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
    py, px = origin[1] + spacing[1] * y, origin[0] + spacing[0] * x                 # physical mm
    array = np.exp(-((px - centre[1]) ** 2 + (py - centre[0]) ** 2) / 60.0)
    array += 0.6 * np.exp(-((px - centre[1] - 6) ** 2 + (py - centre[0] + 5) ** 2) / 12.0)
    image = sitk.GetImageFromArray((1000 * array).astype(np.float32))                # scanner-like range
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def blob_labels(image):
    """Two labels (uint8) from an image made by :func:`blob_image`: the core (2) and a ring around it (1)."""
    array = sitk.GetArrayFromImage(image)
    labels = np.where(array > 700, 2, np.where(array > 300, 1, 0)).astype(np.uint8)
    result = sitk.GetImageFromArray(labels)
    result.CopyInformation(image)
    return result


FIXED = dict()
MOVING = dict(size=(34, 30), centre=(19.0, 18.5), spacing=(1.25, 1.25), origin=(-2.0, 1.0))
"""Fixed on a 1 mm grid; moving on a 1.25 mm grid with another origin, the blob shifted by (1.5, -1) mm."""


@pytest.fixture
def pair(tmp_path):
    """Paths of the fixed (.nii.gz) and moving (.mha) images."""
    paths = tmp_path / "fixed.nii.gz", tmp_path / "moving.mha"
    sitk.WriteImage(blob_image(**FIXED), str(paths[0]))
    sitk.WriteImage(blob_image(**MOVING), str(paths[1]))
    return paths


@pytest.fixture
def labels(tmp_path):
    """Paths of the fixed and moving label maps (uint8, each on its image's grid)."""
    paths = tmp_path / "fixed_labels.nii.gz", tmp_path / "moving_labels.nii.gz"
    sitk.WriteImage(blob_labels(blob_image(**FIXED)), str(paths[0]))
    sitk.WriteImage(blob_labels(blob_image(**MOVING)), str(paths[1]))
    return paths


def run(*args):
    """``reglab ARGS`` in this process; the exit code."""
    return main([str(a) for a in args])


def snapshot(folder):
    """Names, sizes and modification times of the files in ``folder`` (None when it does not exist)."""
    if not folder.exists():
        return None
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def leftovers(parent):
    """Hidden staging folders left beside the outputs (there must be none)."""
    return sorted(p.name for p in parent.iterdir() if ".reglab-" in p.name)
