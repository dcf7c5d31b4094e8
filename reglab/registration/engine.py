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

import torch

from reglab import io
from reglab.fields import compose, resize_displacement
from reglab.grid import identity_grid
from reglab.registration.level import LEARNING_RATES, OPTIMIZERS, _run_level
from reglab.registration.intensities import rescale_intensities, scanned_region
from reglab.registration.models import GRID_MODELS, _level_model, _model
from reglab.registration.plausibility import RegistrationWarning, implausibilities
from reglab.registration.region import CROPPABLE, crop, extend_model, region_box
from reglab.registration.pyramid import downsample, gaussian_pyramid, refine_bspline
from reglab.registration.resampling import _map_points, _prepare, _sample
from reglab.registration.result import Registration
from reglab.regularization import REGULARIZERS
from reglab.similarity import MEASURES, loss
from reglab.transforms import BSpline, Chain
from reglab.transforms.base import LinearTransform
from reglab.validation import check_choice
from reglab.warping import warp


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
            None: every voxel. Whenever both images have a region (found or given), a rigid, affine, dense or SVF
            model is optimised on the box that holds both (:mod:`reglab.registration.region`: the voxels outside
            count for nothing) and returned on the whole fixed grid.
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
    full_size, batch = tuple(fixed.shape[2:]), max(fixed.shape[0], moving.shape[0])
    fixed = fixed.expand(batch, *fixed.shape[1:])            # one fixed image for a batch of moving images
    box = region_box(fixed_mask, moving_mask) if transform in CROPPABLE and penalty is None else None
    if initial is not None:                                  # a copy: the caller's model keeps its dtype and device
        initial = copy.deepcopy(initial).to(fixed).requires_grad_(False)
    start_field = None if initial is None or box is None else crop(initial().detach(), box)
    size = tuple(crop(fixed, box).shape[2:])                 # the region's box (or the whole grid)
    model = _model(transform, size, batch, dict(transform_options or {}), fixed)    # the images' dtype and device
    if smoothing and not isinstance(model, GRID_MODELS):
        raise ValueError(f"register(): `smoothing` needs a dense or svf model, got {type(model).__name__}.")
    if optimizer == "lbfgs" and smoothing:
        raise ValueError("register(): `smoothing` changes the parameters between steps, which breaks L-BFGS; "
                         "use optimizer='adam' or 'gd'.")
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
    images = [gaussian_pyramid(crop(image, box), levels) for image in objective]
    region_masks = [crop(fixed_mask, box), crop(moving_mask, box)]
    history = {key: [] for key in ("total", "similarity", "regularization", "penalty", "level", "stage")}
    learning_rate = LEARNING_RATES[optimizer] if learning_rate is None else float(learning_rate)
    bar = _progress_bar(sum(iterations), progress)
    for level, factor in enumerate(factors):
        fixed_level, moving_level = images[0][level], images[1][level]
        level_size = tuple(fixed_level.shape[2:])
        if refine and level > 0:
            model = refine_bspline(model)
        model = _level_model(model, level_size)
        masks = [None if m is None else downsample(m, level_size) for m in region_masks]
        start = _start(initial, start_field, size, level_size)
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
    model = model.requires_grad_(False) if box is None else extend_model(model, box, full_size)
    previous = [] if initial is None else list(initial.transforms) if isinstance(initial, Chain) else [initial]
    result = Chain(*previous, model) if previous else model
    result = _finish(result, moving, resampling, geometry, history)
    return _checked(result, objective, (fixed_mask, moving_mask), initial, similarity, dict(similarity_options or {}))


def _start(initial, start_field, size, level_size):
    """The earlier stages on a level's grid: ``(displacement, A)``, with ``A`` ``(B, ndim, ndim)`` the linear part
    in the level's voxels when every earlier stage is linear (rigid, affine), else None; ``(None, None)`` without.

    ``start_field`` is the earlier stages' displacement on the region's box (None: evaluate the model on the
    level, whose grid covers the model's whole grid ``size``).
    """
    if initial is None:
        return None, None
    if start_field is None:
        field = initial(level_size).detach()
    elif tuple(start_field.shape[2:]) == tuple(level_size):
        field = start_field
    else:
        field = resize_displacement(start_field, level_size)
    parts = list(initial.transforms) if isinstance(initial, Chain) else [initial]
    if not all(isinstance(part, LinearTransform) for part in parts):
        return field, None
    linear = parts[0].matrix()[:, :, :-1]
    for part in parts[1:]:                                    # y1(y2(x)): A = A1 A2
        linear = linear @ part.matrix()[:, :, :-1]
    scale = field.new_tensor([(n - 1) / max(m - 1, 1) for n, m in zip(size, level_size)])   # voxels per level voxel
    return field, (linear.to(field.dtype) * scale / scale[:, None]).detach()


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
    start_field, start_linear = start
    if moving_mask is not None:                              # warped together: one interpolation, not two
        batch = max(moving.shape[0], moving_mask.shape[0])
        moving = torch.cat([moving.expand(batch, *moving.shape[1:]),
                            moving_mask.expand(batch, -1, *moving.shape[2:])], dim=1)   # (B, C + 1, *spatial)

    def terms(u_model):
        u = u_model
        if start_linear is not None:                         # compose(start, u) = start + A u for a linear start
            u = start_field + (start_linear @ u_model.flatten(2)).reshape(u_model.shape)
        elif start_field is not None:
            u = compose(start_field, u_model)
        warped = warp(moving, u)
        mask = fixed_mask
        if moving_mask is not None:
            warped, warped_mask = warped[:, :-1], warped[:, -1:]
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
