"""The ``reglab`` command line: ``reglab register FIXED MOVING --out DIR`` and ``reglab grade SUBMISSIONS --lab NN``.

Every subcommand is a function ``add_NAME_parser(subparsers)`` that adds its
parser and sets ``handler`` (a function of the parsed arguments that returns an
exit code). :data:`COMMANDS` lists them; a new subcommand is one more line there.

Examples::

    reglab register                                   # the demo: an embedded brain pair, results in ./reglab_output
    reglab register fixed.nii.gz moving.nii.gz --out result
    reglab register t1.nii.gz t2.nii.gz --out result --transform rigid+affine+bspline --similarity mi
    reglab register --help

Lab 05 ("Classical registration") shows the same steps in Python (:mod:`reglab.registration`).
"""

import argparse
import sys
from pathlib import Path

import torch

from reglab.course.grading import add_grade_parser

OUTPUTS = ("warped.nii.gz", "displacement.nii.gz", "transform.h5", "overlay.png")
"""What ``reglab register`` writes into ``--out``."""

DEFORMABLE = ("bspline", "dense", "svf", "local_affine")

DEFAULT_WEIGHTS = {"bending_energy": 100.0, "curvature": 100.0}
"""Regularization weights that suit a 1-2 mm brain pair (second-order penalties are small numbers in voxels)."""

REGISTER_HELP = """\
Register MOVING onto FIXED and write into DIR:
  warped.nii.gz        the moving image resampled onto the fixed image's grid
  displacement.nii.gz  the displacement field in mm on the fixed grid (ITK convention: fixed point p
                       maps to the moving point p + d(p))
  transform.h5         the ITK transform (SimpleITK, 3D Slicer, ANTs, elastix tools read it); it
                       moves fixed physical points to moving physical points
  overlay.png          fixed (green) / moving (magenta) before and after registration

Images may be in any format SimpleITK reads (NIfTI, NRRD, MHA, DICOM folder, PNG, ...); the two
images may have different grids (spacing, origin, direction): they register in physical space.
Without FIXED and MOVING, the demo registers an embedded brain slice to a synthetic T2-weighted
copy of it that was moved and deformed, and also writes fixed.nii.gz and moving.nii.gz.

Defaults suit a typical brain MRI pair: affine then B-spline (10 mm control spacing), Mattes-like
mutual information (works within and across contrasts), bending energy with weight 100, a 3-level
pyramid, Adam. Intensities are rescaled to [0, 1] (0.5th to 99.5th percentile) first.
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
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs in DIR")
    parser.add_argument("--transform", default="affine+bspline", metavar="MODELS",
                        help="the model, or stages joined by '+', from rigid, affine, local_affine, bspline, dense, "
                             "svf (default: %(default)s)")
    parser.add_argument("--similarity", default="mi",
                        help="ssd, mse, ncc, local_ncc, mi, nmi, ngf, mind_ssd, mind_ssc (default: %(default)s; "
                             "use ncc or mse for two images of the same contrast)")
    parser.add_argument("--regularization", default="bending_energy",
                        help="for the deformable stage: diffusion, elastic, bending_energy, curvature, "
                             "folding_penalty, or none (default: %(default)s)")
    parser.add_argument("--weight", type=float, default=None,
                        help="regularization weight λ (default: 100 for bending_energy and curvature, 1 otherwise)")
    parser.add_argument("--grid-spacing", type=float, default=10.0, metavar="MM",
                        help="B-spline control point spacing in mm (default: %(default)s)")
    parser.add_argument("--levels", type=int, default=3, help="pyramid levels (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=100, help="iterations per level and stage (default: %(default)s)")
    parser.add_argument("--optimizer", default="adam", choices=("adam", "lbfgs", "gd"),
                        help="optimizer (default: %(default)s)")
    parser.add_argument("--fixed-mask", metavar="FILE", help="only voxels inside this mask (fixed grid) count")
    parser.add_argument("--device", default=None,
                        help="torch device, e.g. cpu or the name PyTorch gives your GPU (default: the GPU if any)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.set_defaults(handler=run_register)
    return parser


COMMANDS = {"register": add_register_parser, "grade": add_grade_parser}
"""Subcommand name → the function that adds its parser."""


def build_parser():
    """The ``reglab`` parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="reglab", description="reglab: medical image registration, taught.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``reglab`` console script; returns the exit code (0 success, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"reglab {args.command}: error: {error}", file=sys.stderr)
        return 2


