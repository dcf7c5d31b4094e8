"""Tests for reglab.registration.penalties: known values, and a registration driven by landmarks alone."""

import numpy as np
import pytest
import torch

from reglab.evaluation import dice
from reglab.registration.engine import register
from reglab.registration.penalties import label_penalty, landmark_penalty
from tests.registration._cases import mean_error


def test_landmark_penalty_value_and_registration(device):
    fixed_points = torch.tensor([[[10.0, 12.0], [40.0, 20.0], [25.0, 50.0]]], device=device)
    moving_points = fixed_points + torch.tensor([2.0, -3.0], device=device)
    u = torch.zeros(1, 2, 64, 64, device=device)
    expected = np.mean(np.sum((np.array([2.0, -3.0])) ** 2))     # every point off by (2, -3)
    assert landmark_penalty(fixed_points, moving_points)(u).item() == pytest.approx(expected)
    blank = torch.zeros(1, 1, 64, 64, device=device)           # no image evidence at all: only P drives
    result = register(blank, blank, transform="rigid", similarity="ssd", levels=2, optimizer="lbfgs", iterations=30,
                      penalty=landmark_penalty(fixed_points, moving_points), progress=False)
    assert mean_error(result.displacement, torch.tensor([2.0, -3.0], device=device).reshape(1, 2, 1, 1)
                      .expand(1, 2, 64, 64), 0) < 1e-2


def test_label_penalty_is_one_minus_dice(device):
    fixed = torch.zeros(1, 1, 16, 16, dtype=torch.long, device=device)
    fixed[..., 2:8, 2:8] = 1
    fixed[..., 9:14, 3:12] = 2
    moving = torch.roll(fixed, 2, dims=3)
    value = label_penalty(fixed, moving)(torch.zeros(1, 2, 16, 16, device=device))
    assert value.item() == pytest.approx(1 - dice(fixed, moving).mean().item(), abs=1e-5)
    shifted = torch.zeros(1, 2, 16, 16, device=device)
    shifted[:, 1] = 2.0
    assert label_penalty(fixed, moving)(shifted).item() == pytest.approx(0.0, abs=1e-6)
