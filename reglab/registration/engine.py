"""The engine: :func:`register` optimises the parameters Θ of one transformation for one image pair.

The lecture's formulation::

    O(F, M, Θ) = C(F, T(M, Θ)) + λ R(Θ) + μ P(Θ)  →  min over Θ

* ``C`` a (dis)similarity of :mod:`reglab.similarity`, in its loss form (lower is better);
* ``T(M, Θ)`` the moving image warped by a model of :mod:`reglab.transforms`
  (by name: :data:`reglab.registration.models.MODELS`);
* ``R`` a regularizer of :mod:`reglab.regularization` with weight ``λ`` (``weight=``),
  or the implicit Gaussian smoothing of the field (``smoothing=``, as in demons);
* ``P`` an optional penalty with weight ``μ``: landmark distance or label overlap
  (:mod:`reglab.registration.penalties`).

:func:`register` minimises it by gradient-based optimisation (Adam, L-BFGS, or
plain gradient descent for teaching; one level: :mod:`reglab.registration.level`)
on a Gaussian pyramid (:mod:`reglab.registration.pyramid`), coarse to fine, and
returns a :class:`Registration`. :func:`register_stages` runs a pipeline, e.g.
rigid → affine → B-spline, each stage starting from the previous ones (the
result's transform is a :class:`reglab.transforms.Chain`). Images read with
:func:`reglab.io.read_image` register in physical space
(:mod:`reglab.registration.resampling`), and :meth:`Registration.to_itk` exports
the result for SimpleITK and 3D Slicer.

Lab 05 ("Classical registration") teaches this module; Lab 04 ("Regularization") uses it.

References:
    Sotiras, Davatzikos & Paragios, "Deformable medical image registration: a survey", IEEE TMI 2013;
    Klein et al., "elastix", IEEE TMI 2010 (pyramids, stages).
"""

import copy
import math
import warnings
from typing import NamedTuple

import torch

from reglab import io
from reglab.fields import compose, resize_displacement
from reglab.grid import identity_grid
from reglab.registration.level import LEARNING_RATES, OPTIMIZERS, _run_level
from reglab.registration.intensities import rescale_intensities, scanned_region
from reglab.registration.models import GRID_MODELS, _level_model, _model
from reglab.registration.plausibility import RegistrationWarning, implausibilities
from reglab.registration.pyramid import downsample, gaussian_pyramid, refine_bspline
from reglab.registration.resampling import _map_points, _prepare, _resample_matrix, _sample, sample_at
from reglab.regularization import REGULARIZERS
from reglab.similarity import MEASURES, loss
from reglab.transforms import BSpline, Chain, Transform
from reglab.validation import check_choice, check_image
from reglab.warping import warp