class CommandError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


# ----------------------------------------------------------------------------- reglab register


def _read(path, role):
    """Read an image with reglab.io, turning every failure into a :class:`CommandError`."""
    from reglab import io

    try:
        image = io.read_image(path)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(f"cannot read the {role} image: {error}") from None
    data = image.data
    if data.shape[2:].numel() == 0 or min(data.shape[2:]) < 4:
        raise CommandError(f"the {role} image {path} is too small or empty: spatial shape {tuple(data.shape[2:])}.")
    if data.shape[1] != 1:
        raise CommandError(f"the {role} image {path} has {data.shape[1]} components; expected a scalar image.")
    data = data.float()
    if not torch.isfinite(data).all():
        raise CommandError(f"the {role} image {path} contains NaN or Inf values.")
    if data.max() == data.min():
        raise CommandError(f"the {role} image {path} is empty: every voxel is {data.min().item():g}.")
    return io.Image(data, image.geometry)


def _demo():
    """The embedded axial brain slice and a moved, deformed T2-like copy, with geometry."""
    from reglab import io
    from reglab.data import load_brain_slice, synthetic_pair

    brain = load_brain_slice("axial")
    pair = synthetic_pair(brain.image, brain.labels, brain.tissues, magnitude=3.0, smoothness=16.0,
                          affine=dict(rotation=8, translation=6, scale=0.05, shear=0.02), contrast="t2",
                          landmarks=0, seed=0)
    return io.Image(pair.fixed, brain.geometry), io.Image(pair.moving, brain.geometry), pair.displacement


def _stages(args, fixed):
    """``register_stages`` stage options from the command line."""
    names = [name.strip() for name in args.transform.split("+")]
    from reglab.registration import MODELS

    unknown = [name for name in names if name not in MODELS]
    if unknown or not names:
        raise CommandError(f"unknown model(s) {unknown} in --transform {args.transform!r}; "
                           f"choose from {', '.join(MODELS)} joined by '+'.")
    stages = []
    for name in names:
        stage = {"transform": name}
        if name in DEFORMABLE and args.regularization != "none":
            weight = args.weight if args.weight is not None else DEFAULT_WEIGHTS.get(args.regularization, 1.0)
            stage.update(regularization=args.regularization, weight=weight)
        if name == "bspline":
            spacing = [max(1, round(args.grid_spacing / s)) for s in fixed.geometry.spacing]
            stage["transform_options"] = {"spacing": tuple(spacing)}
        stages.append(stage)
    return stages


def _check_outputs(out, force, names):
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a folder.")
    existing = [name for name in names if (out / name).exists()]
    if existing and not force:
        raise CommandError(f"{out} already holds {', '.join(existing)}; pass --force to overwrite, or choose "
                           "another --out.")
    return out


