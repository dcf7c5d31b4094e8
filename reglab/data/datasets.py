"""Registration pairs with a known answer, one at a time or as a ``torch.utils.data.Dataset``.

:func:`synthetic_pair` turns one image (with its labels and tissue maps) into a
fixed/moving pair whose true displacement is known:

* an optional "subject" deformation ``w`` makes the fixed image a different
  anatomy than the template (inter-subject variation): ``fixed = template ∘ (id + w)``;
* the true transformation ``y(x) = x + u(x)`` maps fixed-image points to
  moving-image points: a random diffeomorphism, optionally followed by a random
  affine map, so ``u = compose(u_affine, u_deformation)``;
* the moving image is the template seen through ``w`` after the inverse of
  ``y``, resampled once: ``moving = template ∘ (id + w) ∘ y⁻¹``. Then
  ``warp(moving, u) = fixed`` up to interpolation, ``u`` is the answer a
  registration should find, and fixed landmarks ``p`` sit at ``p + u(p)`` in moving;
* the moving image, and the fixed one, may get another contrast (T1/T2/PD-like from
  the tissue maps, or a SynthMorph-style random contrast from the labels).

The random deformations vanish on the image border (see
:func:`reglab.data.random_velocity`), so every composition stays inside the
grid and the answer is exact up to the linear interpolation of smooth fields
(about 0.1 voxel at most, 0.01 voxel on average).

:class:`SyntheticPairs` wraps it as a reproducible dataset over the embedded
brain (2D slices or the 3D volume): item ``i`` is always the same pair for the
same ``seed``, generated on the fly on the CPU. Labs 06 and 07 train on it.
"""

from typing import NamedTuple

import torch

from reglab.data.embedded import load_brain, load_brain_slice
from reglab.data.landmarks import _max_filter, landmark_pairs
from reglab.data.contrasts import CONTRASTS, random_contrast, tissue_contrast
from reglab.data.deformations import random_affine, random_deformation
from reglab.data.noise import _generator
from reglab.fields import compose
from reglab.validation import check_choice, check_image
from reglab.warping import warp

MOVING_CONTRASTS = ("same",) + tuple(CONTRASTS) + ("random",)


class SyntheticPair(NamedTuple):
    """What :func:`synthetic_pair` returns (all on the input's device)."""

    fixed: torch.Tensor
    """``(B, 1, *spatial)`` fixed image."""
    moving: torch.Tensor
    """``(B, 1, *spatial)`` moving image."""
    fixed_labels: torch.Tensor
    """``(B, 1, *spatial)`` int64 labels of the fixed image."""
    moving_labels: torch.Tensor
    """``(B, 1, *spatial)`` int64 labels of the moving image."""
    fixed_landmarks: torch.Tensor
    """``(B, N, ndim)`` landmarks of the fixed image, voxels."""
    moving_landmarks: torch.Tensor
    """``(B, N, ndim)`` their exact partners in the moving image: ``p + u(p)``."""
    displacement: torch.Tensor
    """``(B, ndim, *spatial)`` the true ``u``: ``warp(moving, u) ≈ fixed``."""
    inverse: torch.Tensor
    """``(B, ndim, *spatial)`` the inverse: ``compose(u, inverse) ≈ 0``."""


def _erode(mask, radius):
    """Binary erosion of a ``(B, 1, *spatial)`` bool mask with a cube of half-width ``radius``."""
    if radius <= 0:
        return mask
    return ~(_max_filter((~mask).float(), radius) > 0)


def _subseed(generator):
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


def _render(image, labels, tissues, field, contrast, generator):
    """The template seen through ``field`` (None: unmoved): (image in its own contrast, labels, image in ``contrast``)."""
    if field is None:
        warped, warped_labels = image.clone(), labels.clone()
    else:
        warped, warped_labels = warp(image, field), warp(labels, field, mode="nearest")
    if contrast == "same":
        return warped, warped_labels, warped
    if contrast == "random":
        return warped, warped_labels, random_contrast(warped_labels, seed=_subseed(generator))
    moved_tissues = tissues if field is None else warp(tissues, field)
    return warped, warped_labels, tissue_contrast(moved_tissues, contrast=contrast, seed=_subseed(generator))


