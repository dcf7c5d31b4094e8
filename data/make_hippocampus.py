"""Rebuild reglab's embedded hippocampus subset from the shared MSD/Learn2Reg files (build time only).

Usage::

    python data/make_hippocampus.py                  # writes reglab/data/embedded/msd_hippocampus_20.npz
    python data/make_hippocampus.py --out /tmp/x     # or elsewhere, e.g. to compare with the shipped file
    python data/make_hippocampus.py --source DIR     # default: ../shared/data/msd_hippocampus_l2r

The script

1. takes the 20 labelled subjects with the lowest IDs (001–037) of the Learn2Reg 2020
   Task 4 release of MSD Task04 Hippocampus (``Training/{img,label}/hippocampus_XXX.nii.gz``),
2. checks every file's SHA-256 against the source's ``SHA256SUMS`` (and stops on a mismatch),
3. finds each subject's unpadded region (Learn2Reg padded every MSD crop to 64³ by
   repeating its edge slices: the region is what lies between the first and the last
   slice that differs from its neighbour, along each axis),
4. rescales each image robustly: its 0.5th and 99.5th percentiles inside the region
   become 0 and 1 (clipped), stored as ``uint8`` in ``0 … LEVELS`` (6 bits: the step,
   1/63 of the robust range, is far below the MR noise; 8 bits would not fit in 1 MB),
5. writes, per subject, only its unpadded region (image and labels, ``uint8``), plus the
   common box that holds every subject's region and the geometry of that box. The loader
   (:func:`reglab.data.load_hippocampus`) pads each region back to the box by repeating
   its edge voxels, exactly as Learn2Reg did, so the box crop of the original is restored
   up to the intensity rescaling.

Outputs (``reglab/data/embedded/``): ``msd_hippocampus_20.npz`` and
``hippocampus_manifest.json`` (the sources' SHA-256 and the SHA-256 of every array
written, so that a rebuild can be compared bit for bit). The data keep their licence,
CC BY-SA 4.0 (``hippocampus_LICENSE.md``); this script is MIT like the rest of reglab.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from reglab.registration import scanned_region

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reglab" / "data" / "embedded"
SOURCE = ROOT.parent / "shared" / "data" / "msd_hippocampus_l2r"
NAME = "msd_hippocampus_20.npz"
MANIFEST = "hippocampus_manifest.json"
COUNT = 20                 # subjects embedded: the labelled ones with the lowest IDs
PERCENTILES = (0.5, 99.5)  # robust intensity range → [0, 1]
LEVELS = 63                # stored values 0 … 63 (uint8); intensity = value / LEVELS


def sha256(path):
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def checked_sources(source):
    """``{id: (image path, label path)}`` of the first COUNT labelled subjects, each file checked by SHA-256."""
    training = Path(source) / "Training"
    sums_file = Path(source) / "SHA256SUMS"
    if not sums_file.exists():
        sys.exit(f"make_hippocampus: {sums_file} not found; pass --source <the msd_hippocampus_l2r folder>")
    sums = dict(reversed(line.split()) for line in sums_file.read_text().splitlines() if line.strip())
    ids = sorted(p.name[len("hippocampus_"):-len(".nii.gz")] for p in (training / "label").glob("hippocampus_*.nii.gz"))
    if len(ids) < COUNT:
        sys.exit(f"make_hippocampus: expected at least {COUNT} labelled subjects in {training}, found {len(ids)}")
    sources = {}
    for subject in ids[:COUNT]:
        paths = []
        for kind in ("img", "label"):
            relative = f"{kind}/hippocampus_{subject}.nii.gz"
            path = training / relative
            if relative not in sums:
                sys.exit(f"make_hippocampus: {relative} is not listed in {sums_file}")
            if sha256(path) != sums[relative]:
                sys.exit(f"make_hippocampus: SHA-256 mismatch for {path}:\n"
                         f"  expected {sums[relative]}\n  got      {sha256(path)}")
            paths.append(path)
        sources[subject] = tuple(paths)
    return sources, sums


def unpadded_region(array):
    """``(ndim, 2)`` half-open ``[start, stop)`` per axis: the box of :func:`reglab.registration.scanned_region`.

    Edge padding repeats the first (last) slice of the content outwards, so along
    each axis the content starts at the last of the leading run of equal slices and
    ends at the first of the trailing run.
    """
    mask = scanned_region(torch.from_numpy(array.astype(np.float64))[None, None])[0, 0].numpy()
    return np.array([[index.min(), index.max() + 1] for index in np.nonzero(mask)], dtype=np.int64)


def rescale(array, region):
    """Intensities → ``uint8`` ``0 … LEVELS``: the region's robust range → [0, 1], clipped; and that range."""
    inside = array[tuple(slice(a, b) for a, b in region)].astype(np.float64)
    low, high = np.percentile(inside, PERCENTILES)
    scaled = np.clip((array.astype(np.float64) - low) / (high - low), 0.0, 1.0)
    return np.rint(scaled * LEVELS).astype(np.uint8), (float(low), float(high))


