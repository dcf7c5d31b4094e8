"""Data for the labs: real anatomy that ships with reglab, synthetic pairs with a known answer, downloads.

Everything is in reglab's conventions (:mod:`reglab.grid`): images
``(1, 1, *spatial)`` float32, labels ``(1, 1, *spatial)`` int64, displacements
``(B, ndim, *spatial)`` in voxels, points ``(B, N, ndim)`` in voxels, ``spacing``
in mm in tensor axis order.

Embedded data (offline, :mod:`reglab.data.embedded`)
----------------------------------------------------
=============================  ===================================  ==============  ========  =============
loader                         what (modality)                      size            spacing   licence
=============================  ===================================  ==============  ========  =============
``load_brain()``               MNI ICBM152 2009a T1-weighted MR     84 × 98 × 80    2 mm      MNI notice
                               template, 3D, labels (bg, CSF, GM,
                               WM), CSF/GM/WM probability maps
``load_brain_slice(plane)``    axial / coronal / sagittal 2D slice  196 × 160,      1 mm      MNI notice
                               of the same, with labels and maps    168 × 160,
                                                                    168 × 196
``load_t1_slice()``            dipy's real T1-weighted MR slice     256 × 256       (1 mm)    BSD-3 (dipy)
``load_circle_c()``            dipy's circle → C binary pair        256 × 256       —         BSD-3 (dipy)
``load_hippocampus(subject)``  real T1 MR crops around the          43 × 52 × 42    1 mm      CC BY-SA 4.0
                               hippocampus of 20 subjects (MSD
                               Task04), manual labels (bg,
                               anterior, posterior)
=============================  ===================================  ==============  ========  =============

Real inter-subject pairs (:mod:`reglab.data.hippocampus`): ``HippocampusPairs(split)``, every ordered pair of
two subjects within a fixed split by subject (``SPLITS``: 12 train, 3 validation, 5 test subjects; 132 / 6 / 20
pairs), items ``fixed``, ``moving``, ``fixed_labels``, ``moving_labels``, ``fixed_region``, ``moving_region``,
``spacing``. The hippocampus data are an adaptation of CC BY-SA 4.0 data and keep that licence
(``hippocampus_LICENSE.md``; cite Simpson 2019, Antonelli 2022, Hering 2023); reglab's code stays MIT.

Cite: MNI template — Fonov et al., NeuroImage 2009 and 2011; Collins et al., IPMI 1999. dipy —
Garyfallidis et al., Front. Neuroinform. 2014. ``LABELS = {0: "background", 1: "CSF", 2: "gray matter",
3: "white matter"}``. The 1.1 MB of files, their notices and full citations are in
``reglab/data/embedded/`` (``LICENSE-MNI.txt``, ``LICENSE-dipy.txt``, ``CITATION.md``); ``data/make_embedded.py``
rebuilds them from the nilearn and dipy wheels.

Synthetic ground truth (seeded, pure torch, any device; :mod:`reglab.data.deformations`, :mod:`reglab.data.contrasts`)
---------------------------------------------------------------------------------------------------------------------
* ``random_affine(size, *, rotation, translation, scale, shear, spacing, seed, device)`` and
  ``random_rigid(...)`` → ``RandomAffine(matrix, inverse_matrix, displacement, inverse)``;
  ``matrix`` is ``(B, ndim, ndim + 1)``: ``y = A x + t`` on voxel coordinates about the centre.
* ``random_velocity(size, *, magnitude, smoothness, seed, device)`` → ``(B, ndim, *size)``;
  ``random_deformation(...)`` → ``Deformation(displacement, inverse, velocity)`` with
  ``displacement = integrate_velocity(v)`` and ``inverse = integrate_velocity(-v)``.
* ``tissue_contrast(tissues, *, contrast="t1" | "t2" | "pd", bias, noise, blur, seed)``: a
  second modality from CSF/GM/WM maps; ``random_contrast(labels, ...)`` and
  ``random_label_map(size, ...)``: SynthMorph-style images and shapes.

Landmarks with exact partners (:mod:`reglab.data.landmarks`)
------------------------------------------------------------
* ``detect_landmarks(image, *, count, mask, ...)`` → ``(B, N, ndim)`` integer voxel positions;
* ``landmark_pairs(fixed, displacement, ...)`` → ``LandmarkPairs(fixed, moving)`` with
  ``moving = fixed + u(fixed)`` (:func:`reglab.warp_points`); TRE with :func:`reglab.evaluation.tre`.

Pairs and datasets (:mod:`reglab.data.datasets`)
------------------------------------------------
* ``synthetic_pair(image, labels, tissues, *, magnitude, smoothness, affine, subject, contrast,
  fixed_contrast, landmarks, downsample, seed)`` → ``SyntheticPair(fixed, moving, fixed_labels, moving_labels,
  fixed_landmarks, moving_landmarks, displacement, inverse)``;
* ``SyntheticPairs(ndim=2 | 3, *, length, seed, plane, **options)``: a ``torch.utils.data.Dataset``
  of such pairs from the embedded brain, reproducible item by item.

Optional downloads (:mod:`reglab.data.download`, :mod:`reglab.data.registry`)
-----------------------------------------------------------------------------
``fetch(name, *, root=None, offline=False)`` downloads a registered dataset into the cache
(``$REGLAB_DATA`` or the platform's cache folder, see ``cache_dir()``), verifies its checksum
and unpacks it safely; ``DATASETS`` holds URL, size, checksum, licence, citation and what was
verified of each; ``available()`` lists them:

* ``mni152_2mm`` (8.2 MB): TemplateFlow MNI152NLin2009cAsym at 2 mm, real T1w, T2w and PD MR
  templates, brain mask, GM/WM/CSF maps. Licence: MNI notice (permissive). Cite Fonov 2009/2011, Ciric 2022.
* ``msd_hippocampus`` (~27 MB): Medical Segmentation Decathlon Task04, T1 MR crops around the hippocampus
  with labels. Licence: CC BY-SA 4.0. Cite Simpson 2019, Antonelli 2022.
* ``oasis_2d`` (~24 MB): neurite-OASIS 2D T1 MR slices of 414 subjects with 4 and 24 labels. Licence: OASIS
  data use terms, download only, never redistribute. Cite Marcus 2007, Hoopes 2021.

Lab 00 introduces this package; every later lab uses it.
"""

