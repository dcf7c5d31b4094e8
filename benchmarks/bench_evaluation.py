"""Benchmark reglab.evaluation: HD95, Dice and the Jacobian determinant against their usual implementations.

Run::

    python benchmarks/bench_evaluation.py --threads 2                    # CPU, every case
    python benchmarks/bench_evaluation.py --threads 2 --only "35 labels" # the cases whose title contains this
    python benchmarks/bench_evaluation.py --device <name> --repeats 5    # e.g. the name PyTorch gives a GPU
    python benchmarks/bench_evaluation.py --only HD95 --peers surface    # reglab and only the peers named so

Cases (as issue 7 asks):

* HD95 of two 3D masks of 160 x 192 x 224 (anisotropic spacing), and of a
  35-label map of 96 x 112 x 96: reglab, MONAI's ``compute_hausdorff_distance``
  (one-hot input, k-d tree on the CPU) and a SciPy distance-transform
  implementation (the one in the Learn2Reg/medpy scripts) - all compute the
  same number, which the script checks;
* HD95 of the 35-label map also against DeepMind's ``surface-distance``
  (``compute_robust_hausdorff``, one label at a time; it weighs surfels by their
  area, so its numbers differ slightly);
* Dice of one binary mask 128³ (bool): reglab, medpy ``dc``, ``surface-distance``
  ``compute_dice_coefficient`` and a NumPy ``bincount``;
* Dice of a 35-label map: reglab (``bincount``), a NumPy ``bincount``, and
  MONAI's ``compute_dice`` (one-hot);
* the Jacobian determinant of a 3 x 160 x 192 x 224 field: reglab, ``np.gradient``
  (voxelmorph's ``jacobian_determinant``) and a plain torch finite-difference
  computation (``torch.gradient``).

Peers that are not installed are skipped. Times are the median of ``--repeats``
runs, the implementations interleaved (a shared machine slows them alike: read the
ratio to reglab, the last column, rather than the seconds); "peak MiB" is the growth of the process's resident memory during the
call, sampled every millisecond (on an accelerator: the device's peak
allocation). The script never moves accelerator tensors to the CPU for reglab.
"""

import argparse
import os
import threading
import time

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from reglab import evaluation
from reglab.console import tolerate_any_terminal

try:
    from monai.metrics import compute_dice, compute_hausdorff_distance
except ImportError:                                    # MONAI is optional
    compute_dice = compute_hausdorff_distance = None
try:
    from medpy.metric.binary import dc as medpy_dc
except ImportError:                                    # medpy is optional
    medpy_dc = None
try:
    import surface_distance
except ImportError:                                    # DeepMind's surface-distance is optional
    surface_distance = None


# --------------------------------------------------------------------------- measuring


def _rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _synchronize(device):
    if device.type != "cpu":
        torch.accelerator.synchronize()


def _peak(fn, device):
    """Peak memory growth (MiB) during one call: device allocations, or the resident memory sampled every ms."""
    if device.type != "cpu":
        torch.accelerator.reset_peak_memory_stats()
        before = torch.accelerator.memory_allocated()
        fn()
        _synchronize(device)
        return (torch.accelerator.max_memory_allocated() - before) / 2**20
    peak, baseline, running = [0], _rss(), [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], _rss())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    fn()
    running[0] = False
    sampler.join()
    return max(peak[0] - baseline, 0) / 2**20


def compare(functions, device, repeats, peers=()):
    """``{name: (median seconds, peak MiB, result)}``; the repeats of all functions are interleaved,
    so that a busy machine slows them alike. With ``peers`` only reglab and the implementations whose
    name contains one of them run."""
    functions = {name: fn for name, fn in functions.items()
                 if name.startswith("reglab") or not peers or any(p in name for p in peers)}
    results = {name: fn() for name, fn in functions.items()}             # warm up, keep the values
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            _synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: (float(np.median(times[name])), _peak(fn, device), results[name]) for name, fn in functions.items()}


# --------------------------------------------------------------------------- data


def smooth_noise(shape, coarse, seed):
    rng = np.random.default_rng(seed)
    return ndimage.zoom(rng.normal(size=coarse), [n / c for n, c in zip(shape, coarse)], order=1)


def blob_pair(shape, change):
    """Two irregular solid blobs (deformed ellipsoids) as bool arrays; ``change`` sets how much they differ."""
    axes = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij", sparse=True)
    radius = sum((a / 0.7) ** 2 for a in axes)
    shape_noise, difference = smooth_noise(shape, (6, 6, 6), 1), smooth_noise(shape, (6, 6, 6), 2)
    return radius <= 1 + 0.3 * shape_noise, radius <= 1 + 0.3 * shape_noise + change * difference


