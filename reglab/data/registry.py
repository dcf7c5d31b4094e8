"""The optional real datasets reglab can download: where, how big, which checksum, which licence.

Nothing here is needed for the labs (the embedded data work offline); these are
bigger real data for Colab or a lab machine with internet. Fetch one with
:func:`reglab.data.download.fetch` (``fetch("mni152_2mm")``).

==================  ==========================================  ==========  ========================  ==============
name                what                                        size        licence                   redistribute?
==================  ==========================================  ==========  ========================  ==============
``mni152_2mm``      TemplateFlow MNI152NLin2009cAsym at 2 mm:   ≈ 8.2 MB    MNI notice (permissive)   yes, with the
                    real T1w, T2w, PD templates, brain mask,                                          notice
                    GM/WM/CSF probability maps
``msd_hippocampus`` Medical Segmentation Decathlon Task04:      ≈ 27 MB     CC BY-SA 4.0              yes, share-alike
                    260 labelled + 130 unlabelled MR crops                  (unverified size)
``oasis_2d``        neurite-OASIS 2D: 414 subjects' 160×192     ≈ 24 MB     OASIS data use terms      **no**:
                    slices with 4 and 24 labels                 (unverified)                          download only
==================  ==========================================  ==========  ========================  ==============

Every value carries the source it was checked against (``Dataset.verified``).
Values that could not be checked from here are marked *unverified*; the
download then still works, and its checksum is verified only where one is given.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    """One file to download.

    Attributes:
        url: where to get it (``https://``, ``http://`` or ``file://``).
        filename: the name it gets in the dataset folder.
        size: bytes, or None when unknown.
        checksum: ``"sha256:<hex>"`` or ``"md5:<hex>"``, or None when no published value exists.
        extract: unpack it (``.tar``, ``.tar.gz``, ``.tgz``, ``.zip``) into the dataset folder, then delete it.
    """

    url: str
    filename: str
    size: int = None
    checksum: str = None
    extract: bool = False


@dataclass(frozen=True)
class Dataset:
    """A downloadable dataset: its files, terms and provenance."""

    name: str
    title: str
    modality: str
    files: tuple
    licence: str
    citation: str
    redistribute: str
    verified: str
    embedded_alternative: str = "reglab.data.load_brain() / load_brain_slice() (MNI template, offline)"
    notes: str = field(default="")

    @property
    def size(self):
        """Total bytes of the files, or None if any size is unknown."""
        sizes = [f.size for f in self.files]
        return None if None in sizes else sum(sizes)


_TEMPLATEFLOW = "https://templateflow.s3.amazonaws.com/tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-02_"

_MNI_NOTICE = (
    "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological Institute, "
    "McGill University. Permission to use, copy, modify, and distribute this software and its documentation for "
    "any purpose and without fee is hereby granted, provided that the above copyright notice appear in all copies. "
    "(Full notice: reglab/data/embedded/LICENSE-MNI.txt.)"
)

DATASETS = {
    "mni152_2mm": Dataset(
        name="mni152_2mm",
        title="TemplateFlow MNI152NLin2009cAsym, 2 mm",
        modality="MR T1w, T2w, PD templates (3D at 2 mm), brain mask, GM/WM/CSF probability maps",
        files=(
            RemoteFile(_TEMPLATEFLOW + "T1w.nii.gz", "T1w.nii.gz", 1763084, "md5:04e6e6eae189c060ba17478e097c6a24"),
            RemoteFile(_TEMPLATEFLOW + "T2w.nii.gz", "T2w.nii.gz", 1717372, "md5:cb376b6e9dc182d4ba024e043cf4bd24"),
            RemoteFile(_TEMPLATEFLOW + "PD.nii.gz", "PD.nii.gz", 1723911, "md5:fd225d67e641b2795a2fa3d50f1f0eaa"),
            RemoteFile(_TEMPLATEFLOW + "desc-brain_mask.nii.gz", "brain_mask.nii.gz", 29576,
                       "md5:5c1bbc73a04d9dd5b84330d712ffd760"),
            RemoteFile(_TEMPLATEFLOW + "label-GM_probseg.nii.gz", "GM_probseg.nii.gz", 1044456,
                       "md5:9e38c9dbb352625abc89e23449114705"),
            RemoteFile(_TEMPLATEFLOW + "label-WM_probseg.nii.gz", "WM_probseg.nii.gz", 993575,
                       "md5:c4124028b3829bd059722b7aa02c02d2"),
            RemoteFile(_TEMPLATEFLOW + "label-CSF_probseg.nii.gz", "CSF_probseg.nii.gz", 886518, None),
        ),
        licence="MNI copyright notice (permissive): " + _MNI_NOTICE,
        citation=("Fonov et al., NeuroImage 47 S102 (2009) and NeuroImage 54(1) 313-327 (2011); "
                  "Ciric et al., TemplateFlow, Nature Methods 19, 1568-1571 (2022)."),
        redistribute="yes, with the MNI notice",
        verified=("Sizes and MD5s: the git-annex keys (MD5E-s<size>--<md5>) of "
                  "github.com/templateflow/tpl-MNI152NLin2009cAsym, the provider's own record; which key belongs to "
                  "which file was taken from third-party notes (the T1w MD5 is also pinned in third-party code). "
                  "The CSF map has no checksum here (unverified). URLs: TemplateFlow's S3 layout. Not downloaded "
                  "from here (no internet)."),
        notes=("The FreeSurfer aseg label map exists in TemplateFlow too, but its exact file name could not be "
               "verified from here, so it is not listed."),
    ),
    "msd_hippocampus": Dataset(
        name="msd_hippocampus",
        title="Medical Segmentation Decathlon, Task04 Hippocampus",
        modality="MR T1 (MPRAGE) crops around the hippocampus, ~35 x 50 x 35 at 1 mm; labels 1 anterior, 2 posterior",
        files=(
            RemoteFile("https://msd-for-monai.s3-us-west-2.amazonaws.com/Task04_Hippocampus.tar",
                       "Task04_Hippocampus.tar", None, "md5:9d24dba78a72977dbd1d2e110310f31b", extract=True),
        ),
        licence="CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)",
        citation=("Simpson et al., arXiv:1902.09063 (2019); Antonelli et al., The Medical Segmentation Decathlon, "
                  "Nature Communications 13, 4128 (2022)."),
        redistribute="yes, under CC BY-SA 4.0 (credit, share-alike)",
        verified=("URL and MD5: MONAI's DecathlonDataset (the mirror MONAI maintains), seen identically in several "
                  "public projects. Size (~27 MB) unverified. Not downloaded from here (no internet)."),
        embedded_alternative=("reglab.data.load_hippocampus() / HippocampusPairs(split) (20 of these subjects, "
                              "cropped and rescaled, offline)"),
        notes=("The archive unpacks to Task04_Hippocampus/{imagesTr,labelsTr,imagesTs,dataset.json}: the full "
               "release, unpadded crops of varying size (no Learn2Reg 64^3 padding)."),
    ),
    "oasis_2d": Dataset(
        name="oasis_2d",
        title="neurite-OASIS 2D slices",
        modality="MR T1 2D slices 160 x 192 of 414 subjects, skull-stripped and affinely aligned; 4 and 24 labels",
        files=(
            RemoteFile("https://surfer.nmr.mgh.harvard.edu/ftp/data/neurite/data/neurite-oasis.2d.v1.0.tar",
                       "neurite-oasis.2d.v1.0.tar", None, "md5:c9ae5864f250c7e4b8d83a104e51ae8e", extract=True),
        ),
        licence="OASIS Data Use Agreement (https://www.oasis-brains.org/#access); not an open licence",
        citation=("Marcus et al., OASIS, J Cogn Neurosci 19(9) 1498-1507 (2007); Hoopes et al., HyperMorph, "
                  "IPMI 2021 (the neurite-OASIS preprocessing)."),
        redistribute="no: download it yourself under the OASIS terms; never commit or share the files",
        verified=("URL: the neurite/voxelmorph documentation. MD5 and size (~24 MB): third-party scripts only, "
                  "unverified. Not downloaded from here (no internet)."),
    ),
}
"""Every registered dataset, by name."""


def available():
    """The registered datasets as printable lines: name, size, licence.

    Example:
        >>> print(available()[0])
        mni152_2mm        8.2 MB  MNI copyright notice (permissive)
    """
    lines = []
    for dataset in DATASETS.values():
        size = f"{dataset.size / 1e6:5.1f} MB" if dataset.size else "    ? MB"
        lines.append(f"{dataset.name:15s} {size}  {dataset.licence.split(':')[0].split(' (http')[0]}")
    return lines
