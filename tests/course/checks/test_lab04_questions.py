"""Lab 04's questions (issue 18): the tuned λ is checked by registering with it; the keys match reglab."""

import torch
import torch.nn.functional as F

from reglab import grid, regularization
from reglab.course.checks import lab04
from reglab.data import load_brain_slice, synthetic_pair


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
    brain = load_brain_slice("axial")
    image = F.interpolate(brain.image, size=(98, 80), mode="bilinear", align_corners=True)
    labels = F.interpolate(brain.labels.float(), size=(98, 80), mode="nearest").long()
    pair = synthetic_pair(image, labels, magnitude=3.0, smoothness=8.0, seed=1, landmarks=0)
    noise = torch.Generator().manual_seed(0)
    fixed = pair.fixed + 0.03 * torch.randn(pair.fixed.shape, generator=noise)
    moving = pair.moving + 0.03 * torch.randn(pair.fixed.shape, generator=noise)
    inside = (pair.fixed_labels > 0)[:, 0]
    options = dict(transform="dense", similarity="mse", levels=2, iterations=40, tolerance=1e-4, progress=False)
    check = lambda weight: lab04.check_weight(lambda: weight, fixed, moving, pair.displacement, inside, **options)
    assert check(0.025).ok
    assert "larger one" in check(0.01).hints[0]                    # meets the target, not the largest
    assert "too smooth" in check(0.1).hints[0]
    assert "folds" in check(0.0).hints[0]
    assert not check(-1.0).ok and not lab04.check_weight(stub, fixed, moving, pair.displacement, inside).implemented