def label_pair(shape, labels=35):
    """Two Voronoi label maps with `labels` regions inside an ellipsoid, the second with jittered seeds."""
    rng = np.random.default_rng(0)
    axes = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    points = np.stack([a.ravel() for a in axes], axis=1)
    inside = sum(((a - n / 2) / (0.45 * n)) ** 2 for a, n in zip(axes, shape)).ravel() <= 1
    seeds = rng.uniform(0.2, 0.8, size=(labels, 3)) * shape
    maps = []
    for jitter in (0.0, 3.0):
        moved = seeds + rng.normal(scale=jitter, size=seeds.shape)
        nearest = cKDTree(moved).query(points)[1] + 1
        maps.append(np.where(inside, nearest, 0).reshape(shape).astype(np.int64))
    return maps


# --------------------------------------------------------------------------- peers


def hd95_scipy_edt(fixed, moving, spacing, labels):
    """HD95 per label with SciPy's exact EDT of each boundary over the whole grid (Learn2Reg/medpy style)."""
    structure = ndimage.generate_binary_structure(fixed.ndim, 1)
    result = []
    for label in labels:
        a, b = fixed == label, moving == label
        a = a & ~ndimage.binary_erosion(a, structure, border_value=0)
        b = b & ~ndimage.binary_erosion(b, structure, border_value=0)
        to_b = ndimage.distance_transform_edt(~b, sampling=spacing)[a]
        to_a = ndimage.distance_transform_edt(~a, sampling=spacing)[b]
        result.append(max(np.percentile(to_b, 95), np.percentile(to_a, 95)))
    return np.array(result)


def one_hot(labels, count):
    return torch.nn.functional.one_hot(labels[:, 0], count + 1).movedim(-1, 1)


def hd95_monai(fixed, moving, spacing, count):
    return compute_hausdorff_distance(one_hot(moving, count), one_hot(fixed, count), percentile=95,
                                      spacing=spacing)[0]


def hd95_surface_distance(fixed, moving, spacing, labels):
    """HD95 per label with DeepMind's surface-distance (surfel areas as weights)."""
    return np.array([surface_distance.compute_robust_hausdorff(
        surface_distance.compute_surface_distances(fixed == label, moving == label, spacing), 95) for label in labels])


def dice_numpy_binary(fixed, moving):
    """Dice of two bool masks by a joint histogram with NumPy's bincount (as for labels)."""
    joint = np.bincount(2 * fixed.ravel().astype(np.uint8) + moving.ravel(), minlength=4)
    return 2 * joint[3] / (joint[2] + joint[3] + joint[1] + joint[3])


def jacobian_numpy(u):
    """det(I + ∇u) with np.gradient, as voxelmorph's ``jacobian_determinant`` (one field, (3, *spatial))."""
    gradient = [np.gradient(u[i], axis=(0, 1, 2)) for i in range(3)]         # [component][axis]
    g = [[gradient[i][j] + (i == j) for j in range(3)] for i in range(3)]
    return (g[0][0] * (g[1][1] * g[2][2] - g[1][2] * g[2][1])
            - g[0][1] * (g[1][0] * g[2][2] - g[1][2] * g[2][0])
            + g[0][2] * (g[1][0] * g[2][1] - g[1][1] * g[2][0]))


def dice_numpy(fixed, moving, labels):
    """Dice by a joint histogram with NumPy's bincount."""
    bins = int(max(fixed.max(), moving.max())) + 1
    size_f, size_m = np.bincount(fixed.ravel(), minlength=bins), np.bincount(moving.ravel(), minlength=bins)
    both = np.bincount(fixed.ravel()[fixed.ravel() == moving.ravel()], minlength=bins)
    return 2 * both[labels] / (size_f[labels] + size_m[labels])


def jacobian_plain(u):
    """det(I + ∇u) with torch.gradient (central inside, one-sided at the borders)."""
    gradient = [torch.stack(torch.gradient(u[:, i], dim=(1, 2, 3)), dim=1) for i in range(3)]
    g = torch.stack(gradient, dim=1)                          # (B, 3, 3, *spatial): component, derivative
    g = g + torch.eye(3, dtype=u.dtype, device=u.device).reshape(1, 3, 3, 1, 1, 1)
    return (g[:, 0, 0] * (g[:, 1, 1] * g[:, 2, 2] - g[:, 1, 2] * g[:, 2, 1])
            - g[:, 0, 1] * (g[:, 1, 0] * g[:, 2, 2] - g[:, 1, 2] * g[:, 2, 0])
            + g[:, 0, 2] * (g[:, 1, 0] * g[:, 2, 1] - g[:, 1, 1] * g[:, 2, 0]))


# --------------------------------------------------------------------------- cases


def table(title, rows):
    """Print one case; the last column is reglab's time over each implementation's (< 1: reglab is faster)."""
    print(f"\n{title}")
    print(f"  {'implementation':<34} {'time (s)':>9} {'peak MiB':>9}  {'value':>8}  reglab / this")
    ours = next(seconds for name, (seconds, _, _) in rows.items() if name.startswith("reglab"))
    for name, (seconds, mib, value) in rows.items():
        print(f"  {name:<34} {seconds:>9.4f} {mib:>9.0f}  {summary(value):>8}  {ours / seconds:.2f}", flush=True)


def summary(values):
    values = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=np.float64)
    return f"{values.mean():.4f}"


