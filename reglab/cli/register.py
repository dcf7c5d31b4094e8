"""``reglab register FIXED MOVING --out DIR``: classical registration of two image files, outputs whole or absent.

What it does, in order (each step stops with one clear line when something is wrong):

1. options checked (names, numbers, ``--device``); ``--out`` checked *writable* by creating its staging
   folder beside it (:mod:`reglab.cli.outputs`);
2. files read and checked (:mod:`reglab.cli.inputs`): 4D series, truncated files, constant images, physical
   overlap and extents, masks and labels on other grids (resampled through their geometry);
3. free space checked, then :func:`reglab.registration.register` runs stage by stage (the engine's
   :data:`~reglab.registration.DEFAULT_STAGES`, or ``--transform affine+bspline``; :mod:`reglab.cli.stages`) on
   the files' own intensities (the engine leaves padding out and rescales them), one progress bar per stage,
   kept as a one-line record; the engine's warnings about an implausible result are printed in the summary;
4. everything written into the staging folder and read back, then moved into ``--out`` at once.

The warped image and labels are made from the written ``transform.h5`` (:mod:`reglab.cli.resample`), so
they are what any ITK-based tool makes of it. Lab 05 shows the same steps in Python.

It is a little longer than ~300 lines because it is one thing, this command: its parser and help, then
:func:`run_register` doing the four steps above top to bottom, then the small input and result helpers it calls
(the checks themselves live in the modules named above).
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from reglab.cli.errors import CommandError
from reglab.cli.inputs import check_overlap, describe, index_to_physical, parse_device, read_intensities, \
    read_labels, read_sitk, same_grid, warn
from reglab.cli.outputs import OutputFolder
from reglab.cli.resample import identity, resample_intensities, resample_labels
from reglab.cli.stages import parse_iterations, run_stages, stage_options
from reglab.cli.summary import before, label_metrics, metrics_of, print_summary, scaled

OUTPUTS = ("warped.nii.gz", "displacement.nii.gz", "transform.h5", "overlay.png", "metrics.json")
"""What ``reglab register`` always writes into ``--out``."""

LABEL_OUTPUT = "warped_labels.nii.gz"
DEMO_OUTPUTS = ("fixed.nii.gz", "moving.nii.gz")

FIELD_MODELS = ("dense", "svf", "local_affine")
"""Models exported as a displacement field (a large transform.h5)."""

REGISTER_HELP = """\
Register MOVING onto FIXED and write into DIR:
  warped.nii.gz         the moving image's own intensities resampled onto the fixed image's grid (float32)
  warped_labels.nii.gz  with --moving-labels: the moving labels on the fixed grid (label-preserving, same type)
  displacement.nii.gz   the displacement field in mm on the fixed grid (ITK convention: fixed point p
                        maps to the moving point p + d(p))
  transform.h5          the ITK transform (SimpleITK, 3D Slicer, ANTs, elastix tools read it); it moves
                        fixed physical points to moving physical points; `reglab apply` applies it
  overlay.png           fixed (green) / moving (magenta) before and after registration
  metrics.json          similarity before/after, % folding, time per stage, warnings; with --fixed-labels
                        too, Dice per label and HD95 in mm before and after

The outputs appear together or not at all: they are written into a hidden folder beside DIR and moved
into place when all are complete (Ctrl-C, an error or a full disk leave DIR as it was; exit code 130
after Ctrl-C). Images may be in any format SimpleITK reads (NIfTI, NRRD, MHA, DICOM folder, PNG, ...)
and on different grids: they register in physical space. Without FIXED and MOVING, the demo registers
an embedded brain slice to a moved, deformed T2-like copy and also writes fixed.nii.gz and moving.nii.gz;
two contrasts, so the demo runs with --similarity mi unless another is given.

