"""Tests for reglab.data.hippocampus: the embedded MSD subset, its split, its build and its packaging."""

import fnmatch
import hashlib
import json
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from reglab.data import HIPPOCAMPUS_LABELS, SPLITS, HippocampusPairs, load_hippocampus
from reglab.evaluation import dice
from reglab.training import evaluate

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = resources.files("reglab.data") / "embedded"
SHARED = ROOT.parent / "shared" / "data" / "msd_hippocampus_l2r"
FILES = ("msd_hippocampus_20.npz", "hippocampus_manifest.json", "hippocampus_LICENSE.md")
needs_shared = pytest.mark.skipif(not (SHARED / "SHA256SUMS").exists(),
                                  reason="the shared originals ../shared/data/msd_hippocampus_l2r are absent")


# ---------------------------------------------------------------- shapes, values, geometry


def test_shapes_dtypes_spacing_and_values():
    data = load_hippocampus()
    assert data.image.shape == data.labels.shape == data.region.shape == (20, 1, 43, 52, 42)
    assert data.image.dtype == torch.float32 and data.labels.dtype == torch.int64 and data.region.dtype == torch.bool
    assert data.spacing == data.geometry.spacing == (1.0, 1.0, 1.0)
    assert 0 <= data.image.min() and data.image.max() <= 1
    assert len(data.subjects) == len(set(data.subjects)) == 20 and data.subjects == tuple(sorted(data.subjects))
    for b in range(20):                                          # every subject has both labels, inside its region
        assert data.labels[b].unique().tolist() == sorted(HIPPOCAMPUS_LABELS)
        assert not (data.labels[b] > 0)[~data.region[b]].any()


def test_one_subject_by_position_and_by_id():
    by_position, by_id = load_hippocampus(1), load_hippocampus("hippocampus_004")
    assert by_position.subjects == by_id.subjects == ("004",) and by_id.image.shape == (1, 1, 43, 52, 42)
    assert torch.equal(by_position.image, by_id.image) and torch.equal(by_id.labels, load_hippocampus().labels[1:2])
    assert by_id.labels.eq(1).sum() == 1832 and by_id.labels.eq(2).sum() == 1866    # SOURCE.md's counts
    assert load_hippocampus(0, dtype=torch.float64).image.dtype == torch.float64


def test_padding_repeats_the_edges_like_learn2reg():
    data = load_hippocampus(0)
    region, image = data.region[0, 0], data.image[0, 0]
    start = [int(torch.nonzero(region.any(dim=tuple(a for a in range(3) if a != axis)))[0]) for axis in range(3)]
    assert start == [4, 0, 3]                                    # 001: z 14, y 6, x 14 on the 64³ grid; box z 10, x 11
    assert torch.equal(image[:4], image[4:5].expand(4, -1, -1))  # the padded slices repeat the first scanned one


@pytest.mark.parametrize("subject, error", [(20, ValueError), ("002", ValueError), (1.0, TypeError)])
def test_errors(subject, error):
    with pytest.raises(error, match="load_hippocampus"):
        load_hippocampus(subject)


@needs_shared
@pytest.mark.parametrize("subject", ["001", "004", "033"])
def test_matches_the_originals_in_physical_space(subject):
    """Oracle: SimpleITK reads the original, crops the same box; intensities equal up to the 6-bit rescaling."""
    data = load_hippocampus(subject)
    original = sitk.ReadImage(str(SHARED / "Training" / "img" / f"hippocampus_{subject}.nii.gz"))
    labels = sitk.ReadImage(str(SHARED / "Training" / "label" / f"hippocampus_{subject}.nii.gz"))
    start = [int(round(i)) for i in original.TransformPhysicalPointToContinuousIndex(data.geometry.origin)]
    size = [43, 52, 42][::-1]
    crop = sitk.RegionOfInterest(original, size, start)
    assert np.allclose(crop.GetOrigin(), data.geometry.origin)
    assert np.allclose(crop.GetDirection(), data.geometry.direction)
    expected_labels = sitk.GetArrayFromImage(sitk.RegionOfInterest(labels, size, start))
    assert np.array_equal(expected_labels, data.labels[0, 0].numpy())
    array = sitk.GetArrayFromImage(crop).astype(np.float64)
    inside = data.region[0, 0].numpy()
    low, high = np.percentile(array[inside], [0.5, 99.5])
    expected = np.clip((array - low) / (high - low), 0, 1)
    assert np.abs(expected - data.image[0, 0].double().numpy()).max() <= 0.5 / 63 + 1e-6


