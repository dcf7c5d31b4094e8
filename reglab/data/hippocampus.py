"""Real inter-subject anatomy that ships with reglab: 20 hippocampus MR crops with manual labels.

Every other pair in the course is one template warped by a synthetic field, with
an exact answer. Registration exists for the other case: two different people,
scored by their manual labels. This module holds 20 subjects of the Medical
Segmentation Decathlon's Task04 (T1-weighted MPRAGE crops around the right or left
hippocampus, Learn2Reg 2020 version), so that real pairs work offline:

* :func:`load_hippocampus` — images, labels, the scanned region and the geometry;
* :class:`HippocampusPairs` — a ``torch.utils.data.Dataset`` of inter-subject pairs
  with a fixed split by subject (:data:`SPLITS`): pairs never share a subject across splits.

Grid: every subject lies on one box of 43 × 52 × 42 voxels of 1 mm (tensor axis
order, the reverse of ITK's x, y, z, as :func:`reglab.io.read_image` gives it),
the smallest box that holds every subject's scanned region. The original crops
were padded to 64³ by repeating their edge voxels; inside the box each subject is
padded the same way, and ``region`` marks the voxels that were really scanned
(keep the padding out of a similarity with ``mask=region``). Subjects are not
aligned beyond this shared crop frame. Labels: :data:`HIPPOCAMPUS_LABELS`.

Intensities: per subject, the 0.5th and 99.5th percentiles inside the region map to
0 and 1 (clipped), in 64 levels (steps of 1/63, below the MR noise).

Licence: the data are CC BY-SA 4.0 (an adaptation of MSD Task04 via Learn2Reg):
``reglab/data/embedded/hippocampus_LICENSE.md``. Cite Simpson et al. 2019
(arXiv:1902.09063), Antonelli et al., Nat. Commun. 2022, Hering et al., IEEE TMI 2023.
``data/make_hippocampus.py`` rebuilds the file from the shared originals.
"""

import functools
from importlib import resources
from itertools import permutations
from typing import NamedTuple

import numpy as np
import torch

from reglab.io import Geometry
from reglab.validation import check_choice

HIPPOCAMPUS_LABELS = {0: "background", 1: "anterior hippocampus", 2: "posterior hippocampus"}
"""The labels of the hippocampus data (the MSD names: 1 = head, 2 = body and tail)."""

SPLITS = {
    "train": ("001", "004", "006", "007", "008", "011", "014", "015", "017", "019", "020", "023"),
    "validation": ("024", "025", "026"),
    "test": ("033", "034", "035", "036", "037"),
}
"""The fixed split of the 20 embedded subjects by MSD case ID: 12 train, 3 validation, 5 test (by ID order)."""

_FILE = "msd_hippocampus_20.npz"


class Hippocampus(NamedTuple):
    """What :func:`load_hippocampus` returns (B = 20 subjects, or 1)."""

    image: torch.Tensor
    """``(B, 1, 43, 52, 42)`` T1-weighted intensities in ``[0, 1]``."""
    labels: torch.Tensor
    """``(B, 1, 43, 52, 42)`` int64: 0 background, 1 anterior, 2 posterior hippocampus."""
    region: torch.Tensor
    """``(B, 1, 43, 52, 42)`` bool: True where the subject was scanned, False on the repeated-edge padding."""
    spacing: tuple
    """voxel size in mm, tensor axis order: ``(1.0, 1.0, 1.0)``."""
    geometry: Geometry
    """physical position (ITK/LPS mm) of the common box, for ``reglab.io.write_image``."""
    subjects: tuple
    """the MSD case IDs, e.g. ``("001", "004", …)``, one per batch item."""


@functools.lru_cache(maxsize=None)
def _arrays():
    """The arrays of the embedded file (cached; callers copy before returning tensors)."""
    with resources.files("reglab.data").joinpath("embedded", _FILE).open("rb") as file:
        with np.load(file) as archive:
            return {key: archive[key] for key in archive.files}


def _subject_ids():
    return tuple(str(s) for s in _arrays()["subjects"])


def _resolve(subject):
    """Position 0…19 of ``subject`` (an int position or a string MSD case ID)."""
    ids = _subject_ids()
    if isinstance(subject, (int, np.integer)) and not isinstance(subject, bool):
        if not -len(ids) <= subject < len(ids):
            raise ValueError(f"load_hippocampus(): expected a subject position in [0, {len(ids)}), got {subject}.")
        return int(subject) % len(ids)
    if isinstance(subject, str):
        key = subject.removeprefix("hippocampus_").zfill(3)
        if key not in ids:
            raise ValueError(f"load_hippocampus(): expected an embedded subject ID in {ids}, got {subject!r}.")
        return ids.index(key)
    raise TypeError(f"load_hippocampus(): expected `subject` None, an int position or a str ID, "
                    f"got {type(subject).__name__}.")


def _subject_arrays(index):
    """Image (uint8), labels (uint8) and region mask of subject ``index``, padded to the common box."""
    arrays, subject = _arrays(), _subject_ids()[index]
    box = arrays["box"]
    region = arrays["regions"][index]                                    # (3, 2) [start, stop) inside the box
    size = box[:, 1] - box[:, 0]
    pad = [(int(start), int(total - stop)) for (start, stop), total in zip(region, size)]
    image = np.pad(arrays[f"image_{subject}"], pad, mode="edge")         # Learn2Reg's padding: repeat the edges
    labels = np.pad(arrays[f"labels_{subject}"], pad, mode="constant")
    mask = np.zeros(tuple(size), dtype=bool)
    mask[tuple(slice(int(a), int(b)) for a, b in region)] = True
    return image, labels, mask


