"""Tests for reglab.evaluation.report: the table before vs after a known shift."""

import pytest
import torch

from reglab import evaluation as ev
from tests.evaluation._synthetic import as_map, ellipsoid


def test_report_before_and_after(device):
    fixed = as_map(ellipsoid((24, 24), (12, 12), (7, 5)), device)
    u = torch.zeros(1, 2, 24, 24, device=device)
    u[:, 1] = 3.0
    moving = torch.roll(fixed, 3, dims=3)
    warped = torch.roll(moving, -3, dims=3)
    points = torch.tensor([[[10.0, 10.0], [14.0, 12.0]]], device=device)
    table = ev.report(fixed, moving, warped, u, fixed_points=points, moving_points=points + torch.tensor(
        [0.0, 3.0], device=device), spacing=(1.0, 2.0), inverse=-u)
    values = table.as_dict()
    assert values["Dice"][0] == pytest.approx(ev.dice(fixed, moving).item()) and values["Dice"][1] == 1
    assert values["TRE"] == pytest.approx((6.0, 0.0), abs=1e-5)
    assert values["HD"][0] == pytest.approx(6.0) and values["HD"][1] == 0
    assert values["Jacobian ≤ 0"] == (0, 0) and values["inverse consistency"][1] == pytest.approx(0, abs=1e-5)
    assert "HD95 (mm)" in str(table)
