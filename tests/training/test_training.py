"""Tests for reglab.training: losses against NumPy formulas, the three regimes, the loop (loss goes down,
seeded determinism, checkpoint resume == uninterrupted run, weights_only loading), evaluation, instance optimisation."""

import numpy as np
import pytest
import torch

from reglab import evaluation
from reglab.networks import GANRegistration, HyperMorph, UNet, VoxelMorph
from reglab.training import (Adversarial, Supervised, TensorPairs, Unsupervised, batch_indices, discriminator_loss,
                             evaluate, fit, generator_loss, instance_optimization, load_checkpoint, make_pairs, one_hot,
                             soft_dice_loss, supervised_loss, unsupervised_loss)
from reglab.warping import warp

TINY_VXM = ((4, 8), (8, 8, 4))


@pytest.fixture(scope="module")
def pairs():
    return make_pairs(4, size=(24, 24), seed=0, landmarks=0)


def _smooth(batch, ndim, size, scale, seed):
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(batch, ndim, *([3] * ndim), generator=generator) * scale
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear" if ndim == 2 else "trilinear",
                                           align_corners=True)


@pytest.mark.parametrize("ndim", [2, 3])
def test_supervised_loss_is_the_mean_squared_endpoint_error(ndim, device):
    u = _smooth(2, ndim, (5,) * ndim, 1.0, 0).to(device)
    truth = _smooth(2, ndim, (5,) * ndim, 1.0, 1).to(device)
    expected = ((u.cpu().numpy() - truth.cpu().numpy()) ** 2).sum(axis=1).mean()
    assert supervised_loss(u, truth).item() == pytest.approx(expected, rel=1e-5)
    assert supervised_loss(truth, truth).item() == 0.0
    with pytest.raises(ValueError, match="supervised_loss\\(\\): expected `true_displacement`"):
        supervised_loss(u, truth[..., :-1])


@pytest.mark.parametrize("ndim", [2, 3])
def test_unsupervised_loss_is_mse_plus_weighted_diffusion(ndim, device):
    fixed = torch.rand(2, 1, *(6,) * ndim, device=device)
    moving = torch.rand(2, 1, *(6,) * ndim, device=device)
    u = _smooth(2, ndim, (6,) * ndim, 0.5, 2).to(device)
    warped = warp(moving, u)
    f, w, un = fixed.cpu().numpy(), warped.cpu().numpy(), u.cpu().numpy()
    diffusion = sum((np.diff(un, axis=k + 2) ** 2).sum(axis=tuple(range(1, ndim + 2))) / (
        np.diff(un, axis=k + 2)[0, 0].size) for k in range(ndim)).mean()
    expected = ((f - w) ** 2).mean() + 0.3 * diffusion
    loss = unsupervised_loss(fixed, warped, u, similarity="mse", weight=0.3)
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="expected `similarity`"):
        unsupervised_loss(fixed, warped, u, similarity="mi")


def test_ncc_losses_have_the_minimising_sign(device):
    image = torch.rand(1, 1, 16, 16, device=device)
    zero = torch.zeros(1, 2, 16, 16, device=device)
    assert unsupervised_loss(image, 2 * image + 1, zero, similarity="ncc").item() == pytest.approx(-1.0, abs=1e-5)
    assert unsupervised_loss(image, image, zero, similarity="local_ncc").item() == pytest.approx(-1.0, abs=1e-3)


def test_soft_dice_on_hard_labels_equals_one_minus_dice(device):
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 3, (2, 1, 7, 9), generator=generator).to(device)
    b = torch.randint(0, 3, (2, 1, 7, 9), generator=generator).to(device)
    expected = 1.0 - evaluation.dice(a, b, labels=[1, 2]).mean().item()
    assert soft_dice_loss(one_hot(a, 3), one_hot(b, 3)).item() == pytest.approx(expected, abs=1e-5)


def test_gan_losses_against_the_log_formulas(device):
    real, fake = torch.tensor([[2.0, -1.0]], device=device), torch.tensor([[0.5, -3.0]], device=device)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))                                      # noqa: E731
    r, f, t = real.cpu().numpy(), fake.cpu().numpy(), 0.9
    expected_d = -(t * np.log(sigmoid(r)) + (1 - t) * np.log(1 - sigmoid(r))).mean() - np.log(1 - sigmoid(f)).mean()
    assert discriminator_loss(real, fake, smoothing=0.1).item() == pytest.approx(expected_d, rel=1e-5)
    assert generator_loss(fake).item() == pytest.approx(-np.log(sigmoid(f)).mean(), rel=1e-5)


def test_batches_cover_every_pair_once_per_epoch():
    seen = torch.cat([batch_indices(10, 3, step, seed=4) for step in range(3)])
    assert len(set(seen.tolist())) == 9
    assert torch.equal(batch_indices(10, 3, 5, seed=4), batch_indices(10, 3, 5, seed=4))


