"""The stages of ``reglab register``, run one at a time with a progress bar each.

Without ``--transform`` the stages are the engine's :data:`reglab.registration.DEFAULT_STAGES` (affine by global
NCC, then a stationary velocity field by local NCC), each with its own similarity, regularization, weight and
iterations; an option given on the command line (``--similarity``, ``--regularization``, ``--weight``,
``--iterations``) replaces that setting in every stage it applies to. With ``--transform affine+bspline`` the
stages are the ones named, with the command line's options (MI, bending energy, 100 iterations per level unless
given).

``--grid-spacing`` is in mm; the engine's B-spline ``spacing`` is in voxels of the fixed grid, one per tensor
axis (the reverse of ITK's x, y, z), so each axis gets the nearest whole number of its own voxels: on a
0.5 × 2 mm grid, 10 mm is 20 voxels along the first axis and 5 along the second.
"""

import contextlib
import sys
import time
import warnings

from reglab.cli.errors import CommandError

DEFORMABLE = ("bspline", "dense", "svf", "local_affine")

DEFAULT_WEIGHTS = {"bending_energy": 100.0, "curvature": 100.0}
"""Regularization weights that suit a 1-2 mm brain pair (second-order penalties are small numbers in voxels)."""

EXPLICIT_DEFAULTS = {"similarity": "mi", "regularization": "bending_energy", "iterations": 100, "levels": 3}
"""What ``--transform MODELS`` runs with when an option is not given (the command line's defaults before the
engine had :data:`~reglab.registration.DEFAULT_STAGES`)."""


def parse_iterations(text):
    """``--iterations``: ``"100"`` → 100 (every level), ``"60,30,0"`` → (60, 30, 0) (coarsest level first).

    Example:
        >>> parse_iterations("100"), parse_iterations("60, 30, 0")
        (100, (60, 30, 0))
    """
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 0:
        raise CommandError(f"expected --iterations as a whole number >= 0 or one per level (e.g. 60,30,0), "
                           f"got {text!r}.")
    return values[0] if len(values) == 1 and "," not in text else values


def stage_options(args, fixed_image):
    """``register`` options per stage (a list of dicts), the number of pyramid levels, and the B-spline control
    spacing actually used in mm (or None).

    The engine's B-spline spacing is in voxels of the fixed grid, one per tensor axis (the reverse of ITK's x, y,
    z); ``--grid-spacing`` is in mm and becomes the nearest whole number of voxels along each axis.
    """
    from reglab.registration import DEFAULT_STAGES

    if args.transform is None:
        stages = [_default_stage(dict(stage), args) for stage in DEFAULT_STAGES]
        levels = args.levels if args.levels is not None else len(DEFAULT_STAGES[-1]["iterations"])     # 3
        _check_levels(stages, levels, args)
        return stages, levels, None
    stages, control_mm = [], None
    spacing_mm = fixed_image.GetSpacing()[::-1]                              # tensor axis order
    regularization = args.regularization or EXPLICIT_DEFAULTS["regularization"]
    for name in (name.strip() for name in args.transform.split("+")):
        stage = {"transform": name, "similarity": args.similarity or EXPLICIT_DEFAULTS["similarity"],
                 "iterations": EXPLICIT_DEFAULTS["iterations"] if args.iterations is None else args.iterations}
        if name in DEFORMABLE and regularization != "none":
            weight = args.weight if args.weight is not None else DEFAULT_WEIGHTS.get(regularization, 1.0)
            stage.update(regularization=regularization, weight=weight)
        if name == "bspline":
            voxels = tuple(max(1, round(args.grid_spacing / s)) for s in spacing_mm)
            stage["transform_options"] = {"spacing": voxels}
            control_mm = [v * s for v, s in zip(voxels, spacing_mm)]
        stages.append(stage)
    levels = args.levels if args.levels is not None else EXPLICIT_DEFAULTS["levels"]
    _check_levels(stages, levels, args)
    return stages, levels, control_mm


def _default_stage(stage, args):
    """One stage of ``DEFAULT_STAGES`` with the options given on the command line in place of its own."""
    if args.similarity is not None and args.similarity != stage["similarity"]:
        stage["similarity"] = args.similarity
        stage.pop("similarity_options", None)                    # e.g. local NCC's window: not for another measure
    if "regularization" in stage and args.regularization is not None:
        if args.regularization == "none":
            stage.pop("regularization")
            stage.pop("weight", None)
        elif args.regularization != stage["regularization"]:
            stage["regularization"] = args.regularization
            stage["weight"] = DEFAULT_WEIGHTS.get(args.regularization, 1.0)
    if "regularization" in stage and args.weight is not None:
        stage["weight"] = args.weight
    if args.iterations is not None:
        stage["iterations"] = args.iterations
    return stage


def _check_levels(stages, levels, args):
    """Per-level iterations must match ``--levels`` (one number suits any number of levels)."""
    for stage in stages:
        iterations = stage["iterations"]
        if not isinstance(iterations, int) and len(iterations) != levels:
            given = "--iterations" if args.iterations is not None else f"the {stage['transform']} stage's default"
            hint = "" if args.iterations is not None else "; give --iterations too (one number, or one per level)"
            raise CommandError(f"{given} {','.join(map(str, iterations))} has {len(iterations)} levels' iterations, "
                               f"--levels is {levels}{hint}.")


def run_stages(fixed, moving, stages, common, show):
    """Each stage starts from the previous ones (as ``register_stages``).

    Returns:
        The last stage's :class:`~reglab.registration.Registration`, its ``warnings`` replaced by every stage's
        (``"stage 1 (svf): …"``, as :func:`~reglab.registration.register_stages` names them; the engine's
        :class:`~reglab.registration.RegistrationWarning` s are not shown again as Python warnings), and the
        seconds per stage (``{"affine": 9.8, "svf": 16.8}``).
    """
    from reglab.registration import RegistrationWarning, register

    result, times, messages = None, {}, []
    for index, stage in enumerate(stages):
        start = time.perf_counter()
        with _stage_bar(stage["transform"], show), warnings.catch_warnings():
            warnings.simplefilter("ignore", RegistrationWarning)          # kept in result.warnings, printed once
            result = register(fixed, moving, initial=None if result is None else result.transform, progress=show,
                              **common, **stage)
        times[stage["transform"]] = round(time.perf_counter() - start, 3)
        messages += [f"stage {index} ({stage['transform']}): {message}" for message in result.warnings]
    return result._replace(warnings=tuple(messages)), times


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
