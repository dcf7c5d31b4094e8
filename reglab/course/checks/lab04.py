"""Checkers for Lab 04 — Regularization.

Every function takes the student's function, runs it on several cases (2D and 3D,
batches, odd and non-square grids) and compares with reglab's own implementation
(:mod:`reglab.regularization`, :mod:`reglab.evaluation`).
"""

import torch

from reglab.course.checks.core import Case, run_check, same
from reglab.evaluation import jacobian_determinant
from reglab.regularization import curvature, diffusion, gaussian_smoothing


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


def check_diffusion(student):
    """Exercise 4.1: ``diffusion(u) -> 0-d tensor`` = batch mean of ``Σ_j Σ_k mean (u_j[.., i+1, ..] - u_j[.., i, ..])²``."""
    g = torch.Generator().manual_seed(4)
    cases = [Case("2D shear u_1 = x_0 / 2 (answer 0.25)", (_analytic_shear(),), diffusion(_analytic_shear()))]
    cases += [Case(text, (u,), diffusion(u)) for text, u in _fields(g)]

    def summed(answer, case):
        u = case.args[0]
        total = sum(u.diff(dim=k + 2).pow(2).sum() for k in range(u.dim() - 2)) / u.shape[0]
        if same(answer, total):
            return "you summed over the voxels: take the mean over the positions of each difference instead."

    def one_mean(answer, case):
        u = case.args[0]
        per_axis = [u.diff(dim=k + 2).pow(2) for k in range(u.dim() - 2)]
        if same(answer, sum(d.sum(1).mean() for d in per_axis) / (u.dim() - 2)):
            return "you averaged over the axes k as well: the terms of different axes add up (Σ_k), they are not averaged."

    def central(answer, case):
        u = case.args[0]
        ndim = u.dim() - 2
        total = 0
        for k in range(ndim):
            d = (u.narrow(k + 2, 2, u.shape[k + 2] - 2) - u.narrow(k + 2, 0, u.shape[k + 2] - 2)) / 2
            total = total + d.pow(2).sum(1).flatten(1).mean(1)
        if same(answer, total.mean()):
            return "these are central differences: the lab uses forward differences u[i+1] − u[i]."

    return run_check("Exercise 4.1 — diffusion regularizer", student, cases, diagnose=[summed, one_mean, central])


# ---------------------------------------------------------------- Exercise 4.2


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

    def bending(answer, case):
        from reglab.regularization import bending_energy

        if same(answer, bending_energy(case.args[0])):
            return ("this is the bending energy (every second derivative squared); curvature squares the "
                    "Laplacian, the SUM of the pure second derivatives, once per component.")

    def squares_summed(answer, case):
        u = case.args[0]
        ndim = u.dim() - 2
        inner = [slice(None), slice(None)] + [slice(1, -1)] * ndim
        total = 0
        for k in range(ndim):
            second = u.narrow(k + 2, 0, u.shape[k + 2] - 2) - 2 * u.narrow(k + 2, 1, u.shape[k + 2] - 2) \
                + u.narrow(k + 2, 2, u.shape[k + 2] - 2)
            index = list(inner)
            index[k + 2] = slice(None)
            total = total + second[tuple(index)].pow(2)
        if same(answer, total.sum(1).flatten(1).mean(1).mean()):
            return "you squared each second derivative before adding them: add them first (Δu), then square."

    return run_check("Exercise 4.2 — curvature regularizer", student, cases, diagnose=[bending, squares_summed])


# ---------------------------------------------------------------- Exercise 4.3


def check_smooth_field(student):
    """Exercise 4.3: ``smooth_field(u, sigma) -> u`` smoothed per channel, Gaussian radius ``int(3σ + 0.5)``, border repeated."""
    g = torch.Generator().manual_seed(6)
    cases = []
    for (text, u), sigma in zip(_fields(g), (1.0, 0.7, 1.5, 1.0)):
        cases.append(Case(f"{text}, σ = {sigma}", (u, sigma), gaussian_smoothing(u, sigma)))
    constant = torch.full((1, 2, 8, 11), 2.5)
    cases.append(Case("a constant field stays constant (σ = 2)", (constant, 2.0), constant.clone()))

    def zero_padding(answer, case):
        u, sigma = case.args
        if isinstance(answer, torch.Tensor) and answer.shape == u.shape:
            border = gaussian_smoothing(u, sigma)
            inner = tuple([slice(None), slice(None)] + [slice(int(3 * sigma + 0.5), -int(3 * sigma + 0.5))] * (u.dim() - 2))
            if same(answer[inner], border[inner]) and not same(answer, border):
                return "the inside is right but the border is not: pad by repeating the border value (mode='replicate')."

    def unnormalized(answer, case):
        u, sigma = case.args
        if isinstance(answer, torch.Tensor) and answer.shape == u.shape and not same(answer, case.expected):
            ratio = (answer / case.expected.where(case.expected.abs() > 1e-3, torch.ones(()))).median()
            if abs(ratio - 1) > 0.05 and same(answer / ratio, case.expected, atol=1e-3):
                return "the kernel must sum to 1 (divide it by its sum), or the field grows or shrinks."

    return run_check("Exercise 4.3 — Gaussian smoothing of a field", student, cases,
                     diagnose=[zero_padding, unnormalized])


# ---------------------------------------------------------------- Exercise 4.4


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

    def of_u(answer, case):
        u = case.args[0]
        if isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape:
            eye = torch.zeros_like(u)
            plain = jacobian_determinant(u - eye, stencil="forward") - 1
            d = [torch.cat([u.diff(dim=k + 2), torch.zeros_like(u.narrow(k + 2, 0, 1))], dim=k + 2) for k in (0, 1)]
            without_identity = d[0][:, 0] * d[1][:, 1] - d[1][:, 0] * d[0][:, 1]
            if same(answer, without_identity) or same(answer, plain):
                return "this is det(∇u): the Jacobian of the map y = x + u is det(I + ∇u); add 1 on the diagonal."

    def transposed(answer, case):
        u = case.args[0]
        if same(answer, jacobian_determinant(u.flip(1), stencil="forward")):
            return "channel 0 moves along axis 0 (rows) and channel 1 along axis 1 (columns): check the pairing."

    return run_check("Exercise 4.4 — the Jacobian determinant", student, cases, diagnose=[of_u, transposed])
