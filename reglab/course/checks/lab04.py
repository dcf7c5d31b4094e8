"""Checkers for Lab 04 — Regularization.

Every function takes the student's function, runs it on several cases (2D and 3D,
batches, odd and non-square grids) and compares with reglab's own implementation
(:mod:`reglab.regularization`, :mod:`reglab.evaluation`).

It is longer than ~300 lines because it is one thing, this lab's checkers: the cases and the typical
mistakes of its four exercises, then its three question checkers. It reads top to bottom, exercise by
exercise (one ``# ---- Exercise 4.N`` section each), the questions last.
"""

import torch

from reglab.course.checks.core import Case, Mistake, run_check
from reglab.evaluation import jacobian_determinant
from reglab.regularization import bending_energy, curvature, diffusion, gaussian_smoothing


def _fields(generator):
    """Smooth-ish random fields of several shapes: (description, field)."""
    shapes = [("2D, 9 × 9", (1, 2, 9, 9)), ("2D, batch of 3, 7 × 12", (3, 2, 7, 12)),
              ("3D, 5 × 6 × 7", (1, 3, 5, 6, 7)), ("3D, batch of 2, 4 × 9 × 5", (2, 3, 4, 9, 5))]
    return [(text, torch.randn(*shape, generator=generator)) for text, shape in shapes]


def _analytic_shear():
    u = torch.zeros(1, 2, 6, 6)
    u[:, 1] = 0.5 * torch.arange(6.0)[:, None]            # u_1 = x_0 / 2: a shear, every derivative known
    return u


# ---------------------------------------------------------------- Exercise 4.1


def _diffusion(u, *, stencil="forward", reduce_axes="sum", components="sum", power=2, total=False):
    """The diffusion energy and its slips: central differences, axes averaged, components averaged, |.|, sums."""
    ndim = u.dim() - 2
    terms = []
    for k in range(ndim):
        if stencil == "central":
            n = u.shape[k + 2]
            d = (u.narrow(k + 2, 2, n - 2) - u.narrow(k + 2, 0, n - 2)) / 2
        else:
            d = u.diff(dim=k + 2)
        d = d.abs() ** power
        d = d.sum(1) if components == "sum" else d.mean(1)
        terms.append(d.flatten(1).sum(1) if total else d.flatten(1).mean(1))
    stacked = torch.stack(terms)
    return (stacked.sum(0) if reduce_axes == "sum" else stacked.mean(0)).mean()


DIFFUSION_MISTAKES = [
    Mistake("you summed over the voxels: take the mean over the positions of each difference instead.",
            output=lambda u: _diffusion(u, total=True)),
    Mistake("you averaged over the axes k (or the components j): the terms add up, Σ_j Σ_k, only the positions are "
            "averaged.", output=lambda u: _diffusion(u, reduce_axes="mean")),
    Mistake("these are central differences: the lab uses forward differences u[i+1] − u[i].",
            output=lambda u: _diffusion(u, stencil="central")),
    Mistake("square the differences: |u[i+1] − u[i]| is not the diffusion energy.",
            output=lambda u: _diffusion(u, power=1)),
]


def check_diffusion(student):
    """Exercise 4.1: ``diffusion(u) -> 0-d tensor`` = batch mean of ``Σ_j Σ_k mean (u_j[.., i+1, ..] - u_j[.., i, ..])²``."""
    g = torch.Generator().manual_seed(4)
    cases = [Case("2D shear u_1 = x_0 / 2 (answer 0.25)", (_analytic_shear(),), diffusion(_analytic_shear()))]
    cases += [Case(text, (u,), diffusion(u)) for text, u in _fields(g)]
    return run_check("Exercise 4.1 — diffusion regularizer", student, cases, mistakes=DIFFUSION_MISTAKES,
                     reference=diffusion, gradient=("displacement",), names=("displacement",), forbid=(diffusion,))


check_diffusion.mistakes = DIFFUSION_MISTAKES


# ---------------------------------------------------------------- Exercise 4.2