def build(source=SOURCE):
    """The arrays of ``msd_hippocampus_20.npz`` and the sources' SHA-256."""
    sources, sums = checked_sources(source)
    images, labels, regions, ranges, reference = {}, {}, [], [], None
    for subject, (image_path, label_path) in sources.items():
        image, label = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(label_path))
        grid = (image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())
        reference = reference or (grid, image)
        if grid != reference[0] or (label.GetSize(), label.GetSpacing()) != grid[:2]:
            sys.exit(f"make_hippocampus: subject {subject} is not on the common 64³ grid")
        array, label_array = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(label)   # tensor order (z, y, x)
        region = unpadded_region(array)
        inside = tuple(slice(a, b) for a, b in region)
        if set(np.unique(label_array).tolist()) != {0, 1, 2} or label_array[inside].sum() != label_array.sum():
            sys.exit(f"make_hippocampus: subject {subject}: expected labels {{0, 1, 2}} inside the unpadded region")
        scaled, intensity_range = rescale(array, region)
        images[subject], labels[subject] = scaled[inside], label_array[inside].astype(np.uint8)
        regions.append(region)
        ranges.append(intensity_range)
    regions = np.stack(regions)                                          # (COUNT, 3, 2) on the 64³ grid
    box = np.stack([regions[:, :, 0].min(0), regions[:, :, 1].max(0)], axis=1)   # (3, 2): holds every region
    image = reference[1]
    origin = image.TransformIndexToPhysicalPoint([int(i) for i in box[::-1, 0]])  # ITK index order (x, y, z)
    arrays = {
        "subjects": np.array(list(sources)),
        "box": box,
        "regions": regions - box[None, :, :1],                           # each region inside the box
        "intensity_range": np.array(ranges),
        "spacing": np.array(image.GetSpacing()[::-1], dtype=np.float64),  # tensor axis order, mm
        "origin": np.array(origin, dtype=np.float64),                     # ITK (x, y, z), mm
        "direction": np.array(image.GetDirection(), dtype=np.float64),
        "levels": np.array(LEVELS),
    }
    for subject in sources:
        arrays[f"image_{subject}"] = images[subject]
        arrays[f"labels_{subject}"] = labels[subject]
    source_sums = {f"Training/{kind}/hippocampus_{s}.nii.gz": sums[f"{kind}/hippocampus_{s}.nii.gz"]
                   for s in sources for kind in ("img", "label")}
    return arrays, source_sums


def main(out=OUT, source=SOURCE):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arrays, source_sums = build(source)
    path = out / NAME
    np.savez_compressed(path, **arrays)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB, {len(arrays['subjects'])} subjects, "
          f"box {arrays['box'].tolist()} (tensor order z, y, x)")
    manifest = {
        "sources": source_sums,
        "arrays_sha256": {key: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
                          for key, a in arrays.items()},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{out / MANIFEST}: the sources' and the arrays' SHA-256")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help="output folder (default: reglab/data/embedded)")
    parser.add_argument("--source", default=SOURCE, help="the msd_hippocampus_l2r folder (default: ../shared/...)")
    args = parser.parse_args()
    main(args.out, args.source)
