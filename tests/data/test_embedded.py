"""Tests for reglab.data.embedded: shapes, spacing, labels, geometry, and the build script."""

import hashlib
import importlib.util
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import torch.nn.functional as F

from reglab.data import LABELS, PLANES, load_brain, load_brain_slice, load_circle_c, load_t1_slice
from reglab.io import to_sitk

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = resources.files("reglab.data") / "embedded"


def _correlation(a, b):
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


# ---------------------------------------------------------------- shapes, dtypes, values


def test_brain_shapes_dtypes_spacing():
    brain = load_brain()
    assert brain.image.shape == (1, 1, 84, 98, 80) and brain.image.dtype == torch.float32
    assert brain.labels.shape == (1, 1, 84, 98, 80) and brain.labels.dtype == torch.int64
    assert brain.tissues.shape == (1, 3, 84, 98, 80) and brain.tissues.dtype == torch.float32
    assert brain.spacing == (2.0, 2.0, 2.0) == brain.geometry.spacing
    assert 0 <= brain.image.min() and brain.image.max() <= 1
    assert brain.labels.unique().tolist() == sorted(LABELS)


@pytest.mark.parametrize("plane, shape", [("axial", (196, 160)), ("coronal", (168, 160)), ("sagittal", (168, 196))])
def test_slice_shapes(plane, shape):
    brain = load_brain_slice(plane)
    assert brain.image.shape == (1, 1, *shape) and brain.labels.shape == (1, 1, *shape)
    assert brain.tissues.shape == (1, 3, *shape)
    assert brain.spacing == (1.0, 1.0) and brain.geometry.ndim == 2
    assert brain.labels.unique().tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("source", ["volume", *PLANES])
def test_labels_are_the_most_probable_tissue(source):
    """Oracle: recompute the labels from the shipped tissue maps with NumPy."""
    brain = load_brain() if source == "volume" else load_brain_slice(source)
    tissues = brain.tissues[0].numpy().astype(np.float64)
    background = np.clip(1 - tissues.sum(0), 0, 1)
    expected = np.argmax(np.concatenate([background[None], tissues]), axis=0)
    agreement = (expected == brain.labels[0, 0].numpy()).mean()
    assert agreement > 0.995            # only uint8 rounding of near-ties may differ
    assert (tissues.sum(0) <= 1 + 3 / 255).all() and tissues.min() >= 0


def test_tissue_fractions_and_intensities_are_anatomical():
    brain = load_brain()
    fractions = [(brain.labels == k).float().mean().item() for k in range(4)]
    assert fractions[0] > 0.5 and fractions[2] > fractions[3] > fractions[1] > 0.02   # GM > WM > CSF in volume
    means = [brain.image[brain.labels == k].mean().item() for k in (1, 2, 3)]
    assert means[0] < means[1] < means[2]                                           # T1: CSF < GM < WM


def test_circle_c_and_t1_slice():
    pair = load_circle_c()
    assert pair.fixed.shape == pair.moving.shape == (1, 1, 256, 256)
    assert pair.fixed.unique().tolist() == [0.0, 1.0] and pair.moving.unique().tolist() == [0.0, 1.0]
    assert pair.fixed.sum() < pair.moving.sum()                  # the C is the disc with a gap cut out
    assert ((pair.fixed == 1) & (pair.moving == 0)).sum() < 0.05 * pair.fixed.sum()
    t1 = load_t1_slice()
    assert t1.shape == (1, 1, 256, 256) and t1.dtype == torch.float32
    assert t1.min() == 0 and t1.max() == 1


def test_loaders_return_fresh_tensors():
    first = load_brain_slice("axial")
    first.image.zero_()
    first.labels.zero_()
    again = load_brain_slice("axial")
    assert again.image.max() > 0 and again.labels.max() == 3


def test_unknown_plane():
    with pytest.raises(ValueError, match=r"load_brain_slice\(\): expected `plane` to be one of 'axial'"):
        load_brain_slice("transverse")


# ---------------------------------------------------------------- orientation and geometry


