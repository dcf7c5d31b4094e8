"""Classical registration: optimise the parameters Θ of one transformation for one image pair.

The lecture's formulation::

    O(F, M, Θ) = C(F, T(M, Θ)) + λ R(Θ) + μ P(Θ)  →  min over Θ

* ``C`` a (dis)similarity of :mod:`reglab.similarity`, in its loss form (lower is better);
* ``T(M, Θ)`` the moving image warped by a model of :mod:`reglab.transforms`;
* ``R`` a regularizer of :mod:`reglab.regularization` with weight ``λ`` (``weight=``),
  or the implicit Gaussian smoothing of the field (``smoothing=``, as in demons);
* ``P`` an optional penalty with weight ``μ``: landmark distance
  (:func:`landmark_penalty`) or label overlap (:func:`label_penalty`).

:func:`register` minimises it by gradient-based optimisation (Adam, L-BFGS, or
plain gradient descent for teaching) on a **Gaussian pyramid**: the images are
smoothed and downsampled by 2 per level, the coarse levels find the large
motions cheaply, and the parameters are carried to the next, finer level:

* the parametric models (rigid, affine, local affine, B-spline) live on the
  full-resolution fixed grid at every level and are evaluated on the level's
  grid (``model(size=...)``); a B-spline's control mesh starts twice as coarse
  per level and is refined exactly between levels (:func:`refine_bspline`);
* the grid models (dense, stationary velocity) are rebuilt on each level's grid
  from the previous level's field (:func:`reglab.fields.resize_displacement`).

:func:`register_stages` runs a pipeline, e.g. rigid → affine → B-spline, each
stage starting from the previous ones (the result's transform is a
:class:`reglab.transforms.Chain`). Images read with :func:`reglab.io.read_image`
register in physical space (the moving image is first resampled onto the fixed
grid through the two geometries), and :meth:`Registration.to_itk` exports the
result for SimpleITK and 3D Slicer.

Lab 05 ("Classical registration") teaches this module; Lab 04 ("Regularization") uses it.

References:
    Sotiras, Davatzikos & Paragios, "Deformable medical image registration: a survey", IEEE TMI 2013;
    Klein et al., "elastix", IEEE TMI 2010 (pyramids, stages); Rueckert et al. 1999 (B-spline FFD).
"""

import copy
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from reglab import io
from reglab.fields import compose, resize_displacement
from reglab.grid import ALIGN_CORNERS, identity_grid, to_grid_sample
from reglab.regularization import REGULARIZERS, gaussian_smoothing
from reglab.similarity import MEASURES, loss
from reglab.transforms import Affine, BSpline, Chain, Dense, LocalAffine, Rigid, StationaryVelocity, Transform
from reglab.transforms.bspline import control_grid_size
from reglab.validation import check_choice, check_image, check_points
from reglab.warping import warp, warp_points

MODELS = {"rigid": Rigid, "affine": Affine, "local_affine": LocalAffine, "bspline": BSpline,
          "dense": Dense, "svf": StationaryVelocity}
"""The transformation models by name (``transform=`` of :func:`register`)."""

OPTIMIZERS = ("adam", "lbfgs", "gd")
LEARNING_RATES = {"adam": 0.1, "lbfgs": 1.0, "gd": 10.0}
"""Default step sizes: Adam moves about this many voxels per step (parameters are in voxels of motion,
see :mod:`reglab.transforms.base`); L-BFGS scales its line search; plain gradient descent multiplies the
gradient, so its step depends on the loss's scale (10 suits NCC; MSE of [0, 1] images takes about 100)."""

GRID_MODELS = (Dense, StationaryVelocity)


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

    def to_itk(self):
        """The result as a SimpleITK transform that maps fixed physical points to moving physical points.

        Read back by ``sitk.ReadTransform`` and 3D Slicer after :func:`reglab.io.write_transform`.
        """
        from reglab.transforms.itk_export import to_itk

        return to_itk(copy.deepcopy(self.transform).cpu(), self.geometry, self.geometry)


# ----------------------------------------------------------------------------- penalties P


