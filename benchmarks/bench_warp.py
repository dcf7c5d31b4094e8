"""Warping and scaling-and-squaring speed, forward + backward, side by side with the tools people use.

    python benchmarks/bench_warp.py [--device cpu] [--threads 2] [--repeats 15] [--rounds 8]
                                    [--only warp|integrate] [--sizes 256x256,96x112x96,33x33x33,64x64x64]

Compares, on 2D 256² and 3D 96×112×96 by default (``--sizes``; batch 1, float32, gradients w.r.t. image and field):

* warping: a bare ``grid_sample`` with a precomputed grid (the floor), ``reglab.warp``,
  MONAI's ``Warp`` and voxelmorph's ``SpatialTransformer`` (each only when installed);
* integration (7 squarings): ``reglab.fields.integrate_velocity``, MONAI's ``DVF2DDF``,
  voxelmorph's ``IntegrateVelocityField``, forward + backward and forward only (``no_grad``).

``--only`` runs one of the two groups. 33³ and 64³ are the grids of the SVF registration's
velocity (7 squarings forward + backward every iteration).

The last column of the warping rows is each method's time over the floor's; of the
integration rows reglab's time over each method's (< 1: reglab is faster). On a
machine shared with other work read these ratios rather than the milliseconds.

Timing: the methods of one size are timed in turn, round after round (``--rounds``), each round
taking the median of ``--repeats`` calls; the table shows each method's best round. Interleaving
keeps a slow spell of a shared machine from falling on one method only.

MONAI and voxelmorph are optional: ``pip install monai voxelmorph``. They are never runtime dependencies.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import reglab
from reglab.console import tolerate_any_terminal
from reglab.fields import integrate_velocity
from reglab.grid import identity_grid, to_grid_sample


def synchronize(device):
    if device.type != "cpu":
        torch.accelerator.synchronize()


def timed(function, inputs, device, repeats, backward=True):
    """Median seconds of forward + backward of ``function(*inputs).sum()`` (forward only without ``backward``)."""
    def once():
        for tensor in inputs:
            tensor.grad = None
        if backward:
            function(*inputs).sum().backward()
        else:
            with torch.no_grad():
                function(*inputs)
    once()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peers_warp():
    found = {}
    try:
        from monai.networks.blocks import Warp
        found["MONAI Warp"] = Warp(mode="bilinear", padding_mode="zeros")
    except ImportError:
        pass
    try:
        from voxelmorph.nn.modules import SpatialTransformer
        found["voxelmorph SpatialTransformer"] = SpatialTransformer()
    except ImportError:
        pass
    return found


def peers_integrate(size):
    found = {}
    try:
        from monai.networks.blocks import DVF2DDF
        found["MONAI DVF2DDF"] = DVF2DDF(num_steps=7, mode="bilinear", padding_mode="zeros")
    except ImportError:
        pass
    try:
        from voxelmorph.nn.modules import IntegrateVelocityField
        found["voxelmorph IntegrateVelocityField"] = IntegrateVelocityField(shape=size, steps=7)
    except (ImportError, TypeError):
        pass
    return found


def best_of_rounds(methods, device, repeats, rounds, backward=True):
    """``{name: seconds}``: each method's best round median, the methods timed in turn every round."""
    times = {name: [] for name in methods}
    for _ in range(rounds):
        for name, (function, inputs) in methods.items():
            times[name].append(timed(function, inputs, device, repeats, backward))
    return {name: min(values) for name, values in times.items()}


def main():
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--only", choices=["warp", "integrate"], help="run only the warping or the integration rows")
    parser.add_argument("--sizes", default="256x256,96x112x96", help="comma-separated grids, e.g. 33x33x33,64x64x64")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, {args.threads} threads, forward + backward, "
          f"best of {args.rounds} interleaved rounds of the median of {args.repeats}")
    print(f"{'size':>14} | {'method':<36} | {'ms':>8} | this / floor; reglab / this")
    for size in [tuple(int(n) for n in text.split("x")) for text in args.sizes.split(",")]:
        ndim = len(size)
        rounds = args.rounds if ndim == 2 or max(size) <= 64 else max(1, args.rounds // 4)
        image = torch.rand(1, 1, *size, device=device, requires_grad=True)
        u = (2 * torch.randn(1, ndim, *size, device=device)).requires_grad_()
        label = "×".join(map(str, size))
        grid = to_grid_sample(identity_grid(size, device=device) + u.detach(), size).contiguous().requires_grad_()
        warps = {"grid_sample, precomputed grid (floor)": (lambda i, g: F.grid_sample(i, g, align_corners=True), [image, grid]),
                 "reglab.warp": (reglab.warp, [image, u])}
        warps.update({name: (module, [image, u]) for name, module in peers_warp().items()})
        if args.only != "integrate":
            times = best_of_rounds(warps, device, args.repeats, rounds)
            floor = times["grid_sample, precomputed grid (floor)"]
            for name, t in times.items():
                print(f"{label:>14} | {name:<36} | {1e3 * t:8.1f} | {t / floor:.2f}")
        if args.only == "warp":
            continue
        velocity = (2 * torch.randn(1, ndim, *size, device=device)).requires_grad_()
        integrations = {"reglab integrate_velocity (7 steps)": (integrate_velocity, [velocity])}
        integrations.update({name: (module.to(device), [velocity]) for name, module in peers_integrate(size).items()})
        for backward in (True, False):
            times = best_of_rounds(integrations, device, args.repeats, rounds, backward)
            ours = times["reglab integrate_velocity (7 steps)"]
            what = "fwd+bwd" if backward else "forward"
            for name, t in times.items():
                print(f"{label:>14} | {name + ', ' + what:<45} | {1e3 * t:8.1f} |   - / {ours / t:.2f}", flush=True)

if __name__ == "__main__":
    main()