Without --transform, the engine's default stages run (reglab.registration.DEFAULT_STAGES, tuned on real
inter-subject brain MRI of one contrast): affine by global NCC, then a stationary velocity field
(diffeomorphic: it folds only where discretization errs, a few voxels in 100 000) by local NCC in 5-voxel
windows with diffusion regularization, weight 0.5; a 3-level pyramid with 40, 20, 0 (affine) and 40, 20, 10
(SVF) iterations, Adam, on the box of the scanned voxels. An option given replaces that setting in every stage
it applies to: use --similarity mi for two contrasts (T1 and T2). With --transform, the stages named run with
mi, bending_energy (weight 100), 100 iterations per level unless given. The similarity counts only the scanned region (repeated-edge padding is left out) and sees
intensities outside [0, 1] rescaled to [0, 1] (0.5th to 99.5th percentile); the similarity in the summary
and metrics.json is the last stage's, computed on those [0, 1] intensities. The outputs keep the files'
own values. The summary prints the engine's warnings (an affine scale far from 1, folding, a similarity
that got worse), one "warning:" line each.
"""


def add_register_parser(subparsers):
    """Add ``reglab register`` to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "register", help="register two images (classical, optimisation-based)", description=REGISTER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fixed", nargs="?", help="the fixed (reference) image file; omit both images for the demo")
    parser.add_argument("moving", nargs="?", help="the moving image file, to be aligned to the fixed one")
    parser.add_argument("--out", default="reglab_output", metavar="DIR",
                        help="output folder (created; default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace the outputs of an earlier run in DIR")
    parser.add_argument("--moving-labels", metavar="FILE",
                        help="a label map of the moving image (any grid): warped into warped_labels.nii.gz")
    parser.add_argument("--fixed-labels", metavar="FILE",
                        help="a label map of the fixed image: Dice and HD95 per label before and after")
    parser.add_argument("--transform", default=None, metavar="MODELS",
                        help="the model, or stages joined by '+', from rigid, affine, local_affine, bspline, dense, "
                             "svf (default: the engine's stages, affine then svf)")
    parser.add_argument("--similarity", default=None,
                        help="ssd, mse, ncc, local_ncc, mi, nmi, ngf, mind_ssd, mind_ssc (default: each default "
                             "stage's own, ncc for affine and local_ncc for svf; mi with --transform). For two "
                             "images of the same contrast use local_ncc (global ncc suits an affine stage alone); "
                             "for different contrasts mi")
    parser.add_argument("--regularization", default=None,
                        help="for the deformable stage: diffusion, elastic, bending_energy, curvature, "
                             "folding_penalty, or none (default: diffusion for the default svf stage; "
                             "bending_energy with --transform)")
    parser.add_argument("--weight", type=float, default=None,
                        help="regularization weight λ (default: 0.5 for the default svf stage; with --transform 100 "
                             "for bending_energy and curvature, 1 otherwise)")
    parser.add_argument("--grid-spacing", type=float, default=10.0, metavar="MM",
                        help="B-spline control point spacing in mm, rounded to whole voxels of the fixed image "
                             "per axis (default: %(default)s)")
    parser.add_argument("--levels", type=int, default=None, help="pyramid levels (default: 3)")
    parser.add_argument("--iterations", default=None, metavar="N[,N...]",
                        help="iterations per level and stage: one number for every level, or one per level, "
                             "coarsest first, e.g. 60,30,0 (default: each default stage's own: 40,20,0 and "
                             "40,20,10; 100 with --transform)")
    parser.add_argument("--optimizer", default="adam", choices=("adam", "lbfgs", "gd"),
                        help="optimizer (default: %(default)s)")
    parser.add_argument("--fixed-mask", metavar="FILE",
                        help="only voxels inside this mask (non-zero) count; another grid is resampled onto the "
                             "fixed one through the geometry")
    parser.add_argument("--device", default=None,
                        help="torch device, e.g. cpu or the name PyTorch gives your GPU (default: the GPU if any)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary")
    parser.set_defaults(handler=run_register, atomic=True)
    return parser


# ----------------------------------------------------------------------------- the command


