"""The stages of ``reglab register`` (``--transform affine+bspline``), run one at a time with a progress bar each.

``--grid-spacing`` is in mm; the engine's B-spline ``spacing`` is in voxels of the fixed grid, one per tensor
axis (the reverse of ITK's x, y, z), so each axis gets the nearest whole number of its own voxels: on a
0.5 × 2 mm grid, 10 mm is 20 voxels along the first axis and 5 along the second.
"""

import contextlib
import sys
import time

DEFORMABLE = ("bspline", "dense", "svf", "local_affine")

DEFAULT_WEIGHTS = {"bending_energy": 100.0, "curvature": 100.0}
"""Regularization weights that suit a 1-2 mm brain pair (second-order penalties are small numbers in voxels)."""


def stage_options(args, fixed_image):
    """``register`` options per stage, and the B-spline control spacing actually used in mm (or None).

    The engine's B-spline spacing is in voxels of the fixed grid, one per tensor axis (the reverse of ITK's x, y,
    z); ``--grid-spacing`` is in mm and becomes the nearest whole number of voxels along each axis.
    """
    stages, control_mm = [], None
    spacing_mm = fixed_image.GetSpacing()[::-1]                              # tensor axis order
    for name in (name.strip() for name in args.transform.split("+")):
        stage = {"transform": name}
        if name in DEFORMABLE and args.regularization != "none":
            weight = args.weight if args.weight is not None else DEFAULT_WEIGHTS.get(args.regularization, 1.0)
            stage.update(regularization=args.regularization, weight=weight)
        if name == "bspline":
            voxels = tuple(max(1, round(args.grid_spacing / s)) for s in spacing_mm)
            stage["transform_options"] = {"spacing": voxels}
            control_mm = [v * s for v, s in zip(voxels, spacing_mm)]
        stages.append(stage)
    return stages, control_mm


def run_stages(fixed, moving, stages, common, show):
    """Each stage starts from the previous ones (as ``register_stages``); returns the result and seconds per stage."""
    from reglab.registration import register

    result, times = None, {}
    for stage in stages:
        start = time.perf_counter()
        with _stage_bar(stage["transform"], show):
            result = register(fixed, moving, initial=None if result is None else result.transform, progress=show,
                              **common, **stage)
        times[stage["transform"]] = round(time.perf_counter() - start, 3)
    return result, times


@contextlib.contextmanager
def _stage_bar(name, show):
    """The engine's progress bar, named after the stage and left on screen as a one-line record when it ends.

    The engine makes its bar in ``engine._progress_bar(total, progress)``; this swaps that function for the
    stage's run. Without it (the engine changed), the engine's own bar shows and a record line is printed.
    """
    from tqdm import tqdm

    from reglab.registration import engine

    class StageBar(tqdm):
        def close(self):
            if not self.disable and self.n and not getattr(self, "interrupted", False):
                self.total = self.n                              # stopped early on convergence: a full record
                self.bar_format = "{desc}: {n_fmt} iterations in {elapsed}{postfix}"
            super().close()

    bars = []

    def progress_bar(total, progress):
        if not progress:
            return None
        bars.append(StageBar(total=total, desc=f"{name:<12}", leave=True, dynamic_ncols=True))
        return bars[-1]

    original = getattr(engine, "_progress_bar", None)
    if original is not None:
        engine._progress_bar = progress_bar
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        for bar in bars:
            bar.interrupted = True
            bar.close()
        raise
    finally:
        if original is not None:
            engine._progress_bar = original
    if show and original is None:
        tqdm.write(f"{name:<12}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
