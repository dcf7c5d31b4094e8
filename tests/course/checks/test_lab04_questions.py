"""Lab 04's questions (issue 18): the tuned λ is checked by registering with it; the keys match reglab."""

import torch

from reglab import grid, regularization
from reglab.course.checks import lab04


def stub():
    raise NotImplementedError()


def test_identity_energy_is_ndim(capsys):
    assert regularization.diffusion(grid.identity_grid((9, 7))).item() == 2.0
    assert lab04.check_identity_energy(lambda: 2).ok
    for wrong in (0, 1, 4):
        result = lab04.check_identity_energy(lambda: wrong)
        assert not result.ok and result.hints
    assert not lab04.check_identity_energy(stub).implemented


def test_diffusion_of_y_is_that_of_u_plus_a_border_term():
    """R_diff(x + u) = R_diff(u) + ndim + 2 Σ_j mean ∂u_j/∂x_j, and the curvature of x + u is that of u."""
    g = torch.Generator().manual_seed(0)
    u = torch.randn(1, 2, 12, 9, generator=g)
    y = grid.identity_grid((12, 9)) + u
    divergence = sum(u[:, j].diff(dim=j + 1).mean() for j in range(2))
    assert torch.allclose(regularization.diffusion(y), regularization.diffusion(u) + 2 + 2 * divergence, atol=1e-5)
    assert torch.allclose(regularization.curvature(y), regularization.curvature(u), atol=1e-4)


def test_fold_places(capsys):
    assert lab04.check_fold_places(lambda: "a").ok
    assert len({lab04.check_fold_places(lambda: k).hints[0] for k in "bcd"}) == 3


def test_weight_is_checked_by_registering(capsys):
    """A small pair: the checker registers with the student's λ and reports EPE and folds, each with its hint."""
    fixed, moving, truth, inside = lab04.registration_pair()
    assert fixed.shape == (1, 1, 98, 80) and inside.shape == (1, 98, 80) and truth.shape == (1, 2, 98, 80)
    check = lambda weight: lab04.check_weight(lambda: weight)
    assert check(0.025).ok
    assert "larger one" in check(0.01).hints[0]                    # meets the target, not the largest
    assert "too smooth" in check(0.1).hints[0]
    assert "folds" in check(0.0).hints[0]
    assert not check(-1.0).ok and not lab04.check_weight(stub).implemented