def run_register(args):
    """``reglab register``: check, read, register, write the outputs whole; return the exit code."""
    start = time.perf_counter()
    _check_options(args)
    device = parse_device(args.device)
    demo = args.fixed is None
    if demo and args.similarity is None:
        args.similarity = "mi"                         # the demo's T2-like moving image: two contrasts
    names = (*OUTPUTS, *((LABEL_OUTPUT,) if args.moving_labels else ()), *(DEMO_OUTPUTS if demo else ()))
    with OutputFolder(args.out, (*names, *(() if args.moving_labels else (LABEL_OUTPUT,))), force=args.force) as out:
        fixed_image, moving_image, truth = _demo() if demo else (read_intensities(args.fixed, "fixed"),
                                                                  read_intensities(args.moving, "moving"), None)
        if fixed_image.GetDimension() != moving_image.GetDimension():
            raise CommandError(f"the images have different dimensions: fixed is {fixed_image.GetDimension()}D, "
                               f"moving is {moving_image.GetDimension()}D.")
        check_overlap(fixed_image, moving_image)
        mask = _mask(args.fixed_mask, fixed_image)
        moving_labels = read_labels(args.moving_labels, "moving labels") if args.moving_labels else None
        fixed_labels = _fixed_labels(args.fixed_labels, fixed_image)
        if fixed_labels is not None and moving_labels is None:
            raise CommandError("--fixed-labels needs --moving-labels (the labels to compare them with).")
        stages, levels, control_mm = stage_options(args, fixed_image)
        out.check_space(_bytes_needed(fixed_image, stages, moving_labels, demo))

        fixed, moving = _tensor_image(fixed_image, device), _tensor_image(moving_image, device)
        result, times = run_stages(fixed, moving, stages, dict(
            levels=levels, optimizer=args.optimizer, fixed_mask=None if mask is None else mask.to(device)),
            show=not args.quiet)
        transform = result.to_itk()
        shown = [scaled(image) for image in (fixed, moving)]                # the [0, 1] images the similarity sees
        warped = result.apply(shown[1])
        metrics = metrics_of(args, stages, *shown, warped, mask, result, times, control_mm)
        if fixed_labels is not None:
            metrics["labels"] = label_metrics(fixed_labels, moving_labels, transform, fixed_image)

        out.write_image("warped.nii.gz", resample_intensities(moving_image, transform, fixed_image))
        if moving_labels is not None:
            out.write_image(LABEL_OUTPUT, resample_labels(moving_labels, transform, fixed_image))
        out.write_image("displacement.nii.gz", _displacement_field(transform, fixed_image))
        out.write_transform("transform.h5", transform, _check_points(fixed_image))
        out.write("overlay.png", lambda path: _overlay_png(path, shown[0].data, before(*shown), warped),
                  _check_png)
        if demo:
            out.write_image("fixed.nii.gz", fixed_image)
            out.write_image("moving.nii.gz", moving_image)
        metrics["time_s"]["total"] = round(time.perf_counter() - start, 3)
        out.write_json("metrics.json", metrics)
        out.commit()
    if out.interrupted:
        print(f"reglab register: interrupted after the outputs were complete in {out.destination}", file=sys.stderr)
        return 130
    if args.quiet:
        for message in metrics["warnings"]:
            warn(message)
    else:
        print_summary(Path(args.out), names, metrics, result, truth, shown[0])
    return 0


def _check_options(args):
    from reglab.registration import MODELS
    from reglab.regularization import REGULARIZERS
    from reglab.similarity import MEASURES

    if (args.fixed is None) != (args.moving is None):
        raise CommandError("give both FIXED and MOVING, or neither (for the demo).")
    if args.fixed is None and (args.moving_labels or args.fixed_labels or args.fixed_mask):
        raise CommandError("the demo takes no labels or mask; give FIXED and MOVING too.")
    if args.similarity is not None and args.similarity not in MEASURES:
        raise CommandError(f"unknown --similarity {args.similarity!r}; choose from {', '.join(MEASURES)}.")
    if args.regularization not in (None, "none") and args.regularization not in REGULARIZERS:
        raise CommandError(f"unknown --regularization {args.regularization!r}; choose from "
                           f"{', '.join(REGULARIZERS)} or none.")
    names = [] if args.transform is None else [name.strip() for name in args.transform.split("+")]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise CommandError(f"unknown model(s) {unknown} in --transform {args.transform!r}; "
                           f"choose from {', '.join(MODELS)} joined by '+'.")
    for option, value, low in (("--weight", args.weight, 0.0), ("--grid-spacing", args.grid_spacing, None)):
        if value is not None and not (math.isfinite(value) and (value >= 0 if low == 0 else value > 0)):
            raise CommandError(f"expected {option} to be a finite number {'>= 0' if low == 0 else '> 0'}, got {value}.")
    if args.levels is not None and args.levels < 1:
        raise CommandError(f"expected --levels >= 1, got {args.levels}.")
    if args.iterations is not None:
        args.iterations = parse_iterations(args.iterations)


def _demo():
    """The embedded axial brain slice and a moved, deformed T2-like copy (SimpleITK images) and the true field."""
    from reglab import io
    from reglab.data import load_brain_slice, synthetic_pair

    brain = load_brain_slice("axial")
    pair = synthetic_pair(brain.image, brain.labels, brain.tissues, magnitude=3.0, smoothness=16.0,
                          affine=dict(rotation=8, translation=6, scale=0.05, shear=0.02), contrast="t2",
                          landmarks=0, seed=0)
    return io.to_sitk(pair.fixed, brain.geometry), io.to_sitk(pair.moving, brain.geometry), pair.displacement