class Registration(NamedTuple):
    """What :func:`register` and :func:`register_stages` return."""

    transform: Transform
    """the fitted model on the fixed grid (a :class:`~reglab.transforms.Chain` for several stages)."""
    warped: torch.Tensor
    """``(B, C, *fixed.shape[2:])`` the moving image warped onto the fixed grid (one interpolation)."""
    displacement: torch.Tensor
    """``(B, ndim, *fixed.shape[2:])`` ``u`` in voxels of the fixed grid: ``warped(x) = moving'(x + u(x))``
    where ``moving'`` is the moving image on the fixed grid (the moving image itself when both share a grid)."""
    history: dict
    """lists, one entry per iteration: ``total``, ``similarity`` (loss form), ``regularization`` (R, unweighted),
    ``penalty`` (P, unweighted), ``level`` (0 = coarsest) and ``stage``; for L-BFGS one entry per evaluation."""
    geometry: io.Geometry
    """the fixed image's geometry (unit spacing when tensors were given)."""
    moving_geometry: io.Geometry = None
    """the moving image's geometry (the fixed one when tensors were given)."""
    moving_size: tuple = None
    """the moving image's spatial shape (where :meth:`apply` expects a tensor without geometry)."""
    warnings: tuple = ()
    """why the result looks implausible (an affine scale far from 1, folding, a similarity that got worse),
    one sentence each, also issued as :class:`RegistrationWarning`; empty when nothing looked wrong."""

    def to_itk(self):
        """The result as a SimpleITK transform that maps fixed physical points to moving physical points.

        Read back by ``sitk.ReadTransform`` and 3D Slicer after :func:`reglab.io.write_transform`.
        """
        from reglab.transforms.itk_export import to_itk

        return to_itk(copy.deepcopy(self.transform).cpu(), self.geometry, self.geometry)

    def apply(self, image, *, mode="linear", geometry=None):
        """Bring an image or label map through the result onto the fixed grid: ``image(G⁻¹ G_F (x + u(x)))``.

        ``G_F`` maps fixed voxels to mm and ``G`` the image's voxels to mm, so an image on the moving grid
        (``G`` = the moving geometry) or on any other grid in the same physical space (another resolution,
        origin or field of view: a label map, a second contrast) lands on the fixed grid, interpolated once.

        Args:
            image: ``(B|1, C, *spatial)`` tensor on the moving grid (float, or integer for ``"nearest"`` and
                ``"label"``), or a :class:`reglab.io.Image` (its own geometry).
            mode: ``"linear"`` (intensities), ``"nearest"`` or ``"label"`` (label maps: arg-max of the linearly
                warped indicator of each label, as SimpleITK's ``sitkLabelLinear``); labels keep their dtype.
            geometry: the :class:`reglab.io.Geometry` (or an ``Image`` whose geometry it is) of a tensor
                ``image`` that is not on the moving grid.

        Returns:
            Tensor ``(B, C, *fixed.shape[2:])`` with the dtype of ``image``; zero outside the image.

        Raises:
            ValueError: an unknown mode, a tensor whose grid is not the moving one without ``geometry``,
                or a geometry of another dimension. TypeError: float16, or floats with ``"label"``.

        Example:
            >>> fixed = torch.zeros(1, 1, 16, 16); fixed[..., 4:12, 5:11] = 1.0
            >>> result = register(fixed, torch.roll(fixed, 2, dims=3), transform="rigid", similarity="ssd",
            ...                   levels=1, iterations=50, progress=False)
            >>> labels = torch.roll(fixed, 2, dims=3).long()
            >>> (result.apply(labels, mode="label") == fixed.long()).float().mean().item() > 0.97
            True

        Lab 05 (labels of the moving subject onto the fixed one) and Lab 08 (evaluation).
        """
        check_choice("Registration.apply", "mode", mode, ("linear", "nearest", "label"))
        if isinstance(image, io.Image):
            image, geometry = image.data, image.geometry if geometry is None else geometry
        if isinstance(geometry, io.Image):
            geometry = geometry.geometry
        if geometry is not None and not isinstance(geometry, io.Geometry):
            raise TypeError(f"Registration.apply(): expected `geometry` a reglab.io.Geometry or Image, "
                            f"got {type(geometry).__name__}.")
        ndim = self.displacement.shape[1]
        check_image("Registration.apply", "image", image, allow_integer=mode != "linear")
        if mode == "label" and image.is_floating_point():
            raise TypeError(f"Registration.apply(): expected an integer label map for mode='label', got {image.dtype}.")
        if image.dim() != ndim + 2:
            raise ValueError(f"Registration.apply(): expected a {ndim}D image (B, C, *spatial), "
                             f"got shape {tuple(image.shape)}.")
        if image.shape[0] not in (1, self.displacement.shape[0]):
            raise ValueError(f"Registration.apply(): expected a batch of 1 or {self.displacement.shape[0]}, "
                             f"got {image.shape[0]}.")
        moving_geometry = self.moving_geometry or self.geometry
        moving_size = self.moving_size or tuple(self.displacement.shape[2:])
        if geometry is None:
            if tuple(image.shape[2:]) != tuple(moving_size):
                raise ValueError(f"Registration.apply(): expected an image on the moving grid {tuple(moving_size)}, "
                                 f"got {tuple(image.shape[2:])}. Hint: pass geometry= (or a reglab.io.Image) for "
                                 "an image on another grid.")
            geometry = moving_geometry
        if geometry.ndim != ndim:
            raise ValueError(f"Registration.apply(): expected a {ndim}D geometry, got {geometry.ndim}D.")
        u = self.displacement
        image = image.to(u.device) if image.is_floating_point() else image.to(u.device)
        if image.is_floating_point():
            image = image.to(u.dtype)
        matrix = _resample_matrix(self.geometry, geometry)        # fixed voxel -> image voxel (None: the same grid)
        points = identity_grid(u.shape[2:], device=u.device, dtype=torch.float64) + u.to(torch.float64)
        coordinates = points if matrix is None else _map_points(matrix, points)
        return sample_at(image, coordinates.to(u.dtype), mode=mode)