def run_register(args):
    """``reglab register``: read, register, write the four outputs; return the exit code."""
    from reglab import io
    from reglab.registration import register_stages, resample_to_fixed
    from reglab.regularization import REGULARIZERS
    from reglab.similarity import MEASURES

    if (args.fixed is None) != (args.moving is None):
        raise CommandError("give both FIXED and MOVING, or neither (for the demo).")
    if args.similarity not in MEASURES:
        raise CommandError(f"unknown --similarity {args.similarity!r}; choose from {', '.join(MEASURES)}.")
    if args.regularization != "none" and args.regularization not in REGULARIZERS:
        raise CommandError(f"unknown --regularization {args.regularization!r}; choose from "
                           f"{', '.join(REGULARIZERS)} or none.")
    if args.levels < 1 or args.iterations < 0 or (args.weight or 0) < 0 or args.grid_spacing <= 0:
        raise CommandError("expected --levels >= 1, --iterations >= 0, --weight >= 0 and --grid-spacing > 0.")
    demo = args.fixed is None
    names = OUTPUTS + (("fixed.nii.gz", "moving.nii.gz") if demo else ())
    out = _check_outputs(args.out, args.force, names)
    truth = None
    if demo:
        fixed, moving, truth = _demo()
    else:
        fixed, moving = _read(args.fixed, "fixed"), _read(args.moving, "moving")
    if fixed.data.dim() != moving.data.dim():
        raise CommandError(f"the images have different dimensions: fixed is {fixed.data.dim() - 2}D, "
                           f"moving is {moving.data.dim() - 2}D.")
    mask = None
    if args.fixed_mask:
        mask = _read(args.fixed_mask, "mask").data > 0
        if mask.shape[2:] != fixed.data.shape[2:]:
            raise CommandError(f"the mask's grid {tuple(mask.shape[2:])} differs from the fixed image's "
                               f"{tuple(fixed.data.shape[2:])}.")
    try:
        device = torch.device(args.device) if args.device else None
    except RuntimeError as error:
        raise CommandError(f"unknown --device {args.device!r}: {error}") from None
    if device is None:
        from reglab import default_device

        device = default_device()
    fixed = io.Image(_normalized(fixed.data).to(device), fixed.geometry)
    moving = io.Image(_normalized(moving.data).to(device), moving.geometry)
    result = register_stages(fixed, moving, _stages(args, fixed), similarity=args.similarity, levels=args.levels,
                             iterations=args.iterations, optimizer=args.optimizer, progress=not args.quiet,
                             fixed_mask=None if mask is None else mask.to(device))
    out.mkdir(parents=True, exist_ok=True)
    transform = result.to_itk()
    before = resample_to_fixed(fixed, moving)
    io.write_image(out / "warped.nii.gz", result.warped.cpu(), fixed.geometry)
    io.write_image(out / "displacement.nii.gz", _physical_field(transform, fixed), fixed.geometry)
    io.write_transform(out / "transform.h5", transform)
    _overlay_png(out / "overlay.png", fixed.data, before, result.warped)
    if demo:
        io.write_image(out / "fixed.nii.gz", fixed.data.cpu(), fixed.geometry)
        io.write_image(out / "moving.nii.gz", moving.data.cpu(), moving.geometry)
    if not args.quiet:
        _summary(out, names, args.similarity, fixed.data, before, result, truth)
    return 0


def _normalized(image):
    """Intensities scaled to [0, 1] (robustly: 0.5th to 99.5th percentile) so that defaults fit every scanner."""
    values = image.flatten()
    sample = values[torch.linspace(0, values.numel() - 1, min(values.numel(), 1_000_000)).long()]
    low, high = torch.quantile(sample, 0.005), torch.quantile(sample, 0.995)
    if high <= low:
        low, high = image.min(), image.max()
    return ((image - low) / (high - low)).clamp(0, 1)


def _physical_field(transform, fixed):
    """``(1, ndim, *spatial)`` the ITK displacement in mm (physical x, y, z order) on the fixed grid."""
    import SimpleITK as sitk

    geometry, size = fixed.geometry, fixed.data.shape[2:]
    field = sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, list(size)[::-1], geometry.origin,
                                              geometry.spacing[::-1], geometry.direction)
    vectors = torch.from_numpy(sitk.GetArrayFromImage(field)).float()          # (*spatial, ndim)
    return vectors.movedim(-1, 0)[None]


def _overlay_png(path, fixed, before, warped):
    """Before/after magenta-green overlays (the middle slice of a volume) as a PNG."""
    from matplotlib.figure import Figure          # no pyplot: no window, whatever the backend

    from reglab.visualization import overlay

    figure = Figure(figsize=(9, 4.5), layout="tight")
    axes = figure.subplots(1, 2)
    overlay(fixed.cpu(), before.cpu(), ax=axes[0], title="before: fixed (green) / moving (magenta)")
    overlay(fixed.cpu(), warped.cpu(), ax=axes[1], title="after: fixed (green) / warped (magenta)")
    figure.savefig(path, dpi=100)


def _summary(out, names, similarity, fixed, before, result, truth):
    from reglab.similarity import MEASURES

    measure = MEASURES[similarity]
    print(f"{similarity} of fixed and moving: {measure(fixed, before).item():.3f} before registration, "
          f"{measure(fixed, result.warped).item():.3f} after")
    if truth is not None:
        inside = (fixed.cpu() > 0.05)[:, 0]
        error = (result.displacement.cpu() - truth).norm(dim=1)[inside].mean().item()
        print(f"demo: mean distance to the true displacement inside the brain {error:.2f} voxels "
              f"(before registration: {truth.norm(dim=1)[inside].mean().item():.2f})")
    print(f"wrote {', '.join(str(Path(out) / name) for name in names)}")


if __name__ == "__main__":
    sys.exit(main())
