"""Registration in stages: :func:`register_stages` runs a pipeline (e.g. rigid → affine → B-spline), each stage
a :func:`~reglab.registration.engine.register` that starts from the previous ones; :data:`DEFAULT_STAGES` is the
pipeline used when none is given (affine, then a stationary velocity field), tuned on real inter-subject MR.

Lab 05 ("Classical registration").
"""

from reglab.registration.engine import register
from reglab.transforms import Transform


DEFAULT_STAGES = (
    {"transform": "affine", "similarity": "ncc", "iterations": (40, 20, 0)},
    {"transform": "svf", "similarity": "local_ncc", "similarity_options": {"window": 5},
     "regularization": "diffusion", "weight": 0.5, "iterations": (40, 20, 10)},
)
"""The stages of :func:`register_stages` by default (3 pyramid levels, with :func:`register`'s ``foreground``
and ``normalize``): affine by global NCC (40, 20, 0 iterations), then a stationary velocity field (diffeomorphic:
it folds only where discretization errs, at most 0.005 % of a pair's voxels on the 77 benchmark pairs) by local
NCC (5-voxel windows) with diffusion regularization (weight 0.5; 40, 20, 10 iterations). On
scans padded to a fixed size, both stages run on the box of the scanned regions (:mod:`reglab.registration.region`),
which makes the 10 full-resolution iterations affordable: on 8 tuning pairs they lift the mean Dice from 0.775 to
0.806. On 32 tuning pairs (``benchmarks/bench_realdata.py --start 20 --pairs 32``: mean Dice 0.787, HD95 2.60 /
2.79 mm; ANTs SyN 0.740, 2.97 / 3.01 mm) 3-voxel windows did as well (0.786, 2.58 / 2.76 mm) but folded more
(at most 0.035 % of the voxels against 0.011 %), a weight of 1 lost Dice (0.779), and 20 full-resolution iterations
gained little (0.789) for 50 % more time. Measured on 77 other pairs in ``benchmarks/results/realdata_all.md``
(mean Dice 0.760 against ANTs SyN's 0.727; HD95 2.90 / 2.86 against 2.99 / 3.03 mm; 2.3 against 3.4 CPU s)."""


def register_stages(fixed, moving, stages=None, **common):
    """A pipeline of registrations, each stage starting from the previous ones: e.g. rigid → affine → B-spline.

    Args:
        fixed, moving: as :func:`register`.
        stages: a list whose items are model names (``"rigid"``) or dicts of :func:`register` options for that
            stage (``{"transform": "bspline", "regularization": "bending_energy", "weight": 0.1}``);
            default :data:`DEFAULT_STAGES` (affine, then an SVF by local NCC).
        **common: options shared by every stage (a stage's own options win).

    Returns:
        :class:`Registration` whose transform is ``Chain(stage1, stage2, …)`` (the last stage acts first
        on fixed points, as in ITK's ``CompositeTransform``), whose history numbers the stages and whose
        ``warnings`` collect every stage's (each prefixed by the stage).

    Example:
        >>> import torch
        >>> fixed = torch.zeros(1, 1, 32, 32); fixed[..., 10:22, 8:20] = 1.0
        >>> moving = torch.roll(fixed, 2, dims=3)
        >>> result = register_stages(fixed, moving, ["rigid", "affine"], similarity="ssd", levels=1,
        ...                          iterations=20, progress=False)
        >>> type(result.transform).__name__, sorted(set(result.history["stage"]))
        ('Chain', [0, 1])
    """
    stages = DEFAULT_STAGES if stages is None else stages
    if not stages:
        raise ValueError("register_stages(): expected at least one stage, got none.")
    result, history, messages = None, {}, []
    for index, stage in enumerate(stages):
        options = {**common, **({"transform": stage} if isinstance(stage, (str, Transform)) else dict(stage))}
        result = register(fixed, moving, initial=None if result is None else result.transform, **options)
        for key, values in result.history.items():
            history.setdefault(key, []).extend(values if key != "stage" else [index] * len(values))
        name = options["transform"] if isinstance(options.get("transform"), str) else f"stage {index}"
        messages += [f"stage {index} ({name}): {message}" for message in result.warnings]
    return result._replace(history=history, warnings=tuple(messages))