# ---------------------------------------------------------------- pairs and split


def test_split_is_disjoint_and_covers_every_subject():
    subjects = [s for split in SPLITS.values() for s in split]
    assert sorted(subjects) == list(load_hippocampus().subjects) and len(set(subjects)) == 20
    assert {name: len(split) for name, split in SPLITS.items()} == {"train": 12, "validation": 3, "test": 5}


@pytest.mark.parametrize("split, length", [("train", 132), ("validation", 6), ("test", 20)])
def test_pairs_stay_within_their_split(split, length):
    pairs = HippocampusPairs(split)
    assert len(pairs) == length
    for fixed, moving in pairs.subjects:
        assert fixed != moving and fixed in SPLITS[split] and moving in SPLITS[split]
    item = pairs[-1]
    data = load_hippocampus(pairs.subjects[-1][1])
    assert torch.equal(item["moving"], data.image[0]) and torch.equal(item["moving_labels"], data.labels[0])
    assert item["fixed"].shape == item["fixed_labels"].shape == item["fixed_region"].shape == (1, 43, 52, 42)
    assert item["spacing"].tolist() == [1.0, 1.0, 1.0]


def test_pairs_work_with_the_training_evaluation():
    """Consumed like the synthetic datasets: reglab.training.evaluate scores "before" with Dice of real pairs."""
    pairs = HippocampusPairs("validation")
    before = evaluate(None, pairs, batch_size=3)
    item = pairs[0]
    first = dice(item["fixed_labels"][None], item["moving_labels"][None]).mean().item()
    assert 0.3 < before["dice"] < 0.9 and 0.3 < first < 0.9 and before["folding"] == 0.0


def test_pairs_errors():
    with pytest.raises(ValueError, match="HippocampusPairs"):
        HippocampusPairs("testing")
    with pytest.raises(IndexError):
        HippocampusPairs("test")[20]


# ---------------------------------------------------------------- files, build, packaging


def test_size_licence_and_citations():
    sizes = {name: (EMBEDDED / name).stat().st_size for name in FILES}
    assert sum(sizes.values()) <= 1_000_000
    text = (EMBEDDED / "hippocampus_LICENSE.md").read_text(encoding="utf-8")
    for needle in ("CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0/", "ShareAlike", "adaptation",
                   "Simpson", "Antonelli", "Hering"):
        assert needle in text


def test_manifest_checksums_match_the_shipped_arrays():
    manifest = json.loads((EMBEDDED / "hippocampus_manifest.json").read_text(encoding="utf-8"))
    with np.load(EMBEDDED / "msd_hippocampus_20.npz") as archive:
        assert sorted(archive.files) == sorted(manifest["arrays_sha256"])
        for key, digest in manifest["arrays_sha256"].items():
            assert hashlib.sha256(np.ascontiguousarray(archive[key]).tobytes()).hexdigest() == digest, key
    assert len(manifest["sources"]) == 40


@needs_shared
def test_build_script_reproduces_the_shipped_arrays(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "data" / "make_hippocampus.py"), "--out", str(tmp_path),
                    "--source", str(SHARED)], check=True, capture_output=True)
    rebuilt = json.loads((tmp_path / "hippocampus_manifest.json").read_text(encoding="utf-8"))
    assert rebuilt == json.loads((EMBEDDED / "hippocampus_manifest.json").read_text(encoding="utf-8"))
    with np.load(tmp_path / "msd_hippocampus_20.npz") as new, np.load(EMBEDDED / "msd_hippocampus_20.npz") as old:
        assert all(np.array_equal(new[key], old[key]) for key in old.files)


def test_files_are_in_the_wheels_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["reglab"]
    for name in FILES:
        relative = f"data/embedded/{name}"
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in globs), (name, globs)