def _curvature(u, *, square_each=False, padding=None, components="sum", power=2):
    """Curvature and its slips: squares of each second derivative summed, every voxel with zero padding, ..."""
    ndim = u.dim() - 2
    if padding == "zeros":
        u = torch.nn.functional.pad(u, [1, 1] * ndim)
    inner = [slice(None), slice(None)] + [slice(1, -1)] * ndim
    laplacian = 0
    for k in range(ndim):
        n = u.shape[k + 2]
        second = u.narrow(k + 2, 0, n - 2) - 2 * u.narrow(k + 2, 1, n - 2) + u.narrow(k + 2, 2, n - 2)
        index = list(inner)
        index[k + 2] = slice(None)
        term = second[tuple(index)]
        laplacian = laplacian + (term.abs() ** power if square_each else term)
    energy = laplacian if square_each else laplacian.abs() ** power
    energy = energy.sum(1) if components == "sum" else energy.mean(1)
    return energy.flatten(1).mean(1).mean()


CURVATURE_MISTAKES = [
    Mistake("this is the bending energy (every second derivative squared); curvature squares the Laplacian, the SUM "
            "of the pure second derivatives, once per component.", output=lambda u: bending_energy(u)),
    Mistake("you squared each second derivative before adding them: add them first (Δu), then square.",
            output=lambda u: _curvature(u, square_each=True)),
    Mistake("use the inner voxels only: zero padding invents second differences at the border (leave out one voxel "
            "at every border).", output=lambda u: _curvature(u, padding="zeros")),
    Mistake("the components j add up (Σ_j): sum (Δu_j)² over the channel axis, do not average it.",
            output=lambda u: _curvature(u, components="mean")),
    Mistake("square the Laplacian: mean (Δu_j)², not mean |Δu_j|.", output=lambda u: _curvature(u, power=1)),
]


def check_curvature(student):
    """Exercise 4.2: ``curvature(u) -> 0-d tensor`` = batch mean of ``Σ_j mean (Δu_j)²`` over the inner voxels."""
    g = torch.Generator().manual_seed(5)
    x = torch.arange(5.0)
    parabola = torch.zeros(1, 2, 5, 5)
    parabola[:, 1] = x[:, None] ** 2                        # Δu_1 = 2 → answer 4
    affine = torch.zeros(1, 2, 7, 6)
    affine[:, 0] = 0.3 * torch.arange(7.0)[:, None] - 0.2 * torch.arange(6.0)[None, :] + 1.0
    cases = [Case("2D u_1 = x_0² (answer 4)", (parabola,), curvature(parabola)),
             Case("2D affine field (answer 0)", (affine,), curvature(affine))]
    cases += [Case(text, (u,), curvature(u)) for text, u in _fields(g)]
    return run_check("Exercise 4.2 — curvature regularizer", student, cases, mistakes=CURVATURE_MISTAKES,
                     reference=curvature, gradient=("displacement",), names=("displacement",),
                     forbid=(curvature, bending_energy))


check_curvature.mistakes = CURVATURE_MISTAKES


# ---------------------------------------------------------------- Exercise 4.3


def _smooth(u, sigma, *, padding="replicate", normalize=True, radius=None, variance=False, axes=None):
    """Separable Gaussian smoothing and its slips: zero padding, kernel not normalized, radius, σ as a variance."""
    radius = int(3 * sigma + 0.5) if radius is None else radius
    x = torch.arange(-radius, radius + 1, dtype=u.dtype)
    kernel = torch.exp(-x**2 / (2 * (sigma if variance else sigma**2)))
    if normalize:
        kernel = kernel / kernel.sum()
    ndim = u.dim() - 2
    out = u.reshape(-1, 1, *u.shape[2:])
    convolve = torch.nn.functional.conv2d if ndim == 2 else torch.nn.functional.conv3d
    for axis in range(ndim) if axes is None else axes:
        pad = [0, 0] * ndim
        pad[2 * (ndim - 1 - axis)] = pad[2 * (ndim - 1 - axis) + 1] = radius
        shape = [1, 1] + [1] * ndim
        shape[2 + axis] = kernel.numel()
        padded = torch.nn.functional.pad(out, pad, mode="replicate") if padding == "replicate" else \
            torch.nn.functional.pad(out, pad)
        out = convolve(padded, kernel.reshape(shape))
    return out.reshape(u.shape)