def load_hippocampus(subject=None, *, device=None, dtype=torch.float32):
    """Real T1-weighted MR crops around the hippocampus of 20 subjects, with manual labels.

    Args:
        subject: None for all 20 subjects, an int position ``0 … 19``, or a string MSD case
            ID (``"004"`` or ``"hippocampus_004"``); :data:`SPLITS` lists the IDs.
        device: where the tensors go (default: the CPU).
        dtype: floating type of the image.

    Returns:
        :class:`Hippocampus` ``(image, labels, region, spacing, geometry, subjects)``: image
        ``(B, 1, 43, 52, 42)`` in [0, 1], labels ``(B, 1, 43, 52, 42)`` int64 in {0, 1, 2},
        region ``(B, 1, 43, 52, 42)`` bool, spacing ``(1.0, 1.0, 1.0)`` mm; B = 20 or 1.

    Raises:
        ValueError: an unknown subject. TypeError: a subject that is not None, int or str.

    Example:
        >>> data = load_hippocampus()
        >>> data.image.shape, data.spacing, data.labels.unique().tolist(), data.subjects[:3]
        (torch.Size([20, 1, 43, 52, 42]), (1.0, 1.0, 1.0), [0, 1, 2], ('001', '004', '006'))
        >>> load_hippocampus("004").labels.eq(1).sum().item()   # anterior hippocampus: 1832 mm³
        1832

    Licence and citation: CC BY-SA 4.0, ``reglab/data/embedded/hippocampus_LICENSE.md``;
    Simpson et al., arXiv:1902.09063 (2019); Antonelli et al., Nat. Commun. 13, 4128 (2022);
    Hering et al., IEEE TMI 42(3) (2023). Labs 00, 05 and 08 use it.
    """
    if dtype is not None and not dtype.is_floating_point:
        raise TypeError(f"load_hippocampus(): expected a floating `dtype`, got {dtype}.")
    indices = range(len(_subject_ids())) if subject is None else [_resolve(subject)]
    arrays = _arrays()
    parts = [_subject_arrays(i) for i in indices]
    image = torch.from_numpy(np.stack([p[0] for p in parts]).astype(np.float64) / int(arrays["levels"]))
    labels = torch.from_numpy(np.stack([p[1] for p in parts]).astype(np.int64))
    region = torch.from_numpy(np.stack([p[2] for p in parts]))
    spacing = tuple(float(s) for s in arrays["spacing"])
    geometry = Geometry(spacing, tuple(float(o) for o in arrays["origin"]),
                        tuple(float(d) for d in arrays["direction"]))
    subjects = tuple(_subject_ids()[i] for i in indices)
    return Hippocampus(image[:, None].to(device=device, dtype=dtype), labels[:, None].to(device),
                       region[:, None].to(device), spacing, geometry, subjects)


class HippocampusPairs(torch.utils.data.Dataset):
    """Real inter-subject pairs of the embedded hippocampus subjects, within one split.

    The pairs are every ordered pair (fixed, moving) of two different subjects of
    ``split`` (:data:`SPLITS`): 132 train, 6 validation, 20 test pairs. No subject
    appears in two splits, so a model trained on ``"train"`` never saw a test subject.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        dtype: floating type of the images.

    Items are dicts of tensors without a batch axis (a ``DataLoader`` or
    :func:`reglab.training.evaluate` adds it): ``fixed``, ``moving`` ``(1, 43, 52, 42)``
    in [0, 1]; ``fixed_labels``, ``moving_labels`` ``(1, 43, 52, 42)`` int64;
    ``fixed_region``, ``moving_region`` ``(1, 43, 52, 42)`` bool (scanned, not padding);
    ``spacing`` ``(3,)`` mm. ``pairs.subjects[i]`` is the ``(fixed, moving)`` ID pair of item ``i``.

    Example:
        >>> pairs = HippocampusPairs("test")
        >>> len(pairs), pairs.subjects[0], pairs[0]["fixed"].shape
        (20, ('033', '034'), torch.Size([1, 43, 52, 42]))
    """

    def __init__(self, split="train", *, dtype=torch.float32):
        check_choice("HippocampusPairs", "split", split, tuple(SPLITS))
        self.split = split
        self.data = load_hippocampus(dtype=dtype)
        position = {s: i for i, s in enumerate(self.data.subjects)}
        self.subjects = list(permutations(SPLITS[split], 2))
        self._indices = [(position[f], position[m]) for f, m in self.subjects]

    def __len__(self):
        return len(self._indices)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"HippocampusPairs: index {index} out of range for length {len(self)}.")
        fixed, moving = self._indices[index]
        data = self.data
        return {
            "fixed": data.image[fixed].clone(), "moving": data.image[moving].clone(),
            "fixed_labels": data.labels[fixed].clone(), "moving_labels": data.labels[moving].clone(),
            "fixed_region": data.region[fixed].clone(), "moving_region": data.region[moving].clone(),
            "spacing": torch.tensor(data.spacing),
        }