@pytest.mark.parametrize("regime", ["supervised", "unsupervised", "unsupervised+dice", "adversarial"])
def test_fit_reduces_the_loss(regime, pairs, device):
    torch.manual_seed(0)
    generator = VoxelMorph(2, features=TINY_VXM)
    model = GANRegistration(2, generator=generator, features=(4, 8)) if regime == "adversarial" else generator
    chosen = {"supervised": Supervised(), "unsupervised": Unsupervised(similarity="mse", weight=0.01),
              "unsupervised+dice": Unsupervised(similarity="mse", weight=0.01, dice_weight=1.0),
              "adversarial": Adversarial(similarity="mse", weight=0.01)}[regime]
    model = model.to(device)
    before = evaluate(model, pairs)["epe"]
    history = fit(model, chosen, pairs, steps=30, batch_size=4, lr=1e-2, progress=False)
    assert np.mean(history["loss"][-5:]) < np.mean(history["loss"][:5])
    if regime != "adversarial":                                               # a GAN's loss is a game, not a descent
        assert evaluate(model, pairs)["epe"] < before
    else:
        assert "d_loss" in history and np.isfinite(history["d_loss"]).all()


def _run(model_fn, regime_fn, pairs, steps, **options):
    torch.manual_seed(0)
    model = model_fn()
    history = fit(model, regime_fn(), pairs, steps=steps, batch_size=2, lr=1e-2, progress=False, **options)
    return model, history


MODELS = {
    "hypermorph": (lambda: HyperMorph(2, features=TINY_VXM, hyper=(8,)), lambda: Unsupervised(similarity="mse")),
    "gan": (lambda: GANRegistration(2, generator=VoxelMorph(2, features=TINY_VXM), features=(4, 8)), Adversarial),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(name, pairs, tmp_path):
    model_fn, regime_fn = MODELS[name]
    straight, history = _run(model_fn, regime_fn, pairs, 4)
    path = tmp_path / "run.pt"
    _run(model_fn, regime_fn, pairs, 2, checkpoint=path)
    resumed, resumed_history = _run(model_fn, regime_fn, pairs, 4, checkpoint=path, resume=True)
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=key)
    assert resumed_history["loss"] == history["loss"]
    state = torch.load(path, weights_only=True)                                # plain tensors and containers only
    assert state["step"] == 4 and set(state) >= {"model", "optimizer", "regime", "rng", "history"}


def test_seeded_runs_are_identical_and_seeds_differ(pairs):
    model_fn, regime_fn = MODELS["hypermorph"]
    a, _ = _run(model_fn, regime_fn, pairs, 3, seed=1)
    b, _ = _run(model_fn, regime_fn, pairs, 3, seed=1)
    c, _ = _run(model_fn, regime_fn, pairs, 3, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters()))


def test_load_checkpoint_restores_the_model(pairs, tmp_path):
    model, _ = _run(lambda: UNet(2, features=(4, 8)), Unsupervised, pairs, 2, checkpoint=tmp_path / "c.pt")
    fresh = UNet(2, features=(4, 8))
    load_checkpoint(tmp_path / "c.pt", model=fresh)
    assert all(torch.equal(x, y) for x, y in zip(model.parameters(), fresh.parameters()))


def test_mixed_precision_step_on_the_cpu_is_finite(pairs):
    _, history = _run(lambda: UNet(2, features=(4, 8)), lambda: Unsupervised(similarity="mse"), pairs, 2, amp=True)
    assert np.isfinite(history["loss"]).all()


class _Oracle(torch.nn.Module):
    """A 'network' that returns the true field of the pair it is given (looked up by the moving image)."""

    def __init__(self, pairs):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.pairs = pairs

    def forward(self, fixed, moving):
        index = [int(torch.argmin((self.pairs.tensors["moving"] - m).abs().flatten(1).sum(1))) for m in moving]
        return self.pairs.tensors["displacement"][index]


def test_evaluate_before_and_with_the_true_field():
    pairs = make_pairs(3, seed=5, landmarks=4)
    before, oracle = evaluate(None, pairs), evaluate(_Oracle(pairs), pairs)
    truth = pairs.tensors["displacement"]
    assert before["epe"] == pytest.approx(truth.norm(dim=1).mean().item(), rel=1e-5)
    assert oracle["epe"] == 0.0 and oracle["tre"] < 0.01 and oracle["folding"] == 0.0
    assert oracle["dice"] > before["dice"]
    assert before["tre"] == pytest.approx(evaluation.tre(pairs.tensors["fixed_landmarks"],
                                                         pairs.tensors["moving_landmarks"]).mean().item(), rel=1e-5)


def test_instance_optimization_improves_a_prediction_and_keeps_its_input(device):
    pairs = make_pairs(1, seed=6, landmarks=0)
    fixed, moving = pairs.tensors["fixed"].to(device), pairs.tensors["moving"].to(device)
    start = 0.5 * pairs.tensors["displacement"].to(device)                    # a half-right "prediction"
    copy = start.clone()
    refined = instance_optimization(fixed, moving, start, iterations=30, similarity="mse", weight=0.01)
    assert torch.equal(start, copy)
    error = lambda u: (u - pairs.tensors["displacement"].to(device)).norm(dim=1).mean()   # noqa: E731
    assert error(refined) < error(start)


def test_tensor_pairs_and_make_pairs():
    a, b = make_pairs(2, seed=7, landmarks=0), make_pairs(2, seed=7, landmarks=0)
    assert torch.equal(a.tensors["moving"], b.tensors["moving"])
    assert a.tensors["fixed_labels"].dtype == torch.int64
    with pytest.raises(ValueError, match="same length"):
        TensorPairs({"fixed": torch.zeros(2, 1, 4, 4), "moving": torch.zeros(3, 1, 4, 4)})
