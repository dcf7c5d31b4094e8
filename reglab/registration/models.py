"""The transformation models by name (:data:`MODELS`) and how the engine builds them, level by level.

* the parametric models (rigid, affine, local affine, B-spline) live on the
  full-resolution fixed grid at every level and are evaluated on the level's
  grid (``model(size=...)``); a B-spline's control mesh starts twice as coarse
  per level and is refined exactly between levels
  (:func:`reglab.registration.pyramid.refine_bspline`);
* the grid models (:data:`GRID_MODELS`: dense, stationary velocity) are rebuilt
  on each level's grid from the previous level's field
  (:func:`reglab.fields.resize_displacement`).

Lab 05 ("Classical registration"); Lab 02 teaches the models themselves.
"""

import copy

from reglab.fields import resize_displacement
from reglab.transforms import Affine, BSpline, Dense, LocalAffine, Rigid, StationaryVelocity, Transform
from reglab.validation import check_choice

MODELS = {"rigid": Rigid, "affine": Affine, "local_affine": LocalAffine, "bspline": BSpline,
          "dense": Dense, "svf": StationaryVelocity}
"""The transformation models by name (``transform=`` of :func:`register`)."""

GRID_MODELS = (Dense, StationaryVelocity)
"""The models whose parameters are a field on a grid (rebuilt per level, smoothed by ``smoothing=``)."""


def _model(transform, size, batch, options, like):
    """A fresh model from a name, or a copy of the given model, with the device and dtype of the tensor ``like``."""
    if isinstance(transform, Transform):
        if tuple(transform.size) != tuple(size):
            raise ValueError(f"register(): expected `transform` on the fixed grid {tuple(size)}, got {transform.size}.")
        return copy.deepcopy(transform).to(like).requires_grad_(True)        # the caller's model stays as it was
    check_choice("register", "transform", transform, tuple(MODELS))
    return MODELS[transform](size, batch=batch, **options).to(like)


def _level_model(model, level_size):
    """The model to optimise on a level: grid models are rebuilt on the level's grid from the previous one."""
    if not isinstance(model, GRID_MODELS) or tuple(model.size) == tuple(level_size):
        return model
    name = "field" if isinstance(model, Dense) else "velocity"
    field = resize_displacement(getattr(model, name).detach(), level_size)
    options = {"steps": model.steps} if isinstance(model, StationaryVelocity) else {}
    return type(model)(level_size, batch=model.batch, **{name: field}, **options).to(field.device)
