"""Checkers for Lab 03 — Similarity measures.

Every function takes the student's function, runs it on several cases (2D and 3D,
batches, odd and non-square grids) and compares with reglab's own implementation
(:mod:`reglab.similarity`), with hints for the typical mistakes.
"""

import math

import torch

from reglab.course.checks.core import Case, Mistake, run_check
from reglab.similarity import mse, ncc, ngf, ssd

_SHAPES = [("2D, 9 × 9", (1, 1, 9, 9)), ("2D, batch of 3, 7 × 12", (3, 1, 7, 12)),
           ("3D, 5 × 6 × 7", (1, 1, 5, 6, 7)), ("3D, batch of 2, 4 × 9 × 5", (2, 1, 4, 9, 5))]


def _pairs(generator, *, channels=False):
    """Related random image pairs of several shapes: (description, fixed, warped); one has 2 channels."""
    pairs = []
    shapes = _SHAPES + ([("2D, 2 channels, batch of 2, 6 × 5", (2, 2, 6, 5))] if channels else [])
    for text, shape in shapes:
        fixed = torch.rand(*shape, generator=generator)
        warped = 0.7 * fixed + 0.3 * torch.rand(*shape, generator=generator) + 0.1
        warped = warped + 0.2 * torch.arange(shape[0]).reshape(-1, *[1] * (len(shape) - 1))   # samples differ
        pairs.append((text, fixed, warped))
    return pairs


# ---------------------------------------------------------------- Exercise 3.1


MSE_MISTAKES = [
    Mistake("you summed over the voxels (the SSD): the lecture's formula divides by N, the number of voxels.",
            output=lambda f, w: ((f - w) ** 2).sum() / f.shape[0]),
    Mistake("this is the SAD (absolute differences): square the differences instead.",
            output=lambda f, w: (f - w).abs().mean()),
    Mistake("you took the square root (RMSE): the MSE has no root.",
            output=lambda f, w: ((f - w) ** 2).flatten(1).mean(1).sqrt().mean()),
    Mistake("average over every channel, not channel 0 only: the images are (B, C, *spatial).",
            output=lambda f, w: ((f[:, :1] - w[:, :1]) ** 2).mean()),
    Mistake("square each difference, then average: the mean of (F − M)², not the square of the mean difference.",
            output=lambda f, w: ((f - w).flatten(1).mean(1) ** 2).mean()),
]


def check_mse(student):
    """Exercise 3.1: ``mse(fixed, warped) -> 0-d tensor`` = batch mean of ``1/N Σ (F - M)²``, differentiable."""
    g = torch.Generator().manual_seed(31)
    step = torch.zeros(1, 1, 4, 4)
    step[..., 2:] = 1.0
    cases = [Case("2D, half the pixels differ by 1 (answer 0.5)", (step, torch.zeros_like(step)), torch.tensor(0.5))]
    cases += [Case(text, (f, w), mse(f, w)) for text, f, w in _pairs(g, channels=True)]
    return run_check("Exercise 3.1 — SSD / MSE", student, cases, mistakes=MSE_MISTAKES, reference=mse,
                     gradient=("warped",), forbid=(mse, ssd))


check_mse.mistakes = MSE_MISTAKES


# ---------------------------------------------------------------- Exercise 3.2


def _cosine(f, w):
    f, w = f.flatten(1), w.flatten(1)
    return ((f * w).sum(1) / (f.norm(dim=1) * w.norm(dim=1))).mean()


def _covariance(f, w):
    f, w = f.flatten(1), w.flatten(1)
    return ((f - f.mean(1, keepdim=True)) * (w - w.mean(1, keepdim=True))).mean(1).mean()


NCC_MISTAKES = [
    Mistake("you forgot to subtract the means μ_F and μ_M: that is the cosine similarity, not the correlation.",
            output=_cosine),
    Mistake("you squared the correlation: keep its sign, NCC is in [-1, 1].",
            output=lambda f, w: (ncc(f, w, reduction="none") ** 2).mean()),
    Mistake("you correlated the whole batch at once: compute one NCC per image pair, then average them.",
            output=lambda f, w: ncc(f.reshape(1, 1, -1, 1), w.reshape(1, 1, -1, 1))),
    Mistake("you mixed 1/N and 1/(N-1): use the same normalization for the covariance and the standard deviations.",
            output=lambda f, w: ncc(f, w) * (f[0].numel() - 1) / f[0].numel()),
    Mistake("this is the covariance: divide it by σ_F σ_M to get the correlation.", output=_covariance),
    Mistake("return NCC itself (higher is better); the minus sign belongs to the loss that uses it, −NCC.",
            output=lambda f, w: -ncc(f, w)),
]