def landmark_penalty(fixed_points, moving_points):
    """P(u) = mean ``‖p + u(p) - q‖²`` over corresponding landmarks ``p`` (fixed) and ``q`` (moving), in voxels².

    Args:
        fixed_points, moving_points: ``(B, N, ndim)`` voxel coordinates on the fixed and moving grids.

    Returns:
        A function of the displacement ``(B, ndim, *spatial)`` (full resolution), for ``penalty=`` of :func:`register`.

    Example:
        >>> p = torch.tensor([[[2.0, 3.0]]]); u = torch.zeros(1, 2, 8, 8); u[:, 0] = 1.0
        >>> landmark_penalty(p, p + torch.tensor([1.0, 2.0]))(u)
        tensor(4.)
    """
    check_points("landmark_penalty", "fixed_points", fixed_points, fixed_points.shape[-1])
    check_points("landmark_penalty", "moving_points", moving_points, fixed_points.shape[-1])

    def penalty(displacement):
        points = fixed_points.to(displacement)
        mapped = warp_points(points.expand(displacement.shape[0], -1, -1), displacement)
        return (mapped - moving_points.to(displacement)).pow(2).sum(-1).mean()

    return penalty


def label_penalty(fixed_labels, moving_labels, *, labels=None):
    """P(u) = 1 - mean soft Dice of the label maps: moving labels warped linearly (one indicator per label).

    Args:
        fixed_labels, moving_labels: ``(B, 1, *spatial)`` integer label maps on the fixed grid.
        labels: the labels to compare (default: the non-zero labels of ``fixed_labels``).

    Returns:
        A function of the displacement, for ``penalty=`` of :func:`register`; 0 for a perfect overlap.

    Example:
        >>> fixed = torch.zeros(1, 1, 8, 8, dtype=torch.long); fixed[..., 2:6, 2:6] = 1
        >>> label_penalty(fixed, fixed)(torch.zeros(1, 2, 8, 8)).item()
        0.0
    """
    check_image("label_penalty", "fixed_labels", fixed_labels, allow_integer=True)
    check_image("label_penalty", "moving_labels", moving_labels, allow_integer=True)
    chosen = [int(v) for v in (labels if labels is not None else fixed_labels.unique()) if int(v) != 0]

    def penalty(displacement):
        scores = []
        for value in chosen:
            fixed = (fixed_labels == value).to(displacement)
            warped = warp((moving_labels == value).to(displacement), displacement)
            overlap = 2 * (fixed * warped).flatten(1).sum(1)
            scores.append(overlap / (fixed.flatten(1).sum(1) + warped.flatten(1).sum(1)).clamp_min(1e-6))
        return 1 - torch.stack(scores).mean() if scores else displacement.new_zeros(())

    return penalty


# ----------------------------------------------------------------------------- pyramid


def pyramid_size(size, factor):
    """The grid of a pyramid level: ``round((n - 1) / factor) + 1`` voxels per axis (at least 8, at most ``n``).

    With ``align_corners=True`` the first and last voxel centres stay put, so one
    level voxel is ``(n - 1) / (m - 1) ≈ factor`` full-resolution voxels.

    Example:
        >>> pyramid_size((65, 40), 4)
        (17, 11)
    """
    return tuple(min(n, max(8, round((n - 1) / factor) + 1)) for n in size)


def downsample(image, size, *, sigma=0.0):
    """Gaussian smoothing (``sigma`` in voxels, 0 for none) then linear resampling onto ``size``.

    Args:
        image: ``(B, C, *spatial)`` float tensor.
        size: the level's spatial shape.
        sigma: standard deviation of the smoothing, in voxels of ``image``.

    Returns:
        Tensor ``(B, C, *size)``.

    Example:
        >>> downsample(torch.ones(1, 1, 9, 9), (5, 5), sigma=1.0).shape
        torch.Size([1, 1, 5, 5])
    """
    if sigma > 0:
        image = gaussian_smoothing(image, sigma)
    if tuple(size) == tuple(image.shape[2:]):
        return image
    mode = "bilinear" if image.dim() == 4 else "trilinear"
    return F.interpolate(image, size=tuple(size), mode=mode, align_corners=ALIGN_CORNERS)


