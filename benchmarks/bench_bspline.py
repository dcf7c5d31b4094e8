"""Benchmark: cubic B-spline FFD evaluation on a 3D 160 × 192 × 224 grid with 5-voxel control spacing.

Compares reglab's separable evaluation (``bspline_displacement``: one axis at a
time, every window of 4 control points times a (4, δ) weight table) with

* a separable transposed convolution (``conv_transpose3d`` with stride δ, the
  textbook formulation, written here),
* gathering the 4³ neighbours of every voxel (reglab's point path, in chunks),
* SimpleITK's ``BSplineTransform`` sampled by ``TransformToDisplacementField``
  (multi-threaded C++; CPU only),
* deepali's ``FreeFormDeformation`` when it is installed (optional peer).

Every method runs in its own subprocess so that the peak memory (resident set on
the CPU, allocator peak on an accelerator) is its own. Forward+backward is timed
for the differentiable methods. Run::

    python benchmarks/bench_bspline.py [--size 160 192 224] [--spacing 5] [--repeats 3] [--device cpu]
"""

import argparse
import json
import subprocess
import sys
import time

METHODS = ("reglab", "conv_transpose", "gather", "simpleitk", "deepali")


def run_method(method, size, spacing, repeats, device_name):
    """Time one method in this process; return a dict of results (or a reason it was skipped)."""
    import resource

    import torch

    from reglab.transforms import bspline_displacement, bspline_points, control_grid_size

    device = torch.device(device_name)
    accelerator = device.type != "cpu"
    torch.manual_seed(0)
    ndim = len(size)
    control = torch.randn(1, ndim, *control_grid_size(size, (spacing,) * ndim), device=device)

    def sync():
        if accelerator:
            torch.accelerator.synchronize()

    if method == "reglab":
        def evaluate(c):
            return bspline_displacement(c, size, spacing)
    elif method == "conv_transpose":
        def evaluate(c):
            return conv_transpose_ffd(c, size, spacing)
    elif method == "gather":
        points = torch.stack(torch.meshgrid(*[torch.arange(n, device=device, dtype=torch.float32) for n in size],
                                            indexing="ij"), -1).reshape(1, -1, ndim)

        def evaluate(c):
            chunks = [bspline_points(c, chunk, spacing) for chunk in points.split(2**18, dim=1)]
            return torch.cat(chunks, dim=1)
    elif method == "simpleitk":
        if accelerator:
            return {"skipped": "CPU only"}
        return time_simpleitk(control, size, spacing, repeats)
    elif method == "deepali":
        try:
            from deepali.core import Grid
            from deepali.spatial import FreeFormDeformation
        except ImportError:
            return {"skipped": "deepali not installed"}
        grid = Grid(size=size[::-1])
        model = FreeFormDeformation(grid, stride=spacing).to(device)

        def evaluate(c):
            return model.disp(grid)
        control = None
    else:
        raise ValueError(method)

    if accelerator:
        torch.accelerator.reset_peak_memory_stats()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    forward, backward = [], []
    for _ in range(repeats + 1):                                    # the first run warms up
        c = control.clone().requires_grad_(True) if control is not None else None
        sync()
        start = time.perf_counter()
        u = evaluate(c)
        sync()
        middle = time.perf_counter()
        u.square().sum().backward()
        sync()
        end = time.perf_counter()
        forward.append(middle - start)
        backward.append(end - start)
        del u
    peak = (torch.accelerator.max_memory_allocated() if accelerator
            else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) * 1024)
    return {"forward_s": min(forward[1:]), "forward_backward_s": min(backward[1:]), "peak_mib": peak / 2**20}


def conv_transpose_ffd(control, size, spacing):
    """The FFD as three 1-D transposed convolutions with stride δ (kernel length 4δ)."""
    import torch
    import torch.nn.functional as F

    from reglab.transforms import bspline_basis

    ndim = len(size)
    r = torch.arange(spacing, device=control.device, dtype=control.dtype) / spacing
    kernel = bspline_basis(r).T.flip(0).reshape(-1)                 # kernel[m] = B_{3 - m // δ}(m % δ / δ)
    field = control.flatten(0, 1)[:, None]                         # (B · ndim, 1, *K)
    convolve = F.conv_transpose3d if ndim == 3 else F.conv_transpose2d
    for axis in range(ndim):
        shape, stride, padding = [1] * ndim, [1] * ndim, [0] * ndim
        shape[axis], stride[axis], padding[axis] = 4 * spacing, spacing, 3 * spacing
        field = convolve(field, kernel.reshape(1, 1, *shape), stride=stride, padding=padding)
        field = field.narrow(axis + 2, 0, size[axis])
    return field.reshape(control.shape[0], ndim, *size)


def time_simpleitk(control, size, spacing, repeats):
    """SimpleITK's BSplineTransform sampled on the grid (same control points, unit spacing)."""
    import resource

    import SimpleITK as sitk

    from reglab.io import Geometry
    from reglab.transforms import BSpline
    from reglab.transforms.itk_export import to_itk

    model = BSpline(size, spacing=spacing, control=control.cpu())
    geometry = Geometry.default(len(size))
    transform = to_itk(model, geometry)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat32, size[::-1],
                                          geometry.origin, geometry.spacing, geometry.direction)
        times.append(time.perf_counter() - start)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) * 1024
    return {"forward_s": min(times[1:]), "forward_backward_s": None, "peak_mib": peak / 2**20,
            "threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}


def main():
    from reglab.console import tolerate_any_terminal

    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs="+", default=[160, 192, 224])
    parser.add_argument("--spacing", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", help=argparse.SUPPRESS)       # internal: run one method and print JSON
    args = parser.parse_args()
    size = tuple(args.size)
    if args.method:
        print(json.dumps(run_method(args.method, size, args.spacing, args.repeats, args.device)))
        return

    import torch

    print(f"B-spline FFD, grid {size}, control spacing {args.spacing} voxels, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.repeats}")
    print(f"{'method':<16}{'forward (s)':>14}{'fwd+bwd (s)':>14}{'peak (MiB)':>14}")
    for method in METHODS:
        command = [sys.executable, __file__, "--method", method, "--spacing", str(args.spacing),
                   "--repeats", str(args.repeats), "--device", args.device, "--size", *map(str, size)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{method:<16}failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if "skipped" in result:
            print(f"{method:<16}skipped ({result['skipped']})")
            continue
        both = result["forward_backward_s"]
        note = f"   ({result['threads']} threads)" if "threads" in result else ""
        print(f"{method:<16}{result['forward_s']:>14.3f}{(f'{both:.3f}' if both else '-'):>14}"
              f"{result['peak_mib']:>14.0f}{note}")


if __name__ == "__main__":
    main()
