"""Checkers for Lab 03 — Similarity measures.

Every function takes the student's function, runs it on several cases (2D and 3D,
batches, odd and non-square grids) and compares with reglab's own implementation
(:mod:`reglab.similarity`), with hints for the typical mistakes.
"""

import math

import torch

from reglab.course.checks.core import Case, run_check, same
from reglab.similarity import mse, ncc, ngf

_SHAPES = [("2D, 9 × 9", (1, 1, 9, 9)), ("2D, batch of 3, 7 × 12", (3, 1, 7, 12)),
           ("3D, 5 × 6 × 7", (1, 1, 5, 6, 7)), ("3D, batch of 2, 4 × 9 × 5", (2, 1, 4, 9, 5))]


def _pairs(generator):
    """Related random image pairs of several shapes: (description, fixed, warped)."""
    pairs = []
    for text, shape in _SHAPES:
        fixed = torch.rand(*shape, generator=generator)
        warped = 0.7 * fixed + 0.3 * torch.rand(*shape, generator=generator) + 0.1
        pairs.append((text, fixed, warped))
    return pairs


# ---------------------------------------------------------------- Exercise 3.1


def check_mse(student):
    """Exercise 3.1: ``mse(fixed, warped) -> 0-d tensor`` = batch mean of ``1/N Σ (F - M)²``."""
    g = torch.Generator().manual_seed(31)
    step = torch.zeros(1, 1, 4, 4)
    step[..., 2:] = 1.0
    cases = [Case("2D, half the pixels differ by 1 (answer 0.5)", (step, torch.zeros_like(step)), torch.tensor(0.5))]
    cases += [Case(text, (f, w), mse(f, w)) for text, f, w in _pairs(g)]

    def summed(answer, case):
        f, w = case.args
        if same(answer, ((f - w) ** 2).sum() / f.shape[0]):
            return "you summed over the voxels (the SSD): the lecture's formula divides by N, the number of voxels."

    def absolute(answer, case):
        f, w = case.args
        if same(answer, (f - w).abs().mean()):
            return "this is the SAD (absolute differences): square the differences instead."

    def root(answer, case):
        f, w = case.args
        if same(answer, ((f - w) ** 2).flatten(1).mean(1).sqrt().mean()):
            return "you took the square root (RMSE): the MSE has no root."

    return run_check("Exercise 3.1 — SSD / MSE", student, cases, diagnose=[summed, absolute, root])


# ---------------------------------------------------------------- Exercise 3.2


def check_ncc(student):
    """Exercise 3.2: ``ncc(fixed, warped) -> 0-d tensor`` = batch mean of Pearson's correlation of each pair."""
    g = torch.Generator().manual_seed(32)
    ramp = torch.arange(12.0).reshape(1, 1, 3, 4)
    cases = [Case("2D, warped = 3·fixed + 1 (answer 1)", (ramp, 3 * ramp + 1), torch.tensor(1.0)),
             Case("2D, warped = -fixed (answer -1)", (ramp, -ramp), torch.tensor(-1.0))]
    cases += [Case(text, (f, w), ncc(f, w)) for text, f, w in _pairs(g)]

    def no_centring(answer, case):
        f, w = case.args
        f, w = f.flatten(1), w.flatten(1)
        cosine = (f * w).sum(1) / (f.norm(dim=1) * w.norm(dim=1))
        if same(answer, cosine.mean()):
            return "you forgot to subtract the means μ_F and μ_M: that is the cosine similarity, not the correlation."

    def squared(answer, case):
        f, w = case.args
        if same(answer, (ncc(f, w, reduction="none") ** 2).mean()):
            return "you squared the correlation: keep its sign, NCC is in [-1, 1]."

    def whole_batch(answer, case):
        f, w = case.args
        if f.shape[0] > 1 and same(answer, ncc(f.reshape(1, 1, -1, 1), w.reshape(1, 1, -1, 1))):
            return "you correlated the whole batch at once: compute one NCC per image pair, then average them."

    def sample_std(answer, case):
        f, w = case.args
        n = f[0].numel()
        if same(answer, ncc(f, w) * (n - 1) / n):
            return "you mixed 1/N and 1/(N-1): use the same normalization for the covariance and the standard deviations."

    return run_check("Exercise 3.2 — NCC", student, cases, diagnose=[no_centring, squared, whole_batch, sample_std])


# ---------------------------------------------------------------- Exercise 3.3


def mutual_information(histogram):
    """Reference answer of Exercise 3.3 (MI in nats of joint counts ``(B, bins_F, bins_M)``), for the lab's later cells.

    Example:
        >>> round(mutual_information(torch.eye(2)[None]).item(), 4), round(math.log(2), 4)   # one bit
        (0.6931, 0.6931)
    """
    p = histogram / histogram.sum(dim=(1, 2), keepdim=True)

    def entropy(q, dims):
        return -torch.where(q > 0, q * q.clamp_min(1e-300).log(), torch.zeros_like(q)).sum(dim=dims)

    return entropy(p.sum(2), 1) + entropy(p.sum(1), 1) - entropy(p, (1, 2))


