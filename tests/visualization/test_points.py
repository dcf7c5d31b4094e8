"""Tests for reglab.visualization.points: landmark TRE segments and the mean TRE in the title."""

import numpy as np
import torch

from reglab import visualization as vz


def test_landmarks_segments_and_tre(device):
    p = torch.tensor([[[2.0, 2.0], [5.0, 3.0]]], device=device)
    u = torch.zeros(1, 2, 8, 8, device=device)
    u[:, 1] = 2.0
    ax = vz.landmarks(p, p + torch.tensor([0.0, 3.0], device=device), displacement=u, spacing=(1.0, 2.0))
    assert ax.get_title() == "mean TRE 2.000 mm"                       # 1 column left over, 2 mm per column
    segment = ax.lines[0]
    np.testing.assert_allclose(segment.get_xdata(), [8.0, 10.0])       # from p + u(p) to q, in mm
    assert len(ax.lines) == 2