def main():
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--only", default="", help="run only the cases whose title contains this text")
    parser.add_argument("--peers", default="", help="comma-separated: run only the peers whose name contains one "
                        "(e.g. 'surface,np.gradient' leaves out the slow MONAI and SciPy EDT); default all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    on_cpu = device.type == "cpu"
    installed = {"MONAI": compute_hausdorff_distance, "medpy": medpy_dc, "surface-distance": surface_distance}
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          + ", ".join(f"{k} {'installed' if v else 'not installed (skipped)'}" for k, v in installed.items())
          + f"; median of {args.repeats} interleaved runs")
    peers = [p for p in args.peers.split(",") if p]
    wanted = lambda title: args.only in title                                        # noqa: E731

    # HD95, two 3D masks: far apart (before registration) and close (after)
    spacing = (1.2, 1.0, 0.8)
    for change, when in ((1.0, "unrelated shapes"), (0.3, "before registration"), (0.03, "after registration")):
        title = f"HD95, two masks 160 x 192 x 224, spacing {spacing} mm ({when})"
        if not wanted(title):
            continue
        fixed_np, moving_np = blob_pair((160, 192, 224), change)
        fixed = torch.from_numpy(fixed_np)[None, None].to(device)
        moving = torch.from_numpy(moving_np)[None, None].to(device)
        functions = {"reglab.hd95": lambda: evaluation.hd95(fixed, moving, spacing=spacing)}
        if compute_hausdorff_distance:
            functions["MONAI compute_hausdorff_distance"] = lambda: hd95_monai(fixed.long(), moving.long(), spacing, 1)
        if on_cpu:
            functions["SciPy EDT"] = lambda: hd95_scipy_edt(fixed_np, moving_np, spacing, [True])
        table(title, compare(functions, device, args.repeats, peers))

    # Dice, one binary mask
    title = "Dice, one binary mask 128 x 128 x 128 (bool)"
    if wanted(title):
        fixed_np, moving_np = blob_pair((128, 128, 128), 0.3)
        fixed = torch.from_numpy(fixed_np)[None, None].to(device)
        moving = torch.from_numpy(moving_np)[None, None].to(device)
        functions = {"reglab.dice": lambda: evaluation.dice(fixed, moving)}
        if on_cpu:
            functions["NumPy bincount"] = lambda: dice_numpy_binary(fixed_np, moving_np)
            if medpy_dc:
                functions["medpy dc"] = lambda: medpy_dc(moving_np, fixed_np)
            if surface_distance:
                functions["surface-distance dice"] = lambda: surface_distance.compute_dice_coefficient(fixed_np,
                                                                                                       moving_np)
        table(title, compare(functions, device, args.repeats, peers))

    # HD95 and Dice, 35 labels
    fixed_np, moving_np = label_pair((96, 112, 96))
    fixed = torch.from_numpy(fixed_np)[None, None].to(device)
    moving = torch.from_numpy(moving_np)[None, None].to(device)
    labels = list(range(1, 36))
    title = "HD95, 35-label map 96 x 112 x 96 (mean over labels)"
    if wanted(title):
        functions = {"reglab.hd95": lambda: evaluation.hd95(fixed, moving)}
        if compute_hausdorff_distance:
            functions["MONAI compute_hausdorff_distance"] = lambda: hd95_monai(fixed, moving, None, 35)
        if on_cpu:
            functions["SciPy EDT"] = lambda: hd95_scipy_edt(fixed_np, moving_np, (1, 1, 1), labels)
            if surface_distance:
                functions["surface-distance robust_hausdorff"] = lambda: hd95_surface_distance(
                    fixed_np, moving_np, (1, 1, 1), labels)
        table(title, compare(functions, device, args.repeats, peers))

    title = "Dice, 35-label map 96 x 112 x 96 (mean over labels)"
    if wanted(title):
        functions = {"reglab.dice": lambda: evaluation.dice(fixed, moving)}
        if on_cpu:
            functions["NumPy bincount"] = lambda: dice_numpy(fixed_np, moving_np, labels)
        if compute_dice:
            functions["MONAI compute_dice (one-hot)"] = lambda: compute_dice(one_hot(moving, 35), one_hot(fixed, 35),
                                                                             include_background=False)[0]
        table(title, compare(functions, device, args.repeats, peers))

    # Jacobian determinant
    title = "Jacobian determinant, field 3 x 160 x 192 x 224 (mean J; borders differ)"
    if wanted(title):
        generator = torch.Generator().manual_seed(0)
        coarse = torch.randn(1, 3, 8, 8, 8, generator=generator) * 3
        u = torch.nn.functional.interpolate(coarse, size=(160, 192, 224), mode="trilinear", align_corners=True)
        u_np = u[0].numpy()
        u = u.to(device)
        functions = {"reglab.jacobian_determinant": lambda: evaluation.jacobian_determinant(u),
                     "plain torch.gradient": lambda: jacobian_plain(u)}
        if on_cpu:
            functions["np.gradient (voxelmorph)"] = lambda: jacobian_numpy(u_np)
        table(title, compare(functions, device, args.repeats, peers))

if __name__ == "__main__":
    main()
