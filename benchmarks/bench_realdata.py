"""Real inter-subject registration: hippocampus MR pairs scored by their manual labels, reglab vs ANTs and SimpleITK.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_realdata.py --pairs 10 --threads 2
    python benchmarks/bench_realdata.py --pairs 3 --methods before,reglab-defaults,reglab-recipe
    python benchmarks/bench_realdata.py --pairs 10 --out benchmarks/results/realdata.md   # also write the table
    python benchmarks/bench_realdata.py --combine a.json b.json        # one table from earlier runs' pairs

Data: the shared Learn2Reg copies of MSD Task04 (``../shared/data/msd_hippocampus_l2r``, see its
SOURCE.md); the benchmark is skipped (exit 0, a message) when that folder is absent. Pairs are taken among
the shared subjects that are **not** embedded in reglab (IDs above 037): subject ``2k`` of that list is
fixed, ``2k + 1`` moving, from ``--start`` on. The defaults were tuned on pairs 20-51 (``--start 20 --pairs
32``); ``benchmarks/results`` holds pairs 0-19 (``realdata.md``), 52-108 (``realdata_heldout.md``) and both
(``realdata_all.md``).

Rows (``--methods``, comma-separated; the peers are optional and skipped when not installed):

* ``before``: no registration (u = 0).
* ``ants-syn``: ANTsPy ``ants.registration(fixed, moving, type_of_transform="SyN")`` on the raw images
  (ANTs's default SyN: rigid + affine + SyN, Mattes MI then CC), as its documentation shows it.
* ``sitk-bspline``: SimpleITK, centred affine then B-spline (20 mm mesh, L-BFGS-B, 50 iterations per level; a
  10 mm mesh folded 9-13 % of the voxels without a regularizer), Mattes MI, 3 levels, on the raw images.
* ``reglab-defaults``: ``reglab.registration.register_stages(fixed, moving)`` with every default
  (:data:`reglab.registration.DEFAULT_STAGES`) on the images as read by ``reglab.io.read_image``.
* ``reglab-recipe``: ``register_stages(fixed, moving, RECIPE_STAGES)`` (:data:`RECIPE_STAGES`).
* ``reglab-cli`` (not run by default): ``reglab register`` with the options in :data:`RECIPE`.

Every row is scored the same way with reglab's own measures: each tool's result is turned into its ITK
displacement field on the fixed grid (mm, fixed point p -> moving point p + d(p)), converted to reglab's
voxel displacement ``u``; the moving labels are warped with ``reglab.warping.warp(..., mode="nearest")``;
then ``reglab.evaluation.dice`` per label, ``hd95(..., spacing=...)`` in mm, and ``jacobian_determinant(u)``
(% of fixed voxels with J <= 0). CPU seconds are the process CPU time (all threads) of the registration
call, at ``--threads`` threads for every tool (torch, ITK, OpenMP); the wall time is shown too.

Below the means, each reglab row is compared with ANTs SyN pair by pair (:func:`paired`): the mean of the
per-pair differences, its 95 % bootstrap interval, and how many pairs each tool wins. ``--out X.md`` also
writes every pair's scores to ``X.json``; ``--combine`` renders one table from several such files (e.g. two
ranges of pairs) without registering again.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "msd_hippocampus_l2r"
EMBEDDED_LAST_ID = 37                      # the embedded subset is the 20 subjects with IDs 001-037
METHODS = ("before", "ants-syn", "sitk-bspline", "reglab-defaults", "reglab-recipe", "reglab-cli")
DEFAULT_METHODS = METHODS[:-1]
RECIPE = ["--transform", "affine+svf", "--similarity", "local_ncc", "--regularization", "diffusion",
          "--weight", "1", "--fixed-mask", "{mask}"]
"""The ``reglab register`` options of the ``reglab-cli`` row (``{mask}``: the fixed image's unpadded region)."""
RECIPE_STAGES = (
    {"transform": "affine", "similarity": "ncc", "iterations": (100, 50, 0)},
    {"transform": "svf", "similarity": "local_ncc", "similarity_options": {"window": 5},
     "regularization": "diffusion", "weight": 0.5, "iterations": (100, 60, 15)},
)
"""The reglab recipe (``register_stages(fixed, moving, RECIPE_STAGES)``): the defaults' stages with more
iterations (affine 100, 50, 0 instead of 40, 20, 0; SVF 100, 60, 15 instead of 40, 20, 10)."""


def set_threads(threads):
    """The same thread count for torch, ITK (SimpleITK and ANTs) and OpenMP; call before importing them."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
        os.environ[name] = str(threads)


def pairs(count, start):
    """``count`` (fixed ID, moving ID) pairs of consecutive non-embedded shared subjects, from pair ``start`` on."""
    ids = sorted(p.name[12:15] for p in (SHARED / "Training" / "label").glob("hippocampus_*.nii.gz"))
    ids = [i for i in ids if int(i) > EMBEDDED_LAST_ID]
    chosen = [(ids[2 * k], ids[2 * k + 1]) for k in range(start, start + count) if 2 * k + 1 < len(ids)]
    if len(chosen) < count:
        sys.exit(f"bench_realdata: only {len(chosen)} pairs from --start {start}")
    return chosen


def path(kind, subject):
    return SHARED / "Training" / kind / f"hippocampus_{subject}.nii.gz"


# ----------------------------------------------------------------------------- the tools


def run_ants(fixed_file, moving_file, workdir):
    """ANTsPy SyN with its defaults; the composed forward warp as a SimpleITK displacement field (mm)."""
    import ants
    import SimpleITK as sitk

    fixed, moving = ants.image_read(str(fixed_file)), ants.image_read(str(moving_file))
    result = ants.registration(fixed, moving, type_of_transform="SyN", outprefix=str(workdir / "ants_"))
    composed = ants.apply_transforms(fixed, moving, transformlist=result["fwdtransforms"],
                                     compose=str(workdir / "ants_composed_"))
    return sitk.ReadImage(composed, sitk.sitkVectorFloat64)


def run_sitk(fixed_file, moving_file, workdir):
    """SimpleITK: centred affine then a B-spline (20 mm mesh), Mattes MI, 3-level pyramids."""
    import SimpleITK as sitk

    fixed = sitk.ReadImage(str(fixed_file), sitk.sitkFloat32)
    moving = sitk.ReadImage(str(moving_file), sitk.sitkFloat32)

    def method():
        r = sitk.ImageRegistrationMethod()
        r.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        r.SetMetricSamplingStrategy(r.RANDOM)
        r.SetMetricSamplingPercentage(0.25, seed=0)
        r.SetInterpolator(sitk.sitkLinear)
        r.SetShrinkFactorsPerLevel([4, 2, 1])
        r.SetSmoothingSigmasPerLevel([2, 1, 0])
        r.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
        return r

    affine = method()
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    affine.SetInitialTransform(initial, inPlace=False)
    affine.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=200)
    affine.SetOptimizerScalesFromPhysicalShift()
    affine_transform = affine.Execute(fixed, moving)

    bspline = method()
    mesh = [max(1, round(size * spacing / 20.0)) for size, spacing in zip(fixed.GetSize(), fixed.GetSpacing())]
    bspline.SetMovingInitialTransform(affine_transform)
    bspline.SetInitialTransform(sitk.BSplineTransformInitializer(fixed, mesh), inPlace=True)
    bspline.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=50)
    bspline_transform = bspline.Execute(fixed, moving)
    transform = sitk.CompositeTransform([affine_transform, bspline_transform])   # the B-spline acts first
    return sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, fixed.GetSize(), fixed.GetOrigin(),
                                             fixed.GetSpacing(), fixed.GetDirection())


def run_engine(fixed_file, moving_file, stages):
    """``register_stages`` on the images as read (raw intensities); reglab's voxel displacement ``u``."""
    from reglab.io import read_image
    from reglab.registration import register_stages

    result = register_stages(read_image(fixed_file), read_image(moving_file), stages, progress=False)
    return result.displacement


def run_reglab(fixed_file, moving_file, workdir, options, threads):
    """``reglab register`` (in this process, as the console script runs it); its displacement.nii.gz."""
    import SimpleITK as sitk

    from reglab.cli import main

    out = workdir / "reglab"
    code = main(["register", str(fixed_file), str(moving_file), "--out", str(out), "--force", "--quiet",
                 "--device", "cpu", *options])
    if code != 0:
        raise RuntimeError(f"reglab register exited with {code}")
    return sitk.ReadImage(str(out / "displacement.nii.gz"), sitk.sitkVectorFloat64)


# ----------------------------------------------------------------------------- scoring


def voxel_displacement(field, geometry):
    """An ITK displacement field (mm, physical order, fixed grid) → reglab's ``u`` ``(1, 3, D, H, W)`` in voxels."""
    import SimpleITK as sitk
    import torch

    from reglab.grid import identity_grid

    d = torch.from_numpy(sitk.GetArrayFromImage(field)).to(torch.float64)          # (D, H, W, 3), mm, (x, y, z)
    size = d.shape[:3]
    index = identity_grid(size, dtype=torch.float64)                                 # (3, D, H, W), tensor order
    index = index[0].reshape(3, -1).T                                               # (N, 3)
    points = geometry.index_to_physical(index) + d.reshape(-1, 3)
    u = geometry.physical_to_index(points) - index                                  # same grid for fixed and moving
    return u.T.reshape(1, 3, *size).float()


def score(u, fixed_labels, moving_labels, spacing):
    """Dice per label (1, 2), HD95 per label in mm, % of voxels with J <= 0."""
    from reglab.evaluation import dice, hd95, jacobian_determinant
    from reglab.warping import warp

    warped = warp(moving_labels, u, mode="nearest")
    return {
        "dice": dice(fixed_labels, warped, labels=[1, 2])[0].tolist(),
        "hd95": hd95(fixed_labels, warped, labels=[1, 2], spacing=spacing)[0].tolist(),
        "folding": 100.0 * (jacobian_determinant(u) <= 0).float().mean().item(),
    }


def available(method):
    import importlib.util

    need = {"ants-syn": "ants"}.get(method)
    return need is None or importlib.util.find_spec(need) is not None


def main():
    from reglab.console import tolerate_any_terminal

    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10, help="number of pairs (default: %(default)s)")
    parser.add_argument("--start", type=int, default=0, help="first pair (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every tool (default: %(default)s)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated rows of {', '.join(METHODS)} (default: all but reglab-cli)")
    parser.add_argument("--recipe", default=" ".join(RECIPE),
                        help="reglab register options of the reglab-cli row ({mask}: the fixed unpadded region; "
                             "default: %(default)s)")
    parser.add_argument("--out", default=None, help="also write the Markdown table (and the command) to this file, "
                        "and every pair's scores to the same name with .json")
    parser.add_argument("--combine", nargs="+", metavar="JSON", default=None,
                        help="render one table from earlier --out runs' .json files (their pairs one after the "
                             "other) instead of registering")
    parser.add_argument("--verbose", action="store_true", help="print every pair's scores")
    args = parser.parse_args()
    if args.combine:
        results, chosen, args.threads = combine(args.combine)
        return write(render(results, chosen, args, [], args.recipe.split()), None, args.out)
    set_threads(args.threads)
    recipe = args.recipe.split()
    if not (SHARED / "Training" / "label").is_dir():
        print(f"bench_realdata: {SHARED} is absent; nothing to benchmark (skipped).")
        return 0
    import numpy as np
    import SimpleITK as sitk
    import torch

    from reglab.io import read_image
    from reglab.registration import scanned_region

    torch.set_num_threads(args.threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        sys.exit(f"bench_realdata: unknown --methods {unknown}; choose from {', '.join(METHODS)}")
    skipped = [m for m in methods if not available(m)]
    methods = [m for m in methods if m not in skipped]
    chosen = pairs(args.pairs, args.start)
    results = {m: [] for m in methods}
    for fixed_id, moving_id in chosen:
        fixed_image = read_image(path("img", fixed_id))
        fixed_labels = read_image(path("label", fixed_id)).data
        moving_labels = read_image(path("label", moving_id)).data
        geometry = fixed_image.geometry
        spacing = geometry.spacing
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            mask_file = workdir / "fixed_region.nii.gz"
            region = scanned_region(fixed_image.data)[0, 0].numpy()      # Learn2Reg's padding removed
            mask = sitk.GetImageFromArray(region.astype(np.uint8))
            mask.CopyInformation(sitk.ReadImage(str(path("img", fixed_id))))
            sitk.WriteImage(mask, str(mask_file))
            for method in methods:
                cpu, wall = time.process_time(), time.perf_counter()
                if method == "before":
                    u = torch.zeros(1, 3, *fixed_labels.shape[2:])
                else:
                    if method == "ants-syn":
                        field = run_ants(path("img", fixed_id), path("img", moving_id), workdir)
                    elif method == "sitk-bspline":
                        field = run_sitk(path("img", fixed_id), path("img", moving_id), workdir)
                    elif method in ("reglab-defaults", "reglab-recipe"):
                        field = run_engine(path("img", fixed_id), path("img", moving_id),
                                           None if method == "reglab-defaults" else RECIPE_STAGES)
                    else:
                        options = [o.format(mask=mask_file) for o in recipe]
                        field = run_reglab(path("img", fixed_id), path("img", moving_id), workdir, options,
                                           args.threads)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                if method != "before":
                    u = field.float() if isinstance(field, torch.Tensor) else voxel_displacement(field, geometry)
                scores = score(u, fixed_labels, moving_labels, spacing)
                scores.update(cpu=cpu if method != "before" else 0.0, wall=wall if method != "before" else 0.0)
                results[method].append(scores)
                if args.verbose:
                    print(f"{fixed_id}<-{moving_id} {method:16s} dice {scores['dice'][0]:.3f} {scores['dice'][1]:.3f} "
                          f"hd95 {scores['hd95'][0]:.2f} {scores['hd95'][1]:.2f} fold {scores['folding']:.3f}% "
                          f"cpu {scores['cpu']:.1f}s wall {scores['wall']:.1f}s", flush=True)
    run = {"threads": args.threads, "pairs": chosen, "results": results}
    return write(render(results, chosen, args, skipped, recipe), run, args.out)


def write(table, run, out):
    """Print the table; with ``out``, write it there and the per-pair scores ``run`` (if any) beside it
    (``.json``), each through ``reglab.io``'s temporary file renamed into place (never half-written)."""
    import json

    from reglab.io import _atomic

    print(table)
    if out:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        _atomic(out, lambda name: Path(name).write_text(table + "\n", encoding="utf-8"))
        if run is not None:
            text = json.dumps(run) + "\n"
            _atomic(out.with_suffix(".json"), lambda name: Path(name).write_text(text, encoding="utf-8"))
    return 0


PAIRED = (("Dice anterior", "dice", 0, 1), ("Dice posterior", "dice", 1, 1),
          ("HD95 anterior (mm)", "hd95", 0, -1), ("HD95 posterior (mm)", "hd95", 1, -1))
"""The per-pair comparisons of :func:`paired`: (name, score, label index, +1 if higher is better else -1)."""


def paired(rows, reference_rows, *, resamples=10000, seed=0):
    """Pair-by-pair comparison of one tool with a reference (same pairs, same order).

    Returns:
        one ``(name, mean difference, (low, high), better, worse)`` per :data:`PAIRED` entry: the mean over the
        pairs of ``tool - reference``, the 2.5th and 97.5th percentiles of that mean over ``resamples`` bootstrap
        resamples of the pairs, and the number of pairs where the tool is better / worse than the reference.
    """
    import numpy as np

    if len(rows) != len(reference_rows) or not rows:
        raise ValueError(f"paired(): expected the same number (> 0) of pairs, got {len(rows)} and "
                         f"{len(reference_rows)}.")
    generator = np.random.default_rng(seed)
    resampled = generator.integers(0, len(rows), size=(resamples, len(rows)))      # (resamples, pairs)
    out = []
    for name, key, label, sign in PAIRED:
        difference = np.array([r[key][label] - q[key][label] for r, q in zip(rows, reference_rows)])
        means = difference[resampled].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        better, worse = int((sign * difference > 0).sum()), int((sign * difference < 0).sum())
        out.append((name, float(difference.mean()), (float(low), float(high)), better, worse))
    return out


def combine(files):
    """``(results, chosen, threads)`` of several ``--out`` JSON files: their pairs one after the other, the methods
    that every file has."""
    import json

    runs = [json.loads(Path(file).read_text(encoding="utf-8")) for file in files]
    threads = {run["threads"] for run in runs}
    if len(threads) != 1:
        sys.exit(f"bench_realdata: --combine expects runs at one thread count, got {sorted(threads)}")
    methods = [m for m in runs[0]["results"] if all(m in run["results"] for run in runs)]
    results = {m: [row for run in runs for row in run["results"][m]] for m in methods}
    chosen = [tuple(pair) for run in runs for pair in run["pairs"]]
    return results, chosen, threads.pop()


def render(results, chosen, args, skipped, recipe):
    """The Markdown table: means over the pairs (Dice and HD95 per label, and the count of Dice gains)."""
    import numpy as np

    lines = [
        f"Real inter-subject pairs: {len(chosen)} pairs of MSD Task04 hippocampus subjects not embedded in reglab "
        f"(fixed<-moving: {', '.join(f'{f}<-{m}' for f, m in chosen)}), {args.threads} threads for every tool.",
        "",
        "| method | Dice 1 (anterior) | Dice 2 (posterior) | mean Dice | HD95 1 (mm) | HD95 2 (mm) | % J ≤ 0 | "
        "CPU s / pair | wall s / pair |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, rows in results.items():
        dice = np.array([r["dice"] for r in rows])
        hd = np.array([r["hd95"] for r in rows])
        fold = np.array([r["folding"] for r in rows])
        cpu, wall = np.mean([r["cpu"] for r in rows]), np.mean([r["wall"] for r in rows])
        lines.append(f"| {method} | {dice[:, 0].mean():.3f} | {dice[:, 1].mean():.3f} | {dice.mean():.3f} | "
                     f"{hd[:, 0].mean():.2f} | {hd[:, 1].mean():.2f} | {fold.mean():.3f} (max {fold.max():.3f}) | "
                     f"{cpu:.1f} | {wall:.1f} |")
    if "before" in results:
        base = np.array([r["dice"] for r in results["before"]])
        worse = {m: int((np.array([r["dice"] for r in rows]) < base - 1e-9).sum()) for m, rows in results.items()
                 if m != "before"}
        lines += ["", "Labels whose Dice got worse than before (of " + str(base.size) + "): "
                  + ", ".join(f"{m} {n}" for m, n in worse.items())]
    if "ants-syn" in results:
        lines += ["", "Paired with ANTs SyN (per pair: reglab - ANTs; the mean, its 95 % bootstrap interval, and the "
                  "pairs where reglab is better / worse):", "",
                  "| method | " + " | ".join(name for name, *_ in PAIRED) + " |", "|---" * (len(PAIRED) + 1) + "|"]
        for method in (m for m in results if m.startswith("reglab")):
            cells = [f"{mean:+.3f} [{low:+.3f}, {high:+.3f}], {better} / {worse}"
                     for _, mean, (low, high), better, worse in paired(results[method], results["ants-syn"])]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", f"reglab recipe: `register_stages(fixed, moving, {list(RECIPE_STAGES)})`."]
    if "reglab-cli" in results:
        lines += ["reglab-cli options: `reglab register FIXED MOVING " + " ".join(recipe) + "` "
                  "(`{mask}` = the fixed image's unpadded region)."]
    if skipped:
        lines.append(f"Skipped (not installed): {', '.join(skipped)}.")
    import shlex

    command = "OMP_NUM_THREADS={} python benchmarks/bench_realdata.py {}".format(args.threads, shlex.join(sys.argv[1:]))
    lines += [f"Command: `{command}`"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