def gaussian_pyramid(image, levels):
    """The images of a pyramid, coarsest first: level ``l`` is shrunk by ``2**(levels - 1 - l)``.

    Each level is smoothed with ``σ = factor / 2`` voxels before downsampling (the
    usual anti-aliasing choice, e.g. elastix's and SimpleITK's defaults).

    Example:
        >>> [tuple(level.shape[2:]) for level in gaussian_pyramid(torch.rand(1, 1, 64, 48), 3)]
        [(17, 13), (33, 25), (64, 48)]
    """
    factors = [2 ** (levels - 1 - level) for level in range(levels)]
    size = image.shape[2:]
    return [downsample(image, pyramid_size(size, f), sigma=f / 2 if f > 1 else 0.0) for f in factors]


def refine_bspline(model):
    """A B-spline model with half the control spacing and the same displacement (exact subdivision).

    A cubic B-spline with knots ``2δ`` apart is also one with knots ``δ`` apart, with
    control points ``d_2j = (c_j-1 + 6 c_j + c_j+1) / 8`` and ``d_2j+1 = (c_j + c_j+1) / 2``
    along every axis (Lee, Wolberg & Shin 1997). Used between pyramid levels.

    Args:
        model: :class:`reglab.transforms.BSpline` with an even spacing on every axis.

    Returns:
        A new :class:`~reglab.transforms.BSpline` on the same grid, spacing ``δ / 2``.

    Example:
        >>> coarse = BSpline((33, 33), spacing=8, control=torch.randn(1, 2, 8, 8))
        >>> fine = refine_bspline(coarse)
        >>> fine.spacing, torch.allclose(fine(), coarse(), atol=1e-5)
        ((4, 4), True)
    """
    if any(d % 2 for d in model.spacing):
        raise ValueError(f"refine_bspline(): expected an even control spacing, got {model.spacing}.")
    spacing = tuple(d // 2 for d in model.spacing)
    control = model.control.detach()
    for axis, count in enumerate(control_grid_size(model.size, spacing)):
        matrix = _subdivision_matrix(control.shape[axis + 2], count, device=control.device, dtype=control.dtype)
        control = (control.movedim(axis + 2, -1) @ matrix.T).movedim(-1, axis + 2)
    return BSpline(model.size, spacing=spacing, control=control, batch=model.batch).to(model.control.device)


def _subdivision_matrix(coarse, fine, *, device, dtype):
    """``(fine, coarse)`` weights: stored index ``s`` holds control point ``s - 1`` (see :mod:`reglab.transforms.bspline`)."""
    matrix = torch.zeros(fine, coarse, device=device, dtype=dtype)
    for row in range(fine):
        m = row - 1                                                   # fine control point index
        j = m // 2                                                    # coarse point at or left of it
        weights = {j - 1: 1 / 8, j: 6 / 8, j + 1: 1 / 8} if m % 2 == 0 else {j: 1 / 2, j + 1: 1 / 2}
        for point, w in weights.items():
            if 0 <= point + 1 < coarse:                               # points off the stored grid count as 0
                matrix[row, point + 1] = w
    return matrix


# ----------------------------------------------------------------------------- inputs


def _as_image(name, value):
    """A tensor or a :class:`reglab.io.Image` → (tensor, geometry or None)."""
    if isinstance(value, io.Image):
        data, geometry = value.data, value.geometry
    else:
        data, geometry = value, None
    check_image("register", name, data)
    if data.shape[2:].numel() == 0 or min(data.shape[2:]) < 4:
        raise ValueError(f"register(): expected `{name}` with at least 4 voxels per axis, got {tuple(data.shape)}.")
    return data, geometry


def _resample_matrix(fixed_geometry, moving_geometry):
    """``(ndim, ndim + 1)`` fixed voxel → moving voxel through physical space, or None when it is the identity."""
    matrix = torch.linalg.inv(moving_geometry.matrix()) @ fixed_geometry.matrix()
    if torch.allclose(matrix, torch.eye(len(matrix), dtype=matrix.dtype), atol=1e-9):
        return None
    return matrix[:-1]


def _sample(image, coordinates, *, mode="bilinear"):
    """``image`` ``(B, C, *grid)`` at voxel ``coordinates`` ``(B, ndim, *spatial)`` (any grid), zero outside."""
    grid = to_grid_sample(coordinates, image.shape[2:])
    return F.grid_sample(image, grid.to(image.dtype), mode=mode, padding_mode="zeros", align_corners=ALIGN_CORNERS)


def _map_points(matrix, coordinates):
    """Apply ``(ndim, ndim + 1)`` to voxel coordinates ``(B, ndim, *spatial)``."""
    matrix = matrix.to(coordinates)
    return torch.einsum("ij,bj...->bi...", matrix[:, :-1], coordinates) + matrix[:, -1].reshape(
        1, -1, *([1] * (coordinates.dim() - 2)))


def _prepare(fixed, moving, fixed_mask, moving_mask):
    """Tensors on the fixed grid: (fixed, moving', fixed mask, moving' mask, geometry, matrix or None)."""
    fixed, fixed_geometry = _as_image("fixed", fixed)
    moving, moving_geometry = _as_image("moving", moving)
    if fixed.dim() != moving.dim() or fixed.shape[1] != moving.shape[1]:
        raise ValueError(f"register(): expected `fixed` and `moving` with the same dimension and channels, "
                         f"got {tuple(fixed.shape)} and {tuple(moving.shape)}.")
    ndim = fixed.dim() - 2
    if (fixed_geometry is None) != (moving_geometry is None):
        raise ValueError("register(): expected two reglab.io.Image (with geometry) or two tensors, got one of each.")
    matrix = None
    if fixed_geometry is not None:
        matrix = _resample_matrix(fixed_geometry, moving_geometry)
        if matrix is None and fixed.shape[2:] != moving.shape[2:]:
            matrix = torch.eye(ndim + 1, dtype=torch.float64)[:-1]
    elif fixed.shape[2:] != moving.shape[2:]:
        raise ValueError(
            f"register(): expected `fixed` and `moving` on the same grid, got spatial shapes {tuple(fixed.shape[2:])} "
            f"and {tuple(moving.shape[2:])}. Hint: read them with reglab.io.read_image to register in physical space.")
    masks = []
    for name, mask, reference in (("fixed_mask", fixed_mask, fixed), ("moving_mask", moving_mask, moving)):
        if mask is not None:
            mask = mask.data if isinstance(mask, io.Image) else mask
            check_image("register", name, mask, allow_integer=True)
            if mask.shape[2:] != reference.shape[2:]:
                raise ValueError(f"register(): expected `{name}` on the grid {tuple(reference.shape[2:])}, "
                                 f"got {tuple(mask.shape[2:])}.")
            mask = mask.to(fixed.device, fixed.dtype)
        masks.append(mask)
    moving = original = moving.to(fixed.device, fixed.dtype)
    geometry = fixed_geometry or io.Geometry.default(ndim)
    if matrix is not None:
        to_moving = _map_points(matrix, identity_grid(fixed.shape[2:], device=fixed.device, dtype=fixed.dtype))
        moving = _sample(moving, to_moving.expand(moving.shape[0], -1, *fixed.shape[2:]))
        if masks[1] is not None:
            masks[1] = _sample(masks[1], to_moving.expand(masks[1].shape[0], -1, *fixed.shape[2:]))
    return fixed, moving, masks[0], masks[1], geometry, (matrix, original)


def resample_to_fixed(fixed, moving):
    """The moving image on the fixed image's grid, through physical space (what registration starts from).

    Args:
        fixed, moving: two :class:`reglab.io.Image` s (any grids), or two tensors on the same grid.

    Returns:
        Tensor ``(B, C, *fixed.shape[2:])``: ``moving`` at the physical positions of the fixed voxels
        (zero outside it); ``moving`` itself when both share a grid.

    Example:
        >>> from reglab.io import Geometry, Image
        >>> fixed = Image(torch.zeros(1, 1, 4, 4), Geometry.default(2))
        >>> moving = Image(torch.arange(16.0).reshape(1, 1, 4, 4), Geometry((1.0, 1.0), (1.0, 0.0), (1.0, 0.0, 0.0, 1.0)))
        >>> resample_to_fixed(fixed, moving)[0, 0, 0]     # the moving origin is 1 mm further along x
        tensor([0., 0., 1., 2.])
    """
    return _prepare(fixed, moving, None, None)[1]


def _model(transform, size, batch, options, device):
    """A fresh model from a name, or the given model."""
    if isinstance(transform, Transform):
        if tuple(transform.size) != tuple(size):
            raise ValueError(f"register(): expected `transform` on the fixed grid {tuple(size)}, got {transform.size}.")
        return copy.deepcopy(transform).to(device).requires_grad_(True)      # the caller's model stays as it was
    check_choice("register", "transform", transform, tuple(MODELS))
    return MODELS[transform](size, batch=batch, **options).to(device)


# ----------------------------------------------------------------------------- one level


def _level_model(model, level_size):
    """The model to optimise on a level: grid models are rebuilt on the level's grid from the previous one."""
    if not isinstance(model, GRID_MODELS) or tuple(model.size) == tuple(level_size):
        return model
    name = "field" if isinstance(model, Dense) else "velocity"
    field = resize_displacement(getattr(model, name).detach(), level_size)
    options = {"steps": model.steps} if isinstance(model, StationaryVelocity) else {}
    return type(model)(level_size, batch=model.batch, **{name: field}, **options).to(field.device)


def _evaluate(model, level_size):
    """The model's displacement on the level's grid, in the level's voxels."""
    return model() if tuple(model.size) == tuple(level_size) else model(level_size)


def _optimizer(name, parameters, learning_rate, iterations):
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate)
    if name == "gd":
        return torch.optim.SGD(parameters, lr=learning_rate)
    # one call runs the whole level: L-BFGS keeps its curvature memory within a call
    return torch.optim.LBFGS(parameters, lr=learning_rate, max_iter=iterations, max_eval=iterations, history_size=20,
                             line_search_fn="strong_wolfe")