def synthetic_pair(image, labels, tissues=None, *, magnitude=4.0, smoothness=8.0, affine=None, subject=0.0,
                   contrast="same", fixed_contrast="same", landmarks=16, downsample=1, seed=None):
    """A fixed/moving pair made from one image, with the true displacement, labels and landmarks.

    Args:
        image: ``(B, 1, *spatial)`` template image.
        labels: ``(B, 1, *spatial)`` int64 labels of the template (0 = background).
        tissues: ``(B, 3, *spatial)`` CSF/GM/WM maps; needed for the contrasts ``"t1"``, ``"t2"``, ``"pd"``.
        magnitude: largest velocity of the fixed→moving diffeomorphism, voxels (0: none).
        smoothness: its smoothness, voxels.
        affine: None, or a dict of :func:`reglab.data.random_affine` options (e.g.
            ``dict(rotation=10, translation=5)``) for an affine part after the deformation.
        subject: largest velocity of the template→fixed "subject" deformation, voxels (0: fixed = template).
        contrast: the moving image's contrast: ``"same"`` (the template's),
            ``"t1"``, ``"t2"``, ``"pd"`` (:func:`reglab.data.tissue_contrast`) or ``"random"``
            (:func:`reglab.data.random_contrast`).
        fixed_contrast: the same choices for the fixed image (``"random"`` for both gives
            SynthMorph-style training pairs: every pair in new, different contrasts).
        downsample: integrate the deformations on a grid this many times coarser
            (see :func:`reglab.data.random_deformation`; 2 is 5 times faster in 3D,
            with ``compose(u, inverse)`` up to about 0.3 instead of 0.15 voxel).
        landmarks: how many landmark pairs (detected at least 3 voxels inside the labels in 2D, 2 in 3D,
            and 5 (2D) or 3 (3D) voxels apart); 0 for none.
        seed: int, ``torch.Generator`` or None.

    Returns:
        :class:`SyntheticPair` ``(fixed, moving, fixed_labels, moving_labels, fixed_landmarks,
        moving_landmarks, displacement, inverse)``; with ``landmarks=0`` the landmark tensors are ``(B, 0, ndim)``.

    Raises:
        ValueError: mismatched shapes, an unknown contrast, or a contrast that needs tissues without them.

    Example:
        >>> from reglab.data import load_brain_slice
        >>> from reglab.evaluation import tre
        >>> brain = load_brain_slice("axial")
        >>> pair = synthetic_pair(brain.image, brain.labels, magnitude=6.0, seed=0)
        >>> pair.moving.shape, pair.fixed_landmarks.shape
        (torch.Size([1, 1, 196, 160]), torch.Size([1, 16, 2]))
        >>> tre(pair.fixed_landmarks, pair.moving_landmarks, pair.displacement).max().item()  # the true u: TRE 0
        0.0
    """
    ndim = check_image("synthetic_pair", "image", image)
    check_image("synthetic_pair", "labels", labels, allow_integer=True)
    check_choice("synthetic_pair", "contrast", contrast, MOVING_CONTRASTS)
    check_choice("synthetic_pair", "fixed_contrast", fixed_contrast, MOVING_CONTRASTS)
    if labels.shape[0] != image.shape[0] or labels.shape[2:] != image.shape[2:] or labels.is_floating_point():
        raise ValueError(f"synthetic_pair(): expected integer `labels` of shape {(image.shape[0], 1, *image.shape[2:])}, "
                         f"got {labels.dtype} {tuple(labels.shape)}.")
    for name, value in (("contrast", contrast), ("fixed_contrast", fixed_contrast)):
        if value in CONTRASTS and tissues is None:
            raise ValueError(f"synthetic_pair(): {name}={value!r} needs the tissue maps: pass `tissues` "
                             f"(e.g. load_brain().tissues), or use {name}='random' which needs only labels.")
    generator = _generator(seed)
    batch, size = image.shape[0], tuple(image.shape[2:])
    options = dict(batch=batch, device=image.device, dtype=image.dtype)
    deformation = random_deformation(size, magnitude=magnitude, smoothness=smoothness, downsample=downsample,
                                     seed=_subseed(generator), **options)
    displacement, inverse = deformation.displacement, deformation.inverse
    if affine is not None:
        linear = random_affine(size, seed=_subseed(generator), **options, **affine)
        displacement = compose(linear.displacement, displacement)        # deformation first, then the affine map
        inverse = compose(inverse, linear.inverse)
    if subject > 0:
        subject_field = random_deformation(size, magnitude=subject, smoothness=smoothness, downsample=downsample,
                                           seed=_subseed(generator), **options).displacement
        to_moving = compose(subject_field, inverse)                      # y⁻¹ first, then the subject field
    else:
        subject_field, to_moving = None, inverse
    fixed_image, fixed_labels, fixed = _render(image, labels, tissues, subject_field, fixed_contrast, generator)
    _, moving_labels, moving = _render(image, labels, tissues, to_moving, contrast, generator)
    if landmarks:                                                        # found on the anatomy, whatever the contrast
        inside = _erode(fixed_labels > 0, 3 if ndim == 2 else 2)            # a few mm inside the brain
        pairs = landmark_pairs(fixed_image, displacement, count=landmarks, mask=inside,
                               min_distance=5 if ndim == 2 else 3)
        fixed_points, moving_points = pairs.fixed, pairs.moving
    else:
        fixed_points = moving_points = image.new_zeros(batch, 0, ndim)
    return SyntheticPair(fixed, moving, fixed_labels, moving_labels, fixed_points, moving_points, displacement, inverse)


