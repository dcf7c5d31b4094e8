"""Tests of every measure in reglab.similarity.MEASURES against the shared contract, and of the loss form.

Shapes and reductions, error messages, known answers, constant images and empty masks, masks,
gradcheck in float64, loss / SimilarityLoss signs, inputs left unmodified.
"""

import numpy as np
import pytest
import torch

from reglab import similarity as sim
from tests.similarity.shared import SHAPES, pair, phantom

MEASURES = list(sim.MEASURES)


# ----------------------------------------------------------------------------- shape and reductions


@pytest.mark.parametrize("name", MEASURES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_shape_and_reductions(name, ndim, device):
    fixed, warped = pair(device, ndim, batch=3, channels=2, dtype=torch.float32)
    measure = sim.MEASURES[name]
    per_sample = measure(fixed, warped, reduction="none")
    assert per_sample.shape == (3,) and per_sample.dtype == torch.float32 and per_sample.device == fixed.device
    torch.testing.assert_close(measure(fixed, warped), per_sample.mean())
    torch.testing.assert_close(measure(fixed, warped, reduction="sum"), per_sample.sum())
    # batched == one sample at a time
    single = torch.stack([measure(fixed[i : i + 1], warped[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(per_sample, single, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- errors


def test_errors(device):
    fixed = torch.rand(1, 1, 6, 6, device=device)
    with pytest.raises(ValueError, match=r"ssd\(\): expected `fixed` and `warped` of the same shape"):
        sim.ssd(fixed, torch.rand(1, 1, 6, 5, device=device))
    with pytest.raises(ValueError, match=r"ncc\(\): expected `fixed` of shape .*Hint: add the batch"):
        sim.ncc(fixed[0, 0], fixed[0, 0])
    with pytest.raises(ValueError, match=r"mse\(\): expected `reduction` to be one of"):
        sim.mse(fixed, fixed, reduction="avg")
    with pytest.raises(ValueError, match=r"mi\(\): expected `mask` of shape"):
        sim.mi(fixed, fixed, mask=torch.ones(6, 6, device=device))
    with pytest.raises(ValueError, match=r"local_ncc\(\): expected `window` to be an odd int"):
        sim.local_ncc(fixed, fixed, window=4)
    with pytest.raises(ValueError, match=r"ngf\(\): expected `eps` > 0"):
        sim.ngf(fixed, fixed, eps=0)
    with pytest.raises(ValueError, match=r"mi\(\): expected `bins`"):
        sim.mi(fixed, fixed, bins=3)
    with pytest.raises(ValueError, match=r"high > low"):
        sim.nmi(fixed, fixed, fixed_range=(1, 0))
    with pytest.raises(ValueError, match=r"mind\(\): expected `variant`"):
        sim.mind(fixed, variant="ssd")
    with pytest.raises(ValueError, match=r"loss\(\): expected `measure` to be one of"):
        sim.loss("dice", fixed, fixed)
    with pytest.raises(TypeError, match=r"sad\(\): expected a floating-point `warped`"):
        sim.sad(fixed, fixed.long())
    with pytest.raises(ValueError, match=r"`fixed` contains NaN"):
        sim.ncc(fixed * float("nan"), fixed)


# ----------------------------------------------------------------------------- known answers and properties


@pytest.mark.parametrize("ndim", [2, 3])
def test_identical_images(ndim, device):
    fixed, _ = pair(device, ndim)
    assert sim.ssd(fixed, fixed).item() == 0 and sim.sad(fixed, fixed).item() == 0
    assert sim.ncc(fixed, fixed).item() == pytest.approx(1)
    assert sim.local_ncc(fixed, fixed, window=3).item() == pytest.approx(1)
    assert sim.ngf(fixed, fixed, eps=1e-4).item() == pytest.approx(0, abs=1e-5)
    assert sim.mind_ssd(fixed, fixed).item() == 0 and sim.mind_ssc(fixed, fixed).item() == 0
    others = torch.roll(fixed, 1, dims=2), fixed**2 + torch.rand_like(fixed)
    for measure in (sim.mi, sim.nmi):
        assert all((measure(fixed, fixed, reduction="none") > measure(fixed, o, reduction="none")).all() for o in others)


@pytest.mark.parametrize("ndim", [2, 3])
def test_multimodal_measures_prefer_alignment(ndim, device):
    """On a T1 vs synthetic-T2 phantom, MI/NMI/NGF/MIND peak at alignment; SSD and NCC do not."""
    t1, t2 = phantom(device, ndim)
    shifts = range(-4, 5)
    moved = [torch.roll(t2, s, dims=2) for s in shifts]

    def best(measure):
        values = [sim.loss(measure, t1, m).item() for m in moved]
        return list(shifts)[int(np.argmin(values))]

    for name in ("mi", "nmi", "ngf", "mind_ssd", "mind_ssc"):
        assert best(name) == 0, name
    for name in ("ssd", "ncc"):
        assert best(name) != 0, name


@pytest.mark.parametrize("name", MEASURES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_constant_images_and_empty_masks_are_finite(name, ndim, device):
    measure = sim.MEASURES[name]
    constant = torch.full((1, 1, *SHAPES[ndim]), 0.3, device=device, requires_grad=True)
    other = torch.rand(1, 1, *SHAPES[ndim], device=device)
    for a, b in ((constant, constant), (constant, other), (other, constant)):
        value = measure(a, b)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(constant.grad).all()
    if name in ("ncc", "local_ncc", "mi"):
        assert measure(constant, other).item() == 0
    empty = torch.zeros(1, 1, *SHAPES[ndim], device=device, dtype=torch.bool)
    assert measure(other, other * 2, mask=empty).item() == (1.0 if name == "nmi" else 0.0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_mask_restricts_the_region(ndim, device):
    fixed, warped = pair(device, ndim)
    mask = torch.zeros(1, 1, *SHAPES[ndim], device=device, dtype=torch.bool)
    box = (slice(None), slice(None)) + tuple(slice(1, n - 1) for n in SHAPES[ndim])
    mask[box] = True
    for name in ("mse", "sad", "ncc", "mi", "nmi"):
        options = {"fixed_range": (0, 1), "warped_range": (0, 1)} if name in ("mi", "nmi") else {}
        expected = sim.MEASURES[name](fixed[box].contiguous(), warped[box].contiguous(), **options)
        torch.testing.assert_close(sim.MEASURES[name](fixed, warped, mask=mask, **options), expected)
    # windowed measures: the mask selects centres, the windows still see the neighbours
    r = sim.local_ncc(fixed, warped, window=3, reduction="none")
    masked = sim.local_ncc(fixed, warped, window=3, mask=mask)
    assert masked.shape == () and torch.isfinite(masked) and not torch.allclose(masked, r.mean())


# ----------------------------------------------------------------------------- gradients, loss form, module


@pytest.mark.parametrize("name", MEASURES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(name, ndim, device):
    size = (6, 7) if ndim == 2 else (4, 5, 5)
    fixed = torch.rand(1, 1, *size, device=device, dtype=torch.float64)
    warped = (0.5 * fixed + 0.5 * torch.rand_like(fixed)).requires_grad_(True)
    options = {"local_ncc": {"window": 3}, "mi": {"bins": 8}, "nmi": {"bins": 8}, "ngf": {"eps": 0.1}}.get(name, {})
    measure = sim.MEASURES[name]
    assert torch.autograd.gradcheck(lambda w: measure(fixed, w, **options), (warped,), eps=1e-6, atol=1e-5)


def test_loss_sign_and_module(device):
    fixed, warped = pair(device, 2, dtype=torch.float32)
    for name in MEASURES:
        value = sim.MEASURES[name](fixed, warped)
        expected = -value if sim.HIGHER_IS_BETTER[name] else value
        torch.testing.assert_close(sim.loss(name, fixed, warped), expected)
        torch.testing.assert_close(sim.SimilarityLoss(name)(fixed, warped), expected)
    torch.testing.assert_close(sim.SimilarityLoss(sim.local_ncc, window=3)(fixed, warped),
                               -sim.local_ncc(fixed, warped, window=3))
    assert "window=3" in repr(sim.SimilarityLoss("local_ncc", window=3))


def test_inputs_not_modified(device):
    fixed, warped = pair(device, 3)
    copies = fixed.clone(), warped.clone()
    for name in MEASURES:
        sim.MEASURES[name](fixed, warped)
    assert torch.equal(fixed, copies[0]) and torch.equal(warped, copies[1])
