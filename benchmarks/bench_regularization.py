"""Forward + backward time and peak extra memory of reglab's regularizers, side by side with peers.

Run:
    python benchmarks/bench_regularization.py                       # CPU, default sizes
    python benchmarks/bench_regularization.py --threads 2 --interleaved --only diffusion   # one process, ratios
    python benchmarks/bench_regularization.py --device <name> --sizes 256x256 96x112x96 160x192x224

Peers are optional and skipped when not installed: MONAI (``DiffusionLoss``,
``BendingEnergyLoss``) and neurite (``spatial_gradient``, the gradient loss
voxelmorph uses). The field is random, ``(1, ndim, *size)``. Values differ by
definition (MONAI and neurite average over components and axes, reglab sums
over them as the lecture does), timings and memory compare the same work.
Every case runs in its own
process, so its peak memory is its own: on CPU the growth of the peak resident
set size, measured in a separate run with glibc's ``MALLOC_MMAP_THRESHOLD_``
fixed at 64 KiB (freed tensors go back to the system, so the peak is not
inflated by heap reuse; this slows allocation, hence the separate timing run),
on an accelerator ``max_memory_allocated`` above the inputs.
Timing: the best of ``--repeat`` runs after one warm-up (the least disturbed by
other work on a shared machine). With ``--interleaved`` all cases of a size run in
this one process instead, one call of each in turn, ``--repeat`` times, and the
table gives medians and reglab's time over each case's (no memory column): on a
machine shared with other work, read those ratios rather than the milliseconds.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch


def _peers():
    """name -> (penalty of a displacement u, in voxels)."""
    cases = {}
    import reglab.regularization as reg

    cases["diffusion/reglab"] = lambda u: reg.diffusion(u)
    cases["bending/reglab"] = lambda u: reg.bending_energy(u)
    cases["curvature/reglab"] = lambda u: reg.curvature(u)
    cases["elastic/reglab"] = lambda u: reg.elastic(u)
    cases["folding/reglab"] = lambda u: reg.folding_penalty(u, margin=0.5)
    try:
        from monai.losses import BendingEnergyLoss, DiffusionLoss

        cases["diffusion/monai"] = DiffusionLoss()
        cases["bending/monai"] = BendingEnergyLoss()
    except ImportError:
        pass
    try:
        import neurite.nn.functional as nef

        cases["diffusion/neurite (voxelmorph)"] = lambda u: nef.spatial_gradient(u, penalty="l2")
    except ImportError:
        pass
    return cases


def _synchronize(device):
    if device.type != "cpu":
        getattr(torch, device.type).synchronize()


def _timed(loss_of, field, device):
    """One forward + backward of ``loss_of(field)``: (seconds, the loss's value)."""
    field.grad = None
    _synchronize(device)
    start = time.perf_counter()
    loss = loss_of(field)
    loss.backward()
    _synchronize(device)
    return time.perf_counter() - start, float(loss.detach())


def _worker(case, size, device_name, repeat):
    """Run one case in this process; print a JSON line with seconds, peak MiB and the value."""
    device = torch.device(device_name)
    cases = _peers()
    generator = torch.Generator().manual_seed(0)
    field = (2 * torch.rand(1, len(size), *size, generator=generator)).to(device).requires_grad_(True)
    accelerator = getattr(torch, device.type) if device.type != "cpu" else None
    if accelerator is not None:
        accelerator.reset_peak_memory_stats()
        base = accelerator.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    for run in range(repeat + 1):
        seconds, value = _timed(cases[case], field, device)
        if run:                                                                   # run 0 warms up
            times.append(seconds)
    if accelerator is not None:
        peak = accelerator.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    print(json.dumps({"seconds": min(times), "mib": peak / 2**20, "value": value}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", nargs="+", default=["256x256", "96x112x96"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--interleaved", action="store_true", help="time all cases in this process, in turn (medians)")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        _worker(args.worker[0], tuple(int(n) for n in args.worker[1].split("x")), args.device, args.repeat)
        return
    names = [name for name in _peers() if args.only in name]
    if args.interleaved:
        _interleaved(args, names)
        return
    print(f"device {args.device}, torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}, "
          f"forward + backward, best of {args.repeat}")
    print(f"{'size':>14} {'case':<32} {'time (ms)':>10} {'peak extra (MiB)':>17} {'value':>9}")
    for size in args.sizes:
        for name in names:
            print(_run_case(args, name, size), flush=True)


def _interleaved(args, names):
    """Every case of a size in this process, one call of each in turn; medians and the ratio reglab / case."""
    device, cases = torch.device(args.device), _peers()
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, forward + backward, "
          f"median of {args.repeat} interleaved calls")
    print(f"{'size':>14} {'case':<32} {'time (ms)':>10} {'value':>9}  reglab / this")
    for size in args.sizes:
        shape = tuple(int(n) for n in size.split("x"))
        field = (2 * torch.rand(1, len(shape), *shape, generator=torch.Generator().manual_seed(0))).to(device)
        field.requires_grad_(True)
        times, values = {name: [] for name in names}, {}
        for run in range(args.repeat + 1):
            for name in names:
                seconds, values[name] = _timed(cases[name], field, device)
                if run:                                                           # run 0 warms up
                    times[name].append(seconds)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name in names:
            group = name.split("/")[0] + "/reglab"
            ratio = f"{medians[group] / medians[name]:.2f}" if group in medians else "-"
            print(f"{size:>14} {name:<32} {1000 * medians[name]:>10.1f} {values[name]:>9.4f}  {ratio}", flush=True)


def _run_case(args, name, size):
    """Time in one process, memory in another (with freed memory returned to the system)."""
    results = []
    for repeat, env in ((args.repeat, {}), (1, {"MALLOC_MMAP_THRESHOLD_": "65536"})):
        command = [sys.executable, __file__, "--device", args.device, "--repeat", str(repeat), "--worker", name, size]
        if args.threads:
            command[2:2] = ["--threads", str(args.threads)]
        done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, **env))
        if done.returncode:
            return f"{size:>14} {name:<32} failed: {done.stderr.strip().splitlines()[-1]}"
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    timing, memory = results
    return f"{size:>14} {name:<32} {1000 * timing['seconds']:>10.1f} {memory['mib']:>17.1f} {timing['value']:>9.4f}"


if __name__ == "__main__":
    main()