def test_axes_orientation():
    """D runs superior→inferior, H anterior→posterior, W left→right (the template is symmetric in W)."""
    brain = load_brain()
    image = brain.image[0, 0]
    assert _correlation(image, image.flip(2)) > 0.95             # left-right mirror symmetric ("sym" template)
    assert _correlation(image, image.flip(1)) < 0.8              # front and back differ
    labels = brain.labels[0, 0] > 0
    assert labels[:3].sum() == 0 and labels[-1].sum() > 0      # above the vertex: nothing; the bottom cuts the cerebellum
    cerebellum = torch.nonzero(labels[-5:]).double().mean(0)    # the lowest slices hold cerebellum and brainstem,
    assert cerebellum[1] > labels.shape[1] / 2                  # which are posterior: large H
    centroid = torch.nonzero(labels).double().mean(0)
    physical = brain.geometry.index_to_physical(centroid[None])[0]
    assert abs(physical[0].item()) < 3.0                         # MNI x ≈ 0 at the brain's centre


def test_geometry_matches_simpleitk():
    """Oracle: SimpleITK maps voxel indices to the same physical points as Geometry."""
    for brain in (load_brain(), load_brain_slice("coronal")):
        image = to_sitk(brain.image, brain.geometry)
        index = [3, 5, 7][: brain.geometry.ndim]
        expected = image.TransformIndexToPhysicalPoint(index[::-1])        # ITK index order is reversed
        actual = brain.geometry.index_to_physical(torch.tensor([index], dtype=torch.float64))[0]
        np.testing.assert_allclose(actual.numpy(), expected, atol=1e-9)


def test_mni_origin_is_anterior_commissure_region():
    """MNI (0, 0, 0) lies inside the brain, between the hemispheres, near the centre of the 3D volume."""
    brain = load_brain()
    index = brain.geometry.physical_to_index(torch.zeros(1, 3, dtype=torch.float64))[0]
    d, h, w = index.round().long().tolist()
    assert brain.labels[0, 0, d, h, w] > 0
    assert abs(w - 39.5) < 1.5                                   # the midline


def test_axial_slice_matches_the_volume():
    """The 1 mm axial slice (z = +8 mm), averaged to 2 mm, matches the 2 mm volume interpolated at z = +8 mm."""
    brain, axial = load_brain(), load_brain_slice("axial")
    z = brain.geometry.physical_to_index(torch.tensor([[0.0, 0.0, 8.0]], dtype=torch.float64))[0, 0].item()
    low = int(np.floor(z))
    volume_slice = (1 - (z - low)) * brain.image[0, 0, low] + (z - low) * brain.image[0, 0, low + 1]
    averaged = F.avg_pool2d(axial.image, 2)[0, 0]
    assert averaged.shape == volume_slice.shape
    assert _correlation(averaged, volume_slice) > 0.97


# ---------------------------------------------------------------- files and build script


def test_manifest_checksums_match_the_shipped_arrays():
    manifest = json.loads((EMBEDDED / "manifest.json").read_text(encoding="utf-8"))
    for name, arrays in manifest["arrays_sha256"].items():
        with np.load(EMBEDDED / name) as archive:
            for key, digest in arrays.items():
                assert hashlib.sha256(np.ascontiguousarray(archive[key]).tobytes()).hexdigest() == digest, (name, key)


def test_embedded_size_and_notices():
    files = [f for f in EMBEDDED.iterdir() if f.is_file() and "hippocampus" not in f.name]   # tests/data/test_hippocampus.py
    assert sum(f.stat().st_size for f in files) < 1.2e6
    names = {f.name for f in files}
    assert {"LICENSE-MNI.txt", "LICENSE-dipy.txt", "CITATION.md"} <= names
    assert "Copyright (C) 1993-2009 Louis Collins" in (EMBEDDED / "LICENSE-MNI.txt").read_text(encoding="utf-8")


@pytest.mark.skipif(importlib.util.find_spec("nilearn") is None or importlib.util.find_spec("dipy") is None,
                    reason="the build-time sources (nilearn, dipy) are not installed")
def test_build_script_reproduces_the_shipped_arrays(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "data" / "make_embedded.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    rebuilt = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    shipped = json.loads((EMBEDDED / "manifest.json").read_text(encoding="utf-8"))
    assert rebuilt == shipped