def register(fixed, moving, *, transform="affine", similarity="ncc", regularization=None, weight=0.0,
             penalty=None, penalty_weight=1.0, smoothing=0.0, fixed_mask=None, moving_mask=None, levels=3,
             optimizer="adam", iterations=100, learning_rate=None, tolerance=1e-5, initial=None,
             transform_options=None, similarity_options=None, regularization_options=None, foreground="auto",
             normalize="auto", progress=True):
    """Classical registration: minimise ``C(F, M∘y) + λ R(u) + μ P(u)`` over one model's parameters.

    Args:
        fixed: ``(B, C, *spatial)`` fixed image, float32 or float64, or a :class:`reglab.io.Image` (then
            ``moving`` too). Its dtype and device are the result's: the model is created (or a given model
            copied) in them, and ``moving``, the masks and ``initial`` are converted to them.
        moving: the moving image: same shape as ``fixed`` for tensors; any grid for ``Image`` s
            (it is resampled onto the fixed grid through the physical geometries). A batch of 1 of either
            image is broadcast against the other's batch.
        transform: a name of :data:`MODELS` (``"rigid"``, ``"affine"``, ``"local_affine"``,
            ``"bspline"``, ``"dense"``, ``"svf"``) or a model of :mod:`reglab.transforms` on the fixed grid
            (its parameters are the starting point; a given B-spline keeps its mesh at every level).
        similarity: a name of :data:`reglab.similarity.MEASURES` (``"ncc"``, ``"mi"``, ``"ssd"``, …).
        regularization: None, a name of :data:`reglab.regularization.REGULARIZERS`, or a function
            ``R(u) -> 0-d tensor``; applied to this model's displacement on each level's grid (voxels).
        weight: ``λ``, the regularization weight.
        penalty: None or a function ``P(u) -> 0-d tensor`` of the whole displacement at full
            resolution, e.g. :func:`landmark_penalty` or :func:`label_penalty`.
        penalty_weight: ``μ``.
        smoothing: ``σ`` in voxels of the Gaussian that smooths a dense or SVF field after every step
            (implicit regularization, as in demons); 0 for none.
        fixed_mask, moving_mask: optional ``(B|1, 1, *spatial)`` regions on their images' grids; only
            voxels inside both (the moving mask is warped along) count for the similarity.
        levels: number of pyramid levels (1: full resolution only).
        optimizer: ``"adam"``, ``"lbfgs"`` (with a strong-Wolfe line search) or ``"gd"`` (plain gradient descent).
        iterations: the most iterations per level: an int, or one per level (coarsest first). For L-BFGS
            it bounds the loss evaluations (line-search trials included), and L-BFGS's own convergence tests
            replace ``tolerance``.
        learning_rate: step size (default :data:`LEARNING_RATES`); for the parametric models it is
            multiplied by the level's shrink factor (a step of the same fraction of a level voxel).
        tolerance: stop a level when the best total loss so far improved by less than this fraction over the
            last 20 iterations (the best, not the last: Adam's loss rises now and then on its way down).
        initial: a fitted model on the fixed grid that acts *after* this one (an earlier stage), kept fixed:
            the displacement is ``compose(initial, u)``.
        transform_options, similarity_options, regularization_options: keyword options of the model
            (e.g. ``{"spacing": 8}`` for a B-spline), the measure (``{"bins": 32}``) and the regularizer.
        foreground: ``"auto"``: count only voxels inside each image's :func:`scanned_region` (the box left when
            repeated-edge padding is removed; the moving box is warped along), together with the masks;
            None: every voxel.
        normalize: True: map each image's 0.5th … 99.5th intensity percentile (inside its region) to [0, 1]
            for the similarity (:func:`rescale_intensities`), for scans of any type and range; ``"auto"``: only
            the images with values outside [0, 1] (images already in [0, 1] are used as they are); False: never.
            ``warped`` keeps the moving image's own intensities.
        progress: show a progress bar (tqdm).

    Returns:
        :class:`Registration` ``(transform, warped, displacement, history, geometry, moving_geometry,
        moving_size, warnings)``; with ``initial``, ``transform`` is ``Chain(initial, model)`` (flattened when
        ``initial`` is a chain). When the result looks implausible (:mod:`reglab.registration.plausibility`:
        an affine scale far from 1, folding, a similarity that got worse), each reason is issued as a
        :class:`RegistrationWarning` and kept in ``warnings``.

    Raises:
        ValueError, TypeError: bad images (float16/bfloat16: TypeError; batch sizes that do not broadcast),
            masks, names or options (messages say which).

    Example:
        >>> from reglab.data import random_affine
        >>> fixed = torch.zeros(1, 1, 32, 32); fixed[..., 10:22, 8:20] = 1.0
        >>> moving = warp(fixed, random_affine((32, 32), rotation=0, scale=0, shear=0, translation=3, seed=0).inverse)
        >>> result = register(fixed, moving, transform="rigid", similarity="ssd", levels=2, progress=False)
        >>> (result.warped - fixed).abs().mean().item() < 0.02, len(result.history["total"]) > 0
        (True, True)

    Lab 05 (classical registration) and Lab 04 (regularization).
    """
    check_choice("register", "optimizer", optimizer, OPTIMIZERS)
    if not isinstance(similarity, str) or similarity not in MEASURES:
        check_choice("register", "similarity", similarity, tuple(MEASURES))
    if regularization is not None and not callable(regularization):
        check_choice("register", "regularization", regularization, tuple(REGULARIZERS))
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"register(): expected `levels` to be an int >= 1, got {levels!r}.")
    iterations = [iterations] * levels if isinstance(iterations, int) else list(iterations)
    if len(iterations) != levels or any(not isinstance(n, int) or n < 0 for n in iterations):
        raise ValueError(f"register(): expected `iterations` as an int >= 0 or {levels} of them, got {iterations!r}.")
    for name, value in (("weight", weight), ("penalty_weight", penalty_weight), ("smoothing", smoothing)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"register(): expected `{name}` to be a number >= 0, got {value!r}.")
    for name, image in (("fixed", fixed), ("moving", moving)):
        _check_precision(name, image)
    if foreground not in ("auto", None):
        raise ValueError(f"register(): expected `foreground` 'auto' or None, got {foreground!r}.")
    if foreground == "auto":
        fixed_mask, moving_mask = _with_region(fixed, fixed_mask), _with_region(moving, moving_mask)
    fixed, moving, fixed_mask, moving_mask, geometry, resampling = _prepare(fixed, moving, fixed_mask, moving_mask)
    if fixed.shape[0] != moving.shape[0] and 1 not in (fixed.shape[0], moving.shape[0]):
        raise ValueError(f"register(): expected `fixed` and `moving` with the same batch size (or one of them 1), "
                         f"got {fixed.shape[0]} and {moving.shape[0]}.")
    size, batch = tuple(fixed.shape[2:]), max(fixed.shape[0], moving.shape[0])
    fixed = fixed.expand(batch, *fixed.shape[1:])            # one fixed image for a batch of moving images
    model = _model(transform, size, batch, dict(transform_options or {}), fixed)    # the images' dtype and device
    if smoothing and not isinstance(model, GRID_MODELS):
        raise ValueError(f"register(): `smoothing` needs a dense or svf model, got {type(model).__name__}.")
    if optimizer == "lbfgs" and smoothing:
        raise ValueError("register(): `smoothing` changes the parameters between steps, which breaks L-BFGS; "
                         "use optimizer='adam' or 'gd'.")
    if initial is not None:                                  # a copy: the caller's model keeps its dtype and device
        initial = copy.deepcopy(initial).to(fixed).requires_grad_(False)
    refine = isinstance(transform, str) and transform == "bspline" and levels > 1
    if refine:
        spacing = model.spacing
        model = BSpline(size, spacing=tuple(d * 2 ** (levels - 1) for d in spacing), batch=batch).to(fixed)
    regularize = REGULARIZERS[regularization] if isinstance(regularization, str) else regularization
    factors = [2 ** (levels - 1 - level) for level in range(levels)]
    objective = [fixed, moving]                             # the similarity's images; `warped` keeps the values
    if normalize not in (True, False, "auto"):
        raise ValueError(f"register(): expected `normalize` True, False or 'auto', got {normalize!r}.")
    for index, mask in enumerate((fixed_mask, moving_mask)):
        image = objective[index]
        if normalize is True or (normalize == "auto" and (image.min() < 0 or image.max() > 1)):
            objective[index] = rescale_intensities(image, mask if mask is None else mask > 0.5)
    images = [gaussian_pyramid(image, levels) for image in objective]
    history = {key: [] for key in ("total", "similarity", "regularization", "penalty", "level", "stage")}
    learning_rate = LEARNING_RATES[optimizer] if learning_rate is None else float(learning_rate)
    bar = _progress_bar(sum(iterations), progress)
    for level, factor in enumerate(factors):
        fixed_level, moving_level = images[0][level], images[1][level]
        level_size = tuple(fixed_level.shape[2:])
        if refine and level > 0:
            model = refine_bspline(model)
        model = _level_model(model, level_size)
        masks = [None if m is None else downsample(m, level_size) for m in (fixed_mask, moving_mask)]
        start = None if initial is None else initial(level_size).detach()
        terms = _objective(fixed_level, moving_level, masks, start, size, similarity, dict(similarity_options or {}),
                           regularize, dict(regularization_options or {}), weight, penalty, penalty_weight)
        parametric = not isinstance(model, GRID_MODELS) and optimizer != "lbfgs"
        rate = learning_rate * (factor if parametric else 1)
        rows = _run_level(terms, model, level_size, optimizer, rate, iterations[level], tolerance, smoothing, bar)
        for row in rows:
            for key, value in zip(("total", "similarity", "regularization", "penalty"), row):
                history[key].append(value)
            history["level"].append(level)
            history["stage"].append(0)
    if bar is not None:
        bar.close()
    model = model.requires_grad_(False)
    previous = [] if initial is None else list(initial.transforms) if isinstance(initial, Chain) else [initial]
    result = Chain(*previous, model) if previous else model
    result = _finish(result, moving, resampling, geometry, history)
    return _checked(result, objective, (fixed_mask, moving_mask), initial, similarity, dict(similarity_options or {}))


