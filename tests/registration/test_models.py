"""Tests for reglab.registration.models: a given model is the starting point, grid models are rebuilt per level."""

import torch

from reglab import warp
from reglab.data import random_rigid
from reglab.registration.engine import register
from reglab.transforms import Dense, Rigid
from tests.registration._cases import brain, deformable_pair, mean_error


def test_given_model_is_the_starting_point(device):
    fixed = brain(2, device)
    truth = random_rigid((64, 64), rotation=0, translation=3, seed=7, device=device)
    moving = warp(fixed, truth.inverse)
    start = Rigid((64, 64), translation=truth.matrix[:, :, 2].cpu())
    result = register(fixed, moving, transform=start, levels=1, iterations=0, progress=False)
    assert mean_error(result.displacement, truth.displacement, 8) < 1e-4
    before = start.translation.detach().clone()
    register(fixed, moving, transform=start, levels=1, iterations=5, progress=False)
    assert torch.equal(start.translation.detach(), before) and start.translation.requires_grad   # not modified


def test_dense_model_on_coarse_levels_is_rebuilt(device):
    fixed, moving, _, _ = deformable_pair(device)
    result = register(fixed, moving, transform="dense", levels=3, iterations=[5, 5, 5], progress=False)
    assert isinstance(result.transform, Dense) and result.transform.size == (64, 64)