def check_mutual_information(student):
    """Exercise 3.3: ``mutual_information(histogram) -> (B,)``: MI in nats of joint counts ``(B, bins_F, bins_M)``."""
    g = torch.Generator().manual_seed(33)
    diagonal = torch.diag(torch.tensor([5.0, 5.0, 0.0, 10.0]))[None].double()       # M determines F: MI = H(F)
    independent = torch.outer(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 0.0, 1.0, 5.0]))[None].double()
    random = torch.randint(0, 20, (3, 8, 6), generator=g).double()
    sparse = random * (torch.rand(3, 8, 6, generator=g) > 0.6)
    cases = [
        Case("a diagonal histogram (answer H(F) = 1.04 nats)", (diagonal,), mutual_information(diagonal)),
        Case("independent images: counts = outer product (answer 0)", (independent,), torch.zeros(1).double()),
        Case("batch of 3 random 8 × 6 histograms", (random,), mutual_information(random)),
        Case("batch of 3 with many empty bins", (sparse,), mutual_information(sparse)),
    ]

    def bits(answer, case):
        if same(answer, mutual_information(case.args[0]) / math.log(2)):
            return "this is MI in bits (log2): the lab measures it in nats, with the natural logarithm."

    def unnormalized(answer, case):
        h = case.args[0]
        p = h / h.sum(dim=(1, 2), keepdim=True)
        if not same(answer, mutual_information(h)) and same(answer, mutual_information(p) * h.sum(dim=(1, 2))):
            return "divide the counts by their total first: entropies need probabilities that sum to 1."

    def nan_hint(answer, case):
        if isinstance(answer, torch.Tensor) and not torch.isfinite(answer).all():
            return "0 · log 0 gave NaN: empty bins contribute 0 (use torch.where, or skip p = 0)."

    return run_check("Exercise 3.3 — joint histogram → MI", student, cases, diagnose=[nan_hint, bits, unnormalized])


# ---------------------------------------------------------------- Exercise 3.4


def check_ngf(student):
    """Exercise 3.4: ``ngf(fixed, warped, eps) -> 0-d tensor``: batch mean of ``mean(1 - (∇F·∇M / (‖∇F‖_ε ‖∇M‖_ε))²)``."""
    g = torch.Generator().manual_seed(34)
    ramp = torch.arange(16.0).reshape(1, 1, 4, 4)
    cases = [Case("2D, same edges, inverted contrast (answer ≈ 0)", (ramp, 5 - 2 * ramp, 1e-3), ngf(ramp, 5 - 2 * ramp, eps=1e-3))]
    cases += [Case(text + ", ε = 0.1", (f, w, 0.1), ngf(f, w, eps=0.1)) for text, f, w in _pairs(g)]

    def variant(answer, case, *, power=2, eps_outside=False, forward=False):
        f, w, eps = case.args
        spatial = tuple(range(2, f.dim()))
        if forward:
            def gradient(image):
                return torch.stack([torch.cat([image.diff(dim=d), torch.zeros_like(image.narrow(d, 0, 1))], d)
                                    for d in spatial], 2)
        else:
            def gradient(image):
                return torch.stack(torch.gradient(image, dim=spatial), 2)
        gf, gm = gradient(f), gradient(w)
        if eps_outside:
            norms = gf.norm(dim=2) * gm.norm(dim=2) + eps**2
        else:
            norms = (gf.pow(2).sum(2) + eps**2).sqrt() * (gm.pow(2).sum(2) + eps**2).sqrt()
        cosine = (gf * gm).sum(2) / norms
        return same(answer, (1 - cosine.abs() ** power).flatten(1).mean(1).mean())

    def no_square(answer, case):
        if variant(answer, case, power=1):
            return "square the normalized inner product: NGF ignores the direction of the contrast, so (cos)² not |cos|."

    def eps_placement(answer, case):
        if variant(answer, case, eps_outside=True):
            return "ε goes inside each norm: ‖∇I‖_ε = sqrt(‖∇I‖² + ε²)."

    def forward(answer, case):
        if variant(answer, case, forward=True):
            return "use central differences (torch.gradient), one-sided at the borders, not forward differences."

    return run_check("Exercise 3.4 — NGF", student, cases, diagnose=[no_square, eps_placement, forward])


def edge_alignment(fixed, moving, eps=0.01):
    """Per-voxel ``(∇F·∇M / (‖∇F‖_ε ‖∇M‖_ε))²`` of 2D images ``(1, 1, H, W)``: 1 where edges are parallel.

    The map inside NGF, for Lab 03's figure (after Exercise 3.4, so the lab can show it without the answer).
    Returns ``(H, W)``.
    """
    unit_f = _unit_gradient(fixed, eps)
    unit_m = _unit_gradient(moving, eps)
    return (unit_f * unit_m).sum(0) ** 2


def _unit_gradient(image, eps):
    """``(2, H, W)``: the image gradient divided by its ε-norm."""
    gradient = torch.stack(torch.gradient(image[0, 0]))
    return gradient / (gradient.pow(2).sum(0) + eps**2).sqrt()