SMOOTH_MISTAKES = [
    Mistake("the inside is right but the border is not: pad by repeating the border value (mode='replicate'), "
            "not with zeros.", output=lambda u, sigma: _smooth(u, sigma, padding="zeros")),
    Mistake("the kernel must sum to 1 (divide it by its sum), or the field grows or shrinks.",
            output=lambda u, sigma: _smooth(u, sigma, normalize=False)),
    Mistake("the radius is r = int(3σ + 0.5) (3σ rounded), not int(3σ).",
            output=lambda u, sigma: _smooth(u, sigma, radius=int(3 * sigma))),
    Mistake("σ is a standard deviation: exp(−x² / (2σ²)), not exp(−x² / (2σ)).",
            output=lambda u, sigma: _smooth(u, sigma, variance=True)),
    Mistake("smooth along every spatial axis (one 1D convolution per axis), not only the first.",
            output=lambda u, sigma: _smooth(u, sigma, axes=(0,))),
]


def check_smooth_field(student):
    """Exercise 4.3: ``smooth_field(u, sigma) -> u`` smoothed per channel, Gaussian radius ``int(3σ + 0.5)``, border repeated."""
    g = torch.Generator().manual_seed(6)
    cases = []
    for (text, u), sigma in zip(_fields(g), (1.0, 0.7, 1.5, 1.0)):
        cases.append(Case(f"{text}, σ = {sigma}", (u, sigma), gaussian_smoothing(u, sigma)))
    ramp = torch.arange(11.0).expand(1, 2, 8, 11) * torch.tensor([1.0, -0.5]).reshape(1, 2, 1, 1)
    cases.append(Case("2D, a ramp along the columns, σ = 1.3", (ramp, 1.3), gaussian_smoothing(ramp, 1.3)))
    constant = torch.full((1, 2, 8, 11), 2.5)
    cases.append(Case("a constant field stays constant (σ = 2)", (constant, 2.0), constant.clone()))
    return run_check("Exercise 4.3 — Gaussian smoothing of a field", student, cases, mistakes=SMOOTH_MISTAKES,
                     names=("u", "sigma"), forbid=(gaussian_smoothing,))


check_smooth_field.mistakes = SMOOTH_MISTAKES


# ---------------------------------------------------------------- Exercise 4.4


def _jacobian_2d(u, *, identity=True, stencil="forward", wrap=False, sign=-1.0):
    """det(I + ∇u) in 2D and its slips: det(∇u), central differences, wrap-around at the far border, + instead of −."""
    def derivative(k):
        if wrap:
            return u.roll(-1, dims=k + 2) - u
        if stencil == "central":
            return torch.stack(torch.gradient(u, dim=k + 2), 0)[0]
        return torch.cat([u.diff(dim=k + 2), torch.zeros_like(u.narrow(k + 2, 0, 1))], dim=k + 2)

    d0, d1 = derivative(0), derivative(1)
    one = 1.0 if identity else 0.0
    return (one + d0[:, 0]) * (one + d1[:, 1]) + sign * d1[:, 0] * d0[:, 1]


JACOBIAN_MISTAKES = [
    Mistake("this is det(∇u): the Jacobian of the map y = x + u is det(I + ∇u); add 1 on the diagonal.",
            output=lambda u: _jacobian_2d(u, identity=False)),
    Mistake("channel 0 moves along axis 0 (rows) and channel 1 along axis 1 (columns): check the pairing.",
            output=lambda u: _jacobian_2d(u.flip(1))),
    Mistake("these are central differences; this exercise uses forward ones, u[i+1] − u[i], 0 at the last "
            "row and column.", output=lambda u: _jacobian_2d(u, stencil="central")),
    Mistake("at the last row and column the derivative is 0 (the field repeats its border): torch.roll wraps "
            "around to the first row.", output=lambda u: _jacobian_2d(u, wrap=True)),
    Mistake("the determinant subtracts the cross term: J = (1 + ∂₀u₀)(1 + ∂₁u₁) − ∂₁u₀ ∂₀u₁.",
            output=lambda u: _jacobian_2d(u, sign=1.0)),
    Mistake("return (B, H, W), one determinant per voxel, without a channel axis.", derive=lambda e: e[:, None]),
]