def _tensor_image(image, device):
    """A SimpleITK image → :class:`reglab.io.Image` with the file's own intensities (float32), on ``device``."""
    from reglab import io

    data = torch.from_numpy(sitk.GetArrayFromImage(image).astype(np.float32))[None, None]
    geometry = io.Geometry(tuple(image.GetSpacing()[::-1]), tuple(image.GetOrigin()), tuple(image.GetDirection()))
    return io.Image(data.to(device), geometry)


def _mask(path, fixed_image):
    """``--fixed-mask``: ``(1, 1, *spatial)`` bool on the fixed grid; another grid is resampled through the geometry."""
    if path is None:
        return None
    mask = read_sitk(path, "mask")
    mask = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    if not same_grid(mask, fixed_image):
        original = describe(mask)
        mask = resample_labels(mask, identity(fixed_image.GetDimension()), fixed_image)
        warn(f"the mask {path} is on another grid ({original}) than the fixed image ({describe(fixed_image)}); "
             "resampled it onto the fixed grid through physical space.")
    array = sitk.GetArrayFromImage(mask) > 0
    if not array.any():
        raise CommandError(f"the mask {path} selects no voxel of the fixed image (mask: "
                           f"{describe(read_sitk(path, 'mask'))}; fixed image: {describe(fixed_image)}).")
    return torch.from_numpy(array)[None, None]


def _fixed_labels(path, fixed_image):
    if path is None:
        return None
    labels = read_labels(path, "fixed labels")
    if not same_grid(labels, fixed_image):
        warn(f"the fixed labels {path} are on another grid ({describe(labels)}) than the fixed image "
             f"({describe(fixed_image)}); resampled them onto the fixed grid through physical space.")
        labels = resample_labels(labels, identity(fixed_image.GetDimension()), fixed_image)
    return labels


def _bytes_needed(fixed_image, stages, moving_labels, demo):
    """About how many bytes the outputs take, uncompressed (the most they can take)."""
    voxels, ndim = math.prod(fixed_image.GetSize()), fixed_image.GetDimension()
    needed = voxels * 4 * (1 + ndim) + 2**21                                # warped, displacement, PNG and JSON
    if any(stage["transform"] in FIELD_MODELS for stage in stages):
        needed += voxels * 8 * ndim                                         # a displacement-field transform.h5
    if moving_labels is not None:
        needed += voxels * moving_labels.GetSizeOfPixelComponent()
    return needed + (voxels * 8 if demo else 0)


# ----------------------------------------------------------------------------- results


def _displacement_field(transform, fixed_image):
    """The ITK displacement (mm, physical x, y, z) on the fixed grid, float32 vectors."""
    field = sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, fixed_image.GetSize(),
                                              fixed_image.GetOrigin(), fixed_image.GetSpacing(),
                                              fixed_image.GetDirection())
    return sitk.Cast(field, sitk.sitkVectorFloat32)


def _check_points(fixed_image, count=64):
    """Physical points where the written transform is compared with the one in memory: corners and random voxels."""
    size = np.array(fixed_image.GetSize())
    corners = np.stack(np.meshgrid(*[[0, n - 1] for n in size], indexing="ij"), -1).reshape(-1, len(size))
    inside = np.random.default_rng(0).uniform(0, size - 1, size=(count, len(size)))
    return [tuple(p) for p in index_to_physical(fixed_image, np.concatenate([corners, inside]))]


def _overlay_png(path, fixed, before, warped):
    """Before/after magenta-green overlays (the middle slice of a volume) as a PNG."""
    from matplotlib.figure import Figure          # no pyplot: no window, whatever the backend

    from reglab.visualization import overlay

    figure = Figure(figsize=(9, 4.5), layout="tight")
    axes = figure.subplots(1, 2)
    overlay(fixed.cpu(), before.cpu(), ax=axes[0], title="before: fixed (green) / moving (magenta)")
    overlay(fixed.cpu(), warped.cpu(), ax=axes[1], title="after: fixed (green) / warped (magenta)")
    figure.savefig(path, dpi=100, format="png")


def _check_png(path):
    from matplotlib.image import imread

    imread(path)