from reglab.data.datasets import SyntheticPair, SyntheticPairs, synthetic_pair
from reglab.data.download import cache_dir, fetch
from reglab.data.hippocampus import HIPPOCAMPUS_LABELS, SPLITS, Hippocampus, HippocampusPairs, load_hippocampus
from reglab.data.embedded import (LABELS, PLANES, TISSUES, Brain, Pair, load_brain, load_brain_slice, load_circle_c,
                                  load_t1_slice)
from reglab.data.landmarks import LandmarkPairs, cornerness, detect_landmarks, landmark_pairs
from reglab.data.registry import DATASETS, available
from reglab.data.contrasts import CONTRASTS, random_contrast, random_label_map, tissue_contrast
from reglab.data.deformations import (Deformation, RandomAffine, random_affine, random_deformation, random_rigid,
                                      random_velocity)

__all__ = [
    "LABELS", "PLANES", "TISSUES", "Brain", "Pair", "load_brain", "load_brain_slice", "load_circle_c", "load_t1_slice",
    "HIPPOCAMPUS_LABELS", "SPLITS", "Hippocampus", "HippocampusPairs", "load_hippocampus",
    "CONTRASTS", "Deformation", "RandomAffine", "random_affine", "random_rigid", "random_velocity",
    "random_deformation", "tissue_contrast", "random_contrast", "random_label_map",
    "LandmarkPairs", "cornerness", "detect_landmarks", "landmark_pairs",
    "SyntheticPair", "SyntheticPairs", "synthetic_pair",
    "DATASETS", "available", "cache_dir", "fetch",
]
