"""What ``reglab register`` measures and prints: similarity before/after, folding, Dice and HD95 per label, times,
and the engine's warnings.

Everything here goes into ``metrics.json`` too (for scripts); distances are in mm, HD95 ``null`` where a label
is missing from one map. "Before" is the moving image (or labels) placed on the fixed grid through the two
geometries only, i.e. where registration starts. The similarity is the last stage's measure, computed on the
intensities the engine's similarity sees (:func:`scaled`: rescaled to [0, 1] when outside it).
"""

import math

import numpy as np
import SimpleITK as sitk
import torch

from reglab.cli.resample import identity, resample_labels


def scaled(image):
    """A :class:`reglab.io.Image` as the engine's similarity sees it (``normalize="auto"``): intensities outside
    [0, 1] rescaled to [0, 1] (0.5th to 99.5th percentile inside the scanned region), others kept."""
    from reglab import io
    from reglab.registration import rescale_intensities, scanned_region

    data = image.data
    if data.min() < 0 or data.max() > 1:
        data = rescale_intensities(data, scanned_region(data))
    return io.Image(data, image.geometry)


def before(fixed, moving):
    """``(1, 1, *fixed)`` the moving image on the fixed grid through the geometries: the starting point."""
    from reglab.registration import resample_to_fixed

    return resample_to_fixed(fixed, moving)


def metrics_of(args, stages, fixed, moving, warped, mask, result, times, control_mm):
    """The ``metrics.json`` dictionary: the last stage's similarity (of :func:`scaled` images, inside the mask)
    before and after, % folding of the final field (Jacobian determinant <= 0), seconds per stage, the B-spline
    spacing in mm, the engine's warnings.

    Args:
        fixed, moving: :func:`scaled` images; ``warped`` ``(1, 1, *fixed)`` the scaled moving image through the
            result.
    """
    from reglab.evaluation import folding_fraction
    from reglab.similarity import HIGHER_IS_BETTER, MEASURES

    name, options = stages[-1]["similarity"], dict(stages[-1].get("similarity_options", {}))
    measure = MEASURES[name]
    mask = None if mask is None else mask.to(fixed.data.device, fixed.data.dtype)
    with torch.no_grad():
        start = measure(fixed.data, before(fixed, moving), mask=mask, **options).item()
        end = measure(fixed.data, warped, mask=mask, **options).item()
        folding = 100.0 * folding_fraction(result.displacement.cpu()).item()
    metrics = {
        "fixed": args.fixed and str(args.fixed),
        "moving": args.moving and str(args.moving),
        "transform": "+".join(stage["transform"] for stage in stages),
        "stages": [{key: list(value) if isinstance(value, tuple) else value for key, value in stage.items()
                    if key != "transform_options"} for stage in stages],
        "similarity": {"measure": name, **options, "before": start, "after": end,
                       "higher_is_better": HIGHER_IS_BETTER[name]},
        "folding_percent": folding,
        "time_s": dict(times),
        "warnings": list(result.warnings),
    }
    if control_mm is not None:
        metrics["bspline_control_spacing_mm"] = control_mm
    return metrics


def label_metrics(fixed_labels, moving_labels, transform, fixed_image):
    """Dice and HD95 (mm) per label of the moving labels before (through the geometry only) and after."""
    from reglab.evaluation import dice, hd95

    def tensor(image):
        return torch.from_numpy(sitk.GetArrayFromImage(image).astype(np.int64))[None, None]

    fixed = tensor(fixed_labels)
    before = tensor(resample_labels(moving_labels, identity(fixed_image.GetDimension()), fixed_image))
    after = tensor(resample_labels(moving_labels, transform, fixed_image))
    values = torch.unique(torch.cat([fixed.flatten(), tensor(moving_labels).flatten()]))
    labels = [int(v) for v in values if v != 0]
    spacing = tuple(fixed_image.GetSpacing()[::-1])                           # tensor axis order
    table = {}
    for key, warped in (("before", before), ("after", after)):
        scores = dice(fixed, warped, labels=labels)[0].tolist()
        distances = hd95(fixed, warped, labels=labels, spacing=spacing)[0].tolist()
        for label, score, distance in zip(labels, scores, distances):
            row = table.setdefault(str(label), {})
            row[f"dice_{key}"] = score
            row[f"hd95_mm_{key}"] = distance if math.isfinite(distance) else None
    return table


def print_summary(out, names, metrics, result, truth, fixed):
    similarity = metrics["similarity"]
    times = metrics["time_s"]
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items() if name != "total")
    print(f"time        {stages}; {times['total']:.1f} s in all (reading, checks and writing included)")
    better = "higher" if similarity["higher_is_better"] else "lower"
    window = f", window {similarity['window']}" if "window" in similarity else ""
    print(f"{similarity['measure']:<11} {similarity['before']:.3f} before, {similarity['after']:.3f} after "
          f"({better} is better; the last stage's measure{window}, on intensities in [0, 1] as registered)")
    print(f"folding     {metrics['folding_percent']:.3f} % of the fixed grid (Jacobian determinant <= 0)")
    if "bspline_control_spacing_mm" in metrics:
        spacing = "×".join(f"{s:g}" for s in metrics["bspline_control_spacing_mm"])
        print(f"B-spline    control points every {spacing} mm (whole voxels of the fixed grid, tensor axis order)")
    if "labels" in metrics:
        print("label       Dice before → after    HD95 (mm) before → after")
        for label, row in metrics["labels"].items():
            print(f"{label:<11} {row['dice_before']:.3f} → {row['dice_after']:.3f}          "
                  f"{_mm(row['hd95_mm_before'])} → {_mm(row['hd95_mm_after'])}")
    if truth is not None:
        inside = (fixed.data.cpu() > 0.05)[:, 0]
        error = (result.displacement.cpu() - truth).norm(dim=1)[inside].mean().item()
        print(f"demo        mean distance to the true displacement inside the brain {error:.2f} voxels "
              f"(before registration: {truth.norm(dim=1)[inside].mean().item():.2f})")
    for message in metrics["warnings"]:
        print(f"warning:    {message}")
    for index, name in enumerate(names):
        print(f"{'wrote' if index == 0 else '':<11} {out / name}")


def _mm(value):
    return "  n/a" if value is None else f"{value:5.2f}"
