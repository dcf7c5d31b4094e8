"""Lab 03's checkers: right answers and other right formulations pass; at least five realistic wrong answers per
exercise fail with the one hint that names their mistake (the MI of raw counts and NaN bins included)."""

import math

import pytest
import torch

from reglab import similarity
from reglab.course.checks import lab03
from tests.course.checks.helpers import detached, own, table_tests

CHECKS = [lab03.check_mse, lab03.check_ncc, lab03.check_mutual_information, lab03.check_ngf]
ncc = own(similarity.ncc)


def mse(fixed, warped):
    return ((fixed - warped) ** 2).flatten(1).mean(dim=1).mean()


def ncc_by_hand(fixed, warped):
    f, m = fixed.flatten(1), warped.flatten(1)
    f, m = f - f.mean(1, keepdim=True), m - m.mean(1, keepdim=True)
    return ((f * m).mean(1) / (f.pow(2).mean(1).sqrt() * m.pow(2).mean(1).sqrt())).mean()


def ncc_corrcoef(fixed, warped):
    """Another right answer: torch.corrcoef per pair (its 1/(N-1) cancels)."""
    return torch.stack([torch.corrcoef(torch.stack([f.flatten(), m.flatten()]))[0, 1]
                        for f, m in zip(fixed, warped)]).mean()


def mi_nansum(histogram):
    """Another right answer: xlogy handles 0 · log 0 = 0."""
    p = histogram / histogram.sum(dim=(1, 2), keepdim=True)

    def entropy(q, dims):
        return -torch.special.xlogy(q, q).sum(dim=dims)

    return entropy(p.sum(2), 1) + entropy(p.sum(1), 1) - entropy(p, (1, 2))


def mi_kl(histogram):
    """Another right answer: MI = KL(p ‖ p_F p_M) = Σ p log(p / (p_F p_M))."""
    p = histogram / histogram.sum(dim=(1, 2), keepdim=True)
    outer = p.sum(2, keepdim=True) * p.sum(1, keepdim=True)
    return torch.where(p > 0, p * (p / outer.clamp_min(1e-300)).clamp_min(1e-300).log(), torch.zeros_like(p)).sum((1, 2))


def ngf_by_hand(fixed, warped, eps):
    spatial = tuple(range(2, fixed.dim()))
    grad_f = torch.stack(torch.gradient(fixed, dim=spatial), dim=2)
    grad_m = torch.stack(torch.gradient(warped, dim=spatial), dim=2)
    norms = (grad_f.pow(2).sum(2) + eps**2).sqrt() * (grad_m.pow(2).sum(2) + eps**2).sqrt()
    return (1 - ((grad_f * grad_m).sum(2) / norms) ** 2).flatten(1).mean(1).mean()


RIGHT = [(lab03.check_mse, mse), (lab03.check_mse, lambda f, w: torch.stack([((a - b) ** 2).mean() for a, b in zip(f, w)]).mean()),
         (lab03.check_ncc, ncc_by_hand), (lab03.check_ncc, ncc_corrcoef),
         (lab03.check_mutual_information, mi_nansum), (lab03.check_mutual_information, mi_kl),
         (lab03.check_ngf, ngf_by_hand), (lab03.check_ngf, lambda f, w, eps: lab03._ngf(f, w, eps))]

WRONG = [
    (lab03.check_mse, lambda f, w: ((f - w) ** 2).sum() / f.shape[0], "(the SSD)"),
    (lab03.check_mse, lambda f, w: (f - w).abs().mean(), "the SAD"),
    (lab03.check_mse, lambda f, w: ((f - w) ** 2).flatten(1).mean(1).sqrt().mean(), "RMSE"),
    (lab03.check_mse, lambda f, w: ((f[:, 0] - w[:, 0]) ** 2).mean(), "not channel 0 only"),
    (lab03.check_mse, lambda f, w: ((f - w).flatten(1).mean(1) ** 2).mean(), "square each difference"),
    (lab03.check_mse, lambda f, w: torch.tensor(mse(f, w).item()), "must be differentiable"),
    (lab03.check_mse, lambda f, w: similarity.mse(f, w), "this calls reglab.similarity.mse"),
    (lab03.check_ncc, lab03._cosine, "cosine similarity"),
    (lab03.check_ncc, lambda f, w: (ncc(f, w, reduction="none") ** 2).mean(), "squared the correlation"),
    (lab03.check_ncc, lambda f, w: ncc_by_hand(f.reshape(1, 1, -1), w.reshape(1, 1, -1)), "whole batch at once"),
    (lab03.check_ncc, lambda f, w: ncc_by_hand(f, w) * (f[0].numel() - 1) / f[0].numel(), "1/N and 1/(N-1)"),
    (lab03.check_ncc, lab03._covariance, "this is the covariance"),
    (lab03.check_ncc, lambda f, w: -ncc_by_hand(f, w), "return NCC itself"),
    (lab03.check_ncc, detached(ncc_by_hand), "must be differentiable"),
    (lab03.check_mutual_information, lambda h: lab03._mi(h, guard=False), "0 · log 0 gave NaN"),
    (lab03.check_mutual_information, lambda h: lab03._mi(h, log=torch.log2), "MI in bits"),
    (lab03.check_mutual_information, lambda h: lab03._mi(h, normalize="none"), "divide the counts"),
    (lab03.check_mutual_information, lambda h: lab03._mi(h, normalize="batch"), "its own total"),
    (lab03.check_mutual_information, lambda h: lab03._mi(h, sign=-1.0), "sign is flipped"),
    (lab03.check_mutual_information, lambda h: lab03._mi(h).float(), "keep the input's dtype"),
    (lab03.check_ngf, lambda f, w, eps: lab03._ngf(f, w, eps, power=1), "(cos)² not |cos|"),
    (lab03.check_ngf, lambda f, w, eps: lab03._ngf(f, w, eps, eps_outside=True), "ε goes inside"),
    (lab03.check_ngf, lambda f, w, eps: lab03._ngf(f, w, eps, forward=True), "central differences"),
    (lab03.check_ngf, lambda f, w, eps: lab03._ngf(f, w, eps, eps_squared=False), "square ε"),
    (lab03.check_ngf, lambda f, w, eps: lab03._ngf(f, w, eps, one_minus=False), "NGF is a distance"),
    (lab03.check_ngf, lambda f, w, eps: lab03._ngf(f, w, eps, total=True), "not the sum"),
    (lab03.check_ngf, lambda f, w, eps: similarity.ngf(f, w, eps=eps), "this calls reglab.similarity.ngf"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)


def test_mi_of_raw_counts_is_n_mi_minus_n_log_n():
    """Why the old 'MI(p)·N' test never fired: with counts summing to N, the entropy formula gives N·MI(p) − N·log N."""
    h = torch.randint(1, 9, (2, 5, 4)).double()
    n = h.sum(dim=(1, 2))
    assert torch.allclose(lab03._mi(h, normalize="none"), n * lab03._mi(h) - n * torch.log(n))


def test_mutual_information_reference_known_answers():
    assert lab03.mutual_information(torch.eye(2)[None]).item() == pytest.approx(math.log(2))
    independent = torch.outer(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 5.0]))[None]
    assert lab03.mutual_information(independent).item() == pytest.approx(0.0, abs=1e-6)
