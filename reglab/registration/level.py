"""One pyramid level: the optimiser loop of :func:`~reglab.registration.engine.register` on one grid.

:func:`_run_level` minimises the level's objective with Adam, L-BFGS (a
strong-Wolfe line search, the whole level in one call) or plain gradient
descent, applies the demons-style implicit smoothing of a dense or SVF field
after every step, and stops when the best loss so far no longer falls (:func:`_converged`).
Each evaluation adds one row ``(total, C, R, P)`` to the history.

Lab 05 ("Classical registration").
"""

import math

import torch

from reglab.regularization import gaussian_smoothing
from reglab.transforms import Dense

OPTIMIZERS = ("adam", "lbfgs", "gd")
LEARNING_RATES = {"adam": 0.1, "lbfgs": 1.0, "gd": 10.0}
"""Default step sizes: Adam moves about this many voxels per step (parameters are in voxels of motion,
see :mod:`reglab.transforms.base`); L-BFGS scales its line search; plain gradient descent multiplies the
gradient, so its step depends on the loss's scale (10 suits NCC; MSE of [0, 1] images takes about 100)."""


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


def _converged(values, tolerance, window=20):
    """True when the best total loss improved by less than ``tolerance`` (relative) in the last ``window`` iterations.

    The best loss, not the last one: Adam's loss rises now and then on its way down (it overshoots), and a test on
    the last value stops such a level long before it has converged (an easy affine pair stopped after 36 of 100
    iterations, 0.3 voxel from the answer instead of 0.05).
    """
    if len(values) <= window:
        return False
    best_before, best_now = min(values[:-window]), min(values[-window:])
    return best_before - best_now <= tolerance * max(abs(best_before), 1e-12)


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