def _smooth_parameters(model, sigma):
    """Demons-style implicit regularization: replace the field parameters by their Gaussian smoothing."""
    parameter = model.field if isinstance(model, Dense) else model.velocity
    with torch.no_grad():
        parameter.copy_(gaussian_smoothing(parameter, sigma))


def _converged(values, tolerance, window=10):
    """True when the total loss dropped by less than ``tolerance`` (relative) over the last ``window`` iterations."""
    if len(values) <= window:
        return False
    before, now = values[-window - 1], values[-1]
    return before - now <= tolerance * max(abs(before), 1e-12)


def _run_level(terms, model, level_size, optimizer, learning_rate, iterations, tolerance, smoothing, bar):
    """Optimise one pyramid level; return this level's history rows ``(total, C, R, P)``, one per evaluation."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    if iterations == 0 or not parameters:
        return []
    step = _optimizer(optimizer, parameters, learning_rate, iterations)
    rows = []

    def closure():
        step.zero_grad()
        values = terms(_evaluate(model, level_size))
        values[0].backward()
        row = tuple(float(v) for v in (values[0].detach(), *values[1:]))
        if not math.isfinite(row[0]):
            raise ValueError("register(): the loss became NaN or Inf. Hint: lower the learning rate or the weights.")
        rows.append(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{row[0]:.4g}")
        return values[0]

    if optimizer == "lbfgs":                 # at most `iterations` evaluations, line-search trials included
        step.step(closure)
        return rows
    for _ in range(iterations):
        step.step(closure)
        if smoothing:
            _smooth_parameters(model, smoothing)
        if _converged([row[0] for row in rows], tolerance):
            break
    return rows


# ----------------------------------------------------------------------------- the engine


def register(fixed, moving, *, transform="affine", similarity="ncc", regularization=None, weight=0.0,
             penalty=None, penalty_weight=1.0, smoothing=0.0, fixed_mask=None, moving_mask=None, levels=3,
             optimizer="adam", iterations=100, learning_rate=None, tolerance=1e-5, initial=None,
             transform_options=None, similarity_options=None, regularization_options=None, progress=True):
    """Classical registration: minimise ``C(F, M∘y) + λ R(u) + μ P(u)`` over one model's parameters.

    Args:
        fixed: ``(B, C, *spatial)`` fixed image, or a :class:`reglab.io.Image` (then ``moving`` too).
        moving: the moving image: same shape as ``fixed`` for tensors; any grid for ``Image`` s
            (it is resampled onto the fixed grid through the physical geometries).
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
        tolerance: stop a level when the total loss fell by less than this fraction over 10 iterations.
        initial: a fitted model on the fixed grid that acts *after* this one (an earlier stage), kept fixed:
            the displacement is ``compose(initial, u)``.
        transform_options, similarity_options, regularization_options: keyword options of the model
            (e.g. ``{"spacing": 8}`` for a B-spline), the measure (``{"bins": 32}``) and the regularizer.
        progress: show a progress bar (tqdm).

    Returns:
        :class:`Registration` ``(transform, warped, displacement, history, geometry)``; with ``initial``,
        ``transform`` is ``Chain(initial, model)`` (flattened when ``initial`` is a chain).

    Raises:
        ValueError, TypeError: bad images, masks, names or options (messages say which).

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
    fixed, moving, fixed_mask, moving_mask, geometry, resampling = _prepare(fixed, moving, fixed_mask, moving_mask)
    size, batch = tuple(fixed.shape[2:]), max(fixed.shape[0], moving.shape[0])
    model = _model(transform, size, batch, dict(transform_options or {}), fixed.device)
    if smoothing and not isinstance(model, GRID_MODELS):
        raise ValueError(f"register(): `smoothing` needs a dense or svf model, got {type(model).__name__}.")
    if optimizer == "lbfgs" and smoothing:
        raise ValueError("register(): `smoothing` changes the parameters between steps, which breaks L-BFGS; "
                         "use optimizer='adam' or 'gd'.")
    if initial is not None:
        initial = initial.to(fixed.device).requires_grad_(False)
    refine = isinstance(transform, str) and transform == "bspline" and levels > 1
    if refine:
        spacing = model.spacing
        model = BSpline(size, spacing=tuple(d * 2 ** (levels - 1) for d in spacing), batch=batch).to(fixed.device)
    regularize = REGULARIZERS[regularization] if isinstance(regularization, str) else regularization
    factors = [2 ** (levels - 1 - level) for level in range(levels)]
    images = [gaussian_pyramid(image, levels) for image in (fixed, moving)]
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
    return _finish(result, moving, resampling, geometry, history)


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
    matrix, original = resampling
    with torch.no_grad():
        displacement = transform().detach()
        if matrix is None:
            warped = warp(moving, displacement)
        else:                                        # the original moving image at G(x + u(x))
            coordinates = identity_grid(displacement.shape[2:], device=moving.device, dtype=moving.dtype) + displacement
            warped = _sample(original.expand(coordinates.shape[0], *original.shape[1:]), _map_points(matrix, coordinates))
    return Registration(transform, warped, displacement, history, geometry)