class SyntheticPairs(torch.utils.data.Dataset):
    """A reproducible dataset of :func:`synthetic_pair` s made from the embedded MNI brain.

    Item ``i`` is generated on the fly from the seed ``(seed, i)``, so it is the
    same every time, on every machine, and in every DataLoader worker.

    Args:
        ndim: 2 (a 1 mm slice, see ``plane``) or 3 (the 2 mm volume).
        length: the number of items.
        seed: the dataset's seed.
        plane: for ``ndim=2``: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        **options: for :func:`synthetic_pair` (``magnitude``, ``smoothness``, ``affine``,
            ``subject``, ``contrast``, ``fixed_contrast``, ``landmarks``, ``downsample``; the default
            ``downsample`` is 1 in 2D and 2 in 3D, about 0.5 s per 3D item on one CPU core).

    Items are dicts of tensors without a batch axis (a ``DataLoader`` adds it):
    ``fixed``, ``moving`` ``(1, *spatial)``; ``fixed_labels``, ``moving_labels``
    ``(1, *spatial)`` int64; ``fixed_landmarks``, ``moving_landmarks`` ``(N, ndim)``;
    ``displacement``, ``inverse`` ``(ndim, *spatial)``; ``spacing`` ``(ndim,)`` in mm.

    Example:
        >>> pairs = SyntheticPairs(2, length=4, seed=0, subject=3.0)
        >>> item = pairs[1]
        >>> item["fixed"].shape, item["displacement"].shape, item["moving_landmarks"].shape
        (torch.Size([1, 196, 160]), torch.Size([2, 196, 160]), torch.Size([16, 2]))
        >>> torch.equal(item["moving"], pairs[1]["moving"])     # reproducible
        True
    """

    def __init__(self, ndim=2, *, length=64, seed=0, plane="axial", **options):
        if ndim not in (2, 3):
            raise ValueError(f"SyntheticPairs(): expected `ndim` 2 or 3, got {ndim!r}.")
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"SyntheticPairs(): expected `length` to be an int >= 1, got {length!r}.")
        self.brain = load_brain_slice(plane) if ndim == 2 else load_brain()
        self.length, self.seed, self.options = length, int(seed), {"downsample": ndim - 1, **options}
        check = {**self.options, "landmarks": 0, "magnitude": 0.0, "subject": 0.0, "affine": None}
        synthetic_pair(self.brain.image, self.brain.labels, self.brain.tissues, seed=0, **check)   # fail early on bad options

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        if not -self.length <= index < self.length:
            raise IndexError(f"SyntheticPairs: index {index} out of range for length {self.length}.")
        index = index % self.length
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        pair = synthetic_pair(self.brain.image, self.brain.labels, self.brain.tissues, seed=generator, **self.options)
        item = {name: value[0] for name, value in pair._asdict().items()}
        item["spacing"] = torch.tensor(self.brain.spacing)
        return item