def check_jacobian_2d(student):
    """Exercise 4.4: ``jacobian_2d(u (B, 2, H, W)) -> (B, H, W)`` det(I + ∇u), forward differences, 0 at the last row/column."""
    g = torch.Generator().manual_seed(7)
    stretch = torch.zeros(1, 2, 5, 6)
    stretch[:, 0] = 0.5 * torch.arange(5.0)[:, None]
    mirror = torch.zeros(1, 2, 4, 4)
    mirror[:, 1] = -2.0 * torch.arange(4.0)[None, :]
    cases = [Case("rows stretched by 1.5", (stretch,), jacobian_determinant(stretch, stencil="forward")),
             Case("columns mirrored (J = −1: folding)", (mirror,), jacobian_determinant(mirror, stencil="forward"))]
    for text, shape in [("random, 9 × 7", (1, 2, 9, 7)), ("random, batch of 3, 6 × 10", (3, 2, 6, 10))]:
        u = 0.4 * torch.randn(*shape, generator=g)
        cases.append(Case(text, (u,), jacobian_determinant(u, stencil="forward")))
    return run_check("Exercise 4.4 — the Jacobian determinant", student, cases, mistakes=JACOBIAN_MISTAKES,
                     names=("u",), forbid=(jacobian_determinant,))


check_jacobian_2d.mistakes = JACOBIAN_MISTAKES


# ---------------------------------------------------------------- Questions: tune, interpret, predict

from reglab.course.checks import questions  # noqa: E402  (kept with the question checkers it serves)

TARGET_EPE = 0.30
"""Exercise 4.5's target: the mean endpoint error (voxels, inside the brain) that the chosen λ must not exceed."""

SMALLEST_LARGE_WEIGHT = 0.02
"""Exercise 4.5: a λ that meets the target must be at least this large (the largest such λ is about 0.027)."""


REGISTRATION_OPTIONS = dict(transform="dense", similarity="mse", levels=2, iterations=40, tolerance=1e-4, progress=False)
"""Lab 04's registration options (the notebook's ``options``)."""


def registration_pair():
    """Lab 04's pair, built as its setup cell builds it: ``(fixed, moving, truth, inside)`` on the CPU.

    The axial slice at half resolution (98 × 80), a synthetic deformation (magnitude 3, smoothness 8, seed 1) and
    noise of σ = 0.03 (seed 0); ``inside`` is the brain mask of the fixed image, ``(1, 98, 80)`` bool.
    """
    import torch.nn.functional as F

    from reglab.data import load_brain_slice, synthetic_pair

    brain = load_brain_slice("axial")
    image = F.interpolate(brain.image, size=(98, 80), mode="bilinear", align_corners=True)
    labels = F.interpolate(brain.labels.float(), size=(98, 80), mode="nearest").long()
    pair = synthetic_pair(image, labels, magnitude=3.0, smoothness=8.0, seed=1, landmarks=0)
    noise = torch.Generator().manual_seed(0)
    fixed = pair.fixed + 0.03 * torch.randn(pair.fixed.shape, generator=noise)
    moving = pair.moving + 0.03 * torch.randn(pair.fixed.shape, generator=noise)
    return fixed, moving, pair.displacement, (pair.fixed_labels > 0)[:, 0]