def check_ncc(student):
    """Exercise 3.2: ``ncc(fixed, warped) -> 0-d tensor`` = batch mean of Pearson's correlation, differentiable."""
    g = torch.Generator().manual_seed(32)
    ramp = torch.arange(12.0).reshape(1, 1, 3, 4)
    cases = [Case("2D, warped = 3·fixed + 1 (answer 1)", (ramp, 3 * ramp + 1), torch.tensor(1.0), grad=False),
             Case("2D, warped = -fixed (answer -1)", (ramp, -ramp), torch.tensor(-1.0), grad=False)]
    cases += [Case(text, (f, w), ncc(f, w)) for text, f, w in _pairs(g)]
    return run_check("Exercise 3.2 — NCC", student, cases, mistakes=NCC_MISTAKES, reference=ncc,
                     gradient=("warped",), forbid=(ncc,))


check_ncc.mistakes = NCC_MISTAKES


# ---------------------------------------------------------------- Exercise 3.3


def mutual_information(histogram):
    """Reference answer of Exercise 3.3 (MI in nats of joint counts ``(B, bins_F, bins_M)``), for the lab's later cells.

    Example:
        >>> round(mutual_information(torch.eye(2)[None]).item(), 4), round(math.log(2), 4)   # one bit
        (0.6931, 0.6931)
    """
    return _mi(histogram)


def _mi(histogram, *, normalize="each", log=torch.log, guard=True, sign=1.0):
    """MI and its slips: counts not normalized (or by the batch's total), log2, 0 · log 0 = NaN, the sign."""
    if normalize == "each":
        p = histogram / histogram.sum(dim=(1, 2), keepdim=True)
    elif normalize == "batch":
        p = histogram / histogram.sum()
    else:
        p = histogram

    def entropy(q, dims):
        if guard:
            return -torch.where(q > 0, q * log(q.clamp_min(1e-300)), torch.zeros_like(q)).sum(dim=dims)
        return -(q * log(q)).sum(dim=dims)

    return sign * (entropy(p.sum(2), 1) + entropy(p.sum(1), 1) - entropy(p, (1, 2)))


MI_MISTAKES = [
    Mistake("0 · log 0 gave NaN: empty bins contribute 0 (use torch.where, or skip p = 0).",
            output=lambda h: _mi(h, guard=False)),
    Mistake("this is MI in bits (log2): the lab measures it in nats, with the natural logarithm.",
            output=lambda h: _mi(h, log=torch.log2)),
    Mistake("divide the counts by their total first: entropies need probabilities that sum to 1 (with raw counts "
            "the result is N·MI − N·log N).", output=lambda h: _mi(h, normalize="none")),
    Mistake("normalize each histogram by its own total (sum over dims 1 and 2), not by the whole batch's.",
            output=lambda h: _mi(h, normalize="batch")),
    Mistake("MI = H(F) + H(M) − H(F, M): your sign is flipped (MI ≥ 0).", output=lambda h: _mi(h, sign=-1.0)),
]


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
    return run_check("Exercise 3.3 — joint histogram → MI", student, cases, mistakes=MI_MISTAKES,
                     names=("histogram",), forbid=(mutual_information,))


check_mutual_information.mistakes = MI_MISTAKES


# ---------------------------------------------------------------- Exercise 3.4


def _ngf(f, w, eps, *, power=2, eps_outside=False, forward=False, eps_squared=True, one_minus=True, total=False):
    """NGF and its slips."""
    spatial = tuple(range(2, f.dim()))
    if forward:
        def gradient(image):
            return torch.stack([torch.cat([image.diff(dim=d), torch.zeros_like(image.narrow(d, 0, 1))], d)
                                for d in spatial], 2)
    else:
        def gradient(image):
            return torch.stack(torch.gradient(image, dim=spatial), 2)
    gf, gm = gradient(f), gradient(w)
    e = eps**2 if eps_squared else eps
    if eps_outside:
        norms = gf.norm(dim=2) * gm.norm(dim=2) + e
    else:
        norms = (gf.pow(2).sum(2) + e).sqrt() * (gm.pow(2).sum(2) + e).sqrt()
    aligned = ((gf * gm).sum(2) / norms).abs() ** power
    distance = (1 - aligned) if one_minus else aligned
    return (distance.flatten(1).sum(1) if total else distance.flatten(1).mean(1)).mean()


