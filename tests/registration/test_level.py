"""Tests for reglab.registration.level: plain gradient descent converges, the tolerance stops a level early."""

import torch

from reglab import warp
from reglab.registration.engine import register
from tests.registration._cases import brain, mean_error


def test_gradient_descent_recovers_a_translation(device):
    fixed = brain(2, device)
    moving = warp(fixed, torch.full((1, 2, 64, 64), -1.5, device=device))
    result = register(fixed, moving, transform="rigid", similarity="mse", optimizer="gd", learning_rate=100.0,
                      levels=2, iterations=200, progress=False)
    assert mean_error(result.displacement, torch.full_like(result.displacement, 1.5), 8) < 0.01
    assert result.history["total"][-1] < 0.5 * result.history["total"][0]


def test_tolerance_stops_early(device):
    fixed = brain(2, device)
    result = register(fixed, fixed, transform="affine", levels=1, iterations=100, tolerance=1.0, progress=False)
    assert len(result.history["total"]) == 11