def register_stages(fixed, moving, stages, **common):
    """A pipeline of registrations, each stage starting from the previous ones: e.g. rigid → affine → B-spline.

    Args:
        fixed, moving: as :func:`register`.
        stages: a list whose items are model names (``"rigid"``) or dicts of :func:`register` options for that
            stage (``{"transform": "bspline", "regularization": "bending_energy", "weight": 0.1}``).
        **common: options shared by every stage (a stage's own options win).

    Returns:
        :class:`Registration` whose transform is ``Chain(stage1, stage2, …)`` (the last stage acts first
        on fixed points, as in ITK's ``CompositeTransform``) and whose history numbers the stages.

    Example:
        >>> fixed = torch.zeros(1, 1, 32, 32); fixed[..., 10:22, 8:20] = 1.0
        >>> moving = torch.roll(fixed, 2, dims=3)
        >>> result = register_stages(fixed, moving, ["rigid", "affine"], similarity="ssd", levels=1,
        ...                          iterations=20, progress=False)
        >>> type(result.transform).__name__, sorted(set(result.history["stage"]))
        ('Chain', [0, 1])
    """
    if not stages:
        raise ValueError("register_stages(): expected at least one stage, got none.")
    result, history = None, {}
    for index, stage in enumerate(stages):
        options = {**common, **({"transform": stage} if isinstance(stage, (str, Transform)) else dict(stage))}
        result = register(fixed, moving, initial=None if result is None else result.transform, **options)
        for key, values in result.history.items():
            history.setdefault(key, []).extend(values if key != "stage" else [index] * len(values))
    return result._replace(history=history)