NGF_MISTAKES = [
    Mistake("square the normalized inner product: NGF ignores the direction of the contrast, so (cos)² not |cos|.",
            output=lambda f, w, eps: _ngf(f, w, eps, power=1)),
    Mistake("ε goes inside each norm: ‖∇I‖_ε = sqrt(‖∇I‖² + ε²).",
            output=lambda f, w, eps: _ngf(f, w, eps, eps_outside=True)),
    Mistake("use central differences (torch.gradient), one-sided at the borders, not forward differences.",
            output=lambda f, w, eps: _ngf(f, w, eps, forward=True)),
    Mistake("square ε: ‖∇I‖_ε = sqrt(‖∇I‖² + ε²), not sqrt(‖∇I‖² + ε).",
            output=lambda f, w, eps: _ngf(f, w, eps, eps_squared=False)),
    Mistake("NGF is a distance, 1 − (cos)² (lower is better): you returned the alignment (cos)² itself.",
            output=lambda f, w, eps: _ngf(f, w, eps, one_minus=False)),
    Mistake("take the mean over the voxels (divide by N), not the sum: NGF stays in [0, 1].",
            output=lambda f, w, eps: _ngf(f, w, eps, total=True)),
]


def check_ngf(student):
    """Exercise 3.4: ``ngf(fixed, warped, eps) -> 0-d tensor``: batch mean of ``mean(1 - (∇F·∇M / (‖∇F‖_ε ‖∇M‖_ε))²)``."""
    g = torch.Generator().manual_seed(34)
    ramp = torch.arange(16.0).reshape(1, 1, 4, 4)
    cases = [Case("2D, same edges, inverted contrast (answer ≈ 0)", (ramp, 5 - 2 * ramp, 1e-3),
                  ngf(ramp, 5 - 2 * ramp, eps=1e-3), grad=False)]
    cases += [Case(text + ", ε = 0.1", (f, w, 0.1), ngf(f, w, eps=0.1)) for text, f, w in _pairs(g)]
    return run_check("Exercise 3.4 — NGF", student, cases, mistakes=NGF_MISTAKES,
                     reference=lambda fixed, warped, eps: ngf(fixed, warped, eps=eps), gradient=("warped",),
                     names=("fixed", "warped", "eps"), forbid=(ngf,))


check_ngf.mistakes = NGF_MISTAKES


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


# ---------------------------------------------------------------- Questions: predict and debug

from reglab.course.checks import questions  # noqa: E402  (kept with the question checkers it serves)

LANDSCAPE_MEASURES = {"mse": "mean squared error", "ncc": "normalized cross-correlation", "mi": "mutual information",
                      "nmi": "normalized mutual information", "ngf": "normalized gradient fields",
                      "mind_ssd": "MIND, SSD of descriptors", "mind_ssc": "MIND-SSC"}
"""Exercise 3.2b's names: the measures of Lab 03's cost landscapes."""


def check_failing_measures(student):
    """Exercise 3.2b (predict, then run): the set of measures whose T1-vs-T2 optimum is not at alignment: {mse, ncc}."""
    return questions.check_choice(
        "Exercise 3.2b — predict: which measures fail across modalities?", student, {"mse", "ncc"},
        options=LANDSCAPE_MEASURES,
        hints={"mse": "MSE compares intensities one by one: with white matter bright in T1 and dark in T2, aligned "
                      "tissues differ a lot. Does its minimum stay at zero shift?",
               "ncc": "NCC forgives a *linear* change of contrast (aM + b), one slope for all tissues. T1 → T2 reverses "
                      "the order of three tissues: no single line maps one onto the other.",
               "mi": "MI only asks whether one image predicts the other, whatever the mapping: it copes.",
               "nmi": "NMI is MI normalized: it copes with any mapping too.",
               "ngf": "NGF compares edge directions, squared: an edge where T1 gets brighter and T2 darker still matches.",
               "mind_ssd": "MIND describes each voxel by its neighbours' similarity to it: that holds in any contrast.",
               "mind_ssc": "MIND-SSC is MIND with pairs of neighbours: as contrast-free as MIND."},
        why="MSE and NCC need the same (or a linearly related) intensity at corresponding points; the others do not.")


RUNAWAY = {"a": "it minimises MI, a measure where higher is better: the loss must be −MI (`similarity.loss(\"mi\", …)`)",
           "b": "the learning rate is too large",
           "c": "mutual information cannot register T1 to T2",
           "d": "`translated` moves the image the wrong way"}
"""Exercise 3.5's choices: why ``register_shift_with_a_bug`` runs away from alignment."""


def check_runaway(student):
    """Exercise 3.5 (debug a registration): ``student()`` returns the key of :data:`RUNAWAY`; the answer is "a"."""
    return questions.check_choice(
        "Exercise 3.5 — debug: why does the registration run away?", student, "a", options=RUNAWAY,
        hints={"b": "a smaller step would only run away more slowly: look at the direction of the steps, not their size.",
               "c": "the landscape of §3 shows MI's optimum at zero shift for T1 vs T2: MI can do it.",
               "d": "the direction of `translated` only decides the sign of the answer; a correct loss would still "
                    "find the shift that aligns, whichever the convention."},
        why="gradient descent walks downhill: a higher-is-better measure must enter the loss with a minus sign. "
            "similarity.loss(name, …) does that for every measure.")