def check_weight(student):
    """Exercise 4.5 (tune to a target): the largest diffusion weight λ with EPE ≤ 0.30 voxels and no fold, within 25 %.

    ``student()`` returns λ; the checker registers Lab 04's pair (:func:`registration_pair`) with it, with the
    notebook's options (:data:`REGISTRATION_OPTIONS`), and measures the EPE against the true displacement inside
    the brain.
    """
    import warnings

    from reglab.evaluation import folding_fraction
    from reglab.registration import register

    exercise = "Exercise 4.5 — tune: the largest λ that keeps EPE ≤ 0.30 voxels"
    answer, stopped = questions._ask(exercise, student)
    if stopped is not None:
        return stopped
    try:
        weight = float(answer)
    except (TypeError, ValueError):
        return questions._report(exercise, f"your answer {answer!r} is not a number", False, ["return λ, a number."], "")
    if not weight >= 0:
        return questions._report(exercise, f"λ = {weight:g}", False, ["λ is a weight: it must be ≥ 0."], "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                          # register warns about folds: the check reports them
        fixed, moving, truth, inside = registration_pair()
        result = register(fixed, moving, regularization="diffusion", weight=weight, **REGISTRATION_OPTIONS)
    error = (result.displacement - truth).norm(dim=1)[inside].mean().item()
    folds = 100 * folding_fraction(result.displacement).item()
    line = f"λ = {weight:g}: EPE {error:.3f} voxels, folds {folds:.2f} %"
    if folds > 0:
        hint = "the field folds: λ is too small to keep it invertible. Raise it."
    elif error > TARGET_EPE:
        hint = ("too smooth: the field no longer follows the anatomy (EPE above 0.30). Lower λ, in small steps "
                "between the values of the sweep.")
    elif weight < SMALLEST_LARGE_WEIGHT:
        hint = ("this λ meets the target, but a larger one does too: the exercise asks for the largest (within 25 %). "
                "Try values between the sweep's 0.01 and 0.1.")
    else:
        return questions._report(exercise, line, True, [], "the largest λ that still follows the anatomy gives the "
                                 "smoothest field the data allow: a common rule when no ground truth exists is the "
                                 "same idea with landmarks or labels instead of the EPE.")
    return questions._report(exercise, line, False, [hint], "")


FOLD_PLACES = {"a": "in a ring one or two voxels wide along the image border",
               "b": "in the ventricles, where the intensities change most",
               "c": "spread evenly over the brain",
               "d": "where the true displacement is largest"}
"""Exercise 4.6's choices: where the curvature-regularized field folds."""


def check_fold_places(student):
    """Exercise 4.6 (interpret a figure): ``student()`` returns the key of :data:`FOLD_PLACES`; the answer is "a"."""
    return questions.check_choice(
        "Exercise 4.6 — interpret: where does curvature let the field fold?", student, "a", options=FOLD_PLACES,
        hints={"b": "look at the Jacobian map of the curvature result: are the black voxels inside the brain?",
               "c": "the black voxels of the curvature map are not spread out: look at the edges of the picture.",
               "d": "the true field is smooth and largest inside the brain; the folds sit somewhere the truth says nothing."},
        why="Exercise 4.2's Laplacian exists on the inner voxels only: the outer ring is never penalised, and there the "
            "MSE of the (empty, noisy) background pulls the field freely.")


def check_identity_energy(student):
    """Exercise 4.1b (predict): R_diff of the identity map y(x) = x on a 2D grid; the answer is 2 (= ndim)."""
    return questions.check_number(
        "Exercise 4.1b — predict: the diffusion energy of the identity map y(x) = x", student, 1.999, 2.001, what="R_diff(y)",
        hints=[(-0.01, 0.01, "R_diff(u) of u = 0 is 0, but the question is about y(x) = x + u(x) = x itself: "
                             "its derivatives ∂y_j/∂x_k are 1 on the diagonal (j = k)."),
               (0.99, 1.01, "y_0 changes by 1 along axis 0 and y_1 by 1 along axis 1: two terms of 1 each."),
               (3.99, 4.01, "the off-diagonal derivatives ∂y_0/∂x_1 and ∂y_1/∂x_0 are 0, not 1.")],
        why="∂y_j/∂x_k = δ_jk: the sum over j and k counts the diagonal, ndim = 2 terms of 1.")
