"""Tests of reglab.regularization.regularizer: every penalty of REGULARIZERS, by name and as a Regularizer module."""

import pytest
import torch

from reglab.regularization.regularizer import REGULARIZERS, Regularizer
from tests.regularization._fields import SIZES

PENALTIES = list(REGULARIZERS)


@pytest.mark.parametrize("name", PENALTIES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_shape_reduction_and_batch(name, ndim, device):
    u = 0.3 * torch.randn(3, ndim, *SIZES[ndim], device=device)
    penalty = REGULARIZERS[name]
    per_sample = penalty(u, reduction="none")
    assert per_sample.shape == (3,) and per_sample.dtype == torch.float32 and (per_sample >= 0).all()
    torch.testing.assert_close(penalty(u), per_sample.mean())
    torch.testing.assert_close(penalty(u, reduction="sum"), per_sample.sum())
    torch.testing.assert_close(per_sample, torch.cat([penalty(u[i : i + 1], reduction="none") for i in range(3)]))
    torch.testing.assert_close(Regularizer(name)(u), penalty(u))


def test_errors():
    with pytest.raises(ValueError, match=r"Regularizer\(\): expected `name`"):
        Regularizer("tv")


@pytest.mark.parametrize("ndim", [2, 3])
def test_translation_costs_nothing(ndim, device):
    u = torch.ones(2, ndim, *SIZES[ndim], device=device, dtype=torch.float64) * torch.tensor(
        [1.5, -2.0, 0.7][:ndim], device=device, dtype=torch.float64).reshape(1, ndim, *([1] * ndim))
    for name in PENALTIES:
        options = {} if name == "folding_penalty" else {"spacing": (0.8, 1.2, 2.0)[:ndim]}
        assert REGULARIZERS[name](u, **options).item() == 0


def test_inputs_not_modified(device):
    u = torch.randn(1, 3, 5, 6, 7, device=device)
    copy = u.clone()
    for name in PENALTIES:
        REGULARIZERS[name](u)
    assert torch.equal(u, copy)
