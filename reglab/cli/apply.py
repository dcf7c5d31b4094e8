"""``reglab apply TRANSFORM IMAGE --reference FIXED --out FILE [--labels]``: a saved result on any other image.

Another contrast of the moving subject, a mask, a label map: ``TRANSFORM`` (the ``transform.h5`` of
``reglab register``, or any transform SimpleITK reads) brings it onto the grid of ``FIXED``. The image may be
on any grid; it is placed through its own geometry. Intensities are resampled linearly (float32), labels
label-preservingly with their integer type kept (:mod:`reglab.cli.resample`), exactly as ``reglab register``
makes ``warped.nii.gz`` and ``warped_labels.nii.gz``. The output is written beside ``FILE``, read back, then
renamed onto it (:mod:`reglab.cli.outputs`).
"""

import argparse
import sys
from pathlib import Path

import SimpleITK as sitk

from reglab.cli.errors import CommandError
from reglab.cli.inputs import describe, read_intensities, read_labels, read_sitk
from reglab.cli.outputs import OutputFile
from reglab.cli.resample import resample_intensities, resample_labels

APPLY_HELP = """\
Apply a saved transform (e.g. DIR/transform.h5 of `reglab register`) to IMAGE and write it on the grid of
the reference (fixed) image: warped(p) = IMAGE(T(p)) for every fixed-grid point p, 0 outside IMAGE.
IMAGE may be on any grid (its geometry places it). With --labels, IMAGE is a label map: each voxel takes
the label with the largest share (no invented labels) and the file's integer type is kept; otherwise
intensities are interpolated linearly and written as float32.
"""


def add_apply_parser(subparsers):
    """Add ``reglab apply`` to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser("apply", help="apply a saved transform to another image or label map",
                                   description=APPLY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("transform", help="the transform file (transform.h5 of reglab register, .tfm, .txt, .h5)")
    parser.add_argument("image", help="the image or label map to bring onto the reference grid")
    parser.add_argument("--reference", required=True, metavar="FIXED", help="the image whose grid the output takes")
    parser.add_argument("--out", required=True, metavar="FILE", help="the output file (e.g. t2_on_fixed.nii.gz)")
    parser.add_argument("--labels", action="store_true", help="IMAGE is a label map (label-preserving)")
    parser.add_argument("--force", action="store_true", help="overwrite FILE")
    parser.set_defaults(handler=run_apply, atomic=True)
    return parser


def run_apply(args):
    """``reglab apply``: check, resample, write the one output whole; return the exit code."""
    with OutputFile(args.out, force=args.force) as out:
        transform = _read_transform(args.transform)
        reference = read_sitk(args.reference, "reference")
        image = read_labels(args.image, "labels") if args.labels else read_intensities(args.image, "image",
                                                                                     constant_ok=True)
        dimensions = {"transform": transform.GetDimension(), "image": image.GetDimension(),
                      "reference": reference.GetDimension()}
        if len(set(dimensions.values())) > 1:
            raise CommandError("expected the same dimension for the transform, the image and the reference, got "
                               + ", ".join(f"{key} {value}D" for key, value in dimensions.items()) + ".")
        warped = (resample_labels if args.labels else resample_intensities)(image, transform, reference)
        if not sitk.GetArrayViewFromImage(warped).any() and sitk.GetArrayViewFromImage(image).any():
            raise CommandError(f"{args.image} does not reach the reference grid through the transform (the output "
                               f"would be all zeros): reference {describe(reference)}, image {describe(image)}.")
        out.check_space(warped.GetNumberOfPixels() * warped.GetSizeOfPixelComponent() + 2**20)
        out.write_image(Path(args.out).name, warped)
        out.commit()
    if out.interrupted:
        print(f"reglab apply: interrupted after {args.out} was complete", file=sys.stderr)
        return 130
    return 0


def _read_transform(path):
    if not Path(path).is_file():
        raise CommandError(f"cannot read the transform: no such file: {path}")
    try:
        return sitk.ReadTransform(str(path))
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown format"
        raise CommandError(f"cannot read the transform: SimpleITK cannot read {path}: {reason}") from None