def _check_precision(name, image):
    """float16/bfloat16 images are refused: their resolution is coarser than the optimiser's steps."""
    data = image.data if isinstance(image, io.Image) else image
    if isinstance(data, torch.Tensor) and data.is_floating_point() and data.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"register(): expected `{name}` as float32 or float64, got {data.dtype} (too coarse for the "
                        f"small steps of the optimisation). Hint: convert the tensor with .float().")


def _progress_bar(total, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="register", leave=False)


def _objective(fixed, moving, masks, start, full_size, similarity, similarity_options, regularize,
               regularization_options, weight, penalty, penalty_weight):
    """The function ``u_model → (total, C, R, P)`` of one level."""
    fixed_mask, moving_mask = masks

    def terms(u_model):
        u = u_model if start is None else compose(start, u_model)
        warped = warp(moving, u)
        mask = fixed_mask
        if moving_mask is not None:
            warped_mask = warp(moving_mask, u)
            mask = warped_mask if mask is None else mask * warped_mask
        c = loss(similarity, fixed, warped, mask=mask, **similarity_options)
        total = c
        r = p = torch.zeros((), device=u.device, dtype=u.dtype)
        if regularize is not None and weight > 0:
            r = regularize(u_model, **regularization_options)
            total = total + weight * r
        if penalty is not None and penalty_weight > 0:
            full = u if tuple(u.shape[2:]) == tuple(full_size) else resize_displacement(u, full_size)
            p = penalty(full)
            total = total + penalty_weight * p
        return total, c.detach(), r.detach(), p.detach()

    return terms


def _finish(transform, moving, resampling, geometry, history):
    """Evaluate the fitted transform at full resolution and warp the moving image (one interpolation)."""
    matrix, original, moving_geometry = resampling
    with torch.no_grad():
        displacement = transform().detach()
        if matrix is None:
            warped = warp(moving, displacement)
        else:                                        # the original moving image at G(x + u(x))
            coordinates = identity_grid(displacement.shape[2:], device=moving.device, dtype=moving.dtype) + displacement
            warped = _sample(original.expand(coordinates.shape[0], *original.shape[1:]), _map_points(matrix, coordinates))
    return Registration(transform, warped, displacement, history, geometry, moving_geometry, tuple(original.shape[2:]))


def _with_region(image, mask):
    """The user's mask (or None) restricted to the image's scanned region; None when both cover everything."""
    data = image.data if isinstance(image, io.Image) else image
    region = scanned_region(data)
    if bool(region.all()):
        return mask
    if mask is None:
        return region
    data_mask = mask.data if isinstance(mask, io.Image) else mask
    if tuple(data_mask.shape[2:]) != tuple(region.shape[2:]):
        return mask                                           # _prepare names the wrong grid
    return (data_mask != 0) & region


def _checked(result, images, masks, initial, similarity, similarity_options):
    """The result with its :func:`implausibilities` (each also issued as a :class:`RegistrationWarning`)."""
    fixed, moving = images
    fixed_mask, moving_mask = masks
    with torch.no_grad():
        start = (torch.zeros_like(result.displacement) if initial is None
                 else initial(tuple(fixed.shape[2:])).detach().expand_as(result.displacement))
        values = []
        for u in (start, result.displacement):
            mask = fixed_mask
            if moving_mask is not None:
                warped_mask = warp(moving_mask, u)
                mask = warped_mask if mask is None else mask * warped_mask
            values.append(loss(similarity, fixed, warp(moving, u), mask=mask, reduction="none", **similarity_options))
    spacing = result.geometry.spacing
    messages = tuple(implausibilities(result.transform, result.displacement, spacing, values[0], values[1]))
    for message in messages:
        warnings.warn(f"register(): {message}", RegistrationWarning, stacklevel=3)
    return result._replace(warnings=messages)


DEFAULT_STAGES = (
    {"transform": "affine", "similarity": "ncc", "iterations": (60, 30, 0)},
    {"transform": "svf", "similarity": "local_ncc", "similarity_options": {"window": 5},
     "regularization": "diffusion", "weight": 1.0, "iterations": (60, 30, 0)},
)
"""The stages of :func:`register_stages` by default (3 pyramid levels, with :func:`register`'s ``foreground``
and ``normalize``): affine by global NCC, then a stationary velocity field (diffeomorphic: no folding) by local
NCC (5-voxel windows) with diffusion regularization. The finest level runs no iterations (the field is
upsampled onto it): on 1 mm inter-subject MR the half-resolution field already holds the anatomy's
differences, and the full-resolution iterations cost 8x more each. Tuned on shared MSD hippocampus pairs
(``benchmarks/bench_realdata.py --start 20``), measured on others (``benchmarks/results/realdata.md``)."""


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
