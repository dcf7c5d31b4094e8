"""Tests for reglab.data.contrasts: synthetic contrasts from tissue maps, SynthMorph-style images and label maps."""

import math

import numpy as np
import pytest
import torch

from reglab.data import CONTRASTS, load_brain_slice, random_contrast, random_label_map, tissue_contrast


# ---------------------------------------------------------------- contrasts


@pytest.mark.parametrize("contrast", ["t1", "t2", "pd"])
def test_tissue_contrast_is_the_mixture_formula(contrast, device):
    """Oracle: without blur, bias and noise, I = Σ_k μ_k p_k with p_0 = 1 - Σ tissues (NumPy)."""
    brain = load_brain_slice("coronal")
    image = tissue_contrast(brain.tissues.to(device), contrast=contrast, bias=0, noise=0, blur=0)
    p = brain.tissues[0].double().numpy()
    probabilities = np.concatenate([np.clip(1 - p.sum(0), 0, 1)[None], p])
    expected = np.tensordot(np.array(CONTRASTS[contrast]), probabilities, axes=1)
    np.testing.assert_allclose(image[0, 0].cpu().double().numpy(), expected, atol=1e-5)


def test_tissue_contrast_orderings():
    brain = load_brain_slice("axial")
    means = {c: [tissue_contrast(brain.tissues, contrast=c, seed=0)[brain.labels == k].mean().item() for k in (1, 2, 3)]
             for c in CONTRASTS}
    assert means["t1"][0] < means["t1"][1] < means["t1"][2]           # CSF < GM < WM
    assert means["t2"][0] > means["t2"][1] > means["t2"][2]           # CSF > GM > WM
    assert means["pd"][0] > means["pd"][1] > means["pd"][2]


@pytest.mark.parametrize("ndim", [2, 3])
def test_tissue_contrast_noise_is_rician(ndim, device):
    """A zero signal with Rician noise σ has the Rayleigh mean σ √(π/2)."""
    tissues = torch.zeros(1, 3, *((64, 64) if ndim == 2 else (16, 16, 16)), device=device)
    image = tissue_contrast(tissues, contrast="t1", bias=0.0, noise=0.1, seed=0)
    assert image.min() >= 0
    assert abs(image.mean().item() - 0.1 * math.sqrt(math.pi / 2)) < 0.005


@pytest.mark.parametrize("ndim", [2, 3])
def test_tissue_contrast_bias_and_blur(ndim, device):
    size = (48, 40) if ndim == 2 else (20, 18, 16)
    tissues = torch.zeros(1, 3, *size, device=device)
    tissues[:, 2] = 1.0                                               # all white matter: a constant image
    clean = CONTRASTS["t2"][3]
    biased = tissue_contrast(tissues, contrast="t2", bias=0.3, noise=0, seed=1)
    ratio = biased / clean
    assert ratio.min() >= math.exp(-0.3) - 1e-5 and ratio.max() <= math.exp(0.3) + 1e-5 and ratio.std() > 0.01
    blurred = tissue_contrast(tissues, contrast="t2", bias=0, noise=0, blur=2.0)
    torch.testing.assert_close(blurred, torch.full_like(blurred, clean))   # blurring a constant keeps it


def test_tissue_contrast_errors():
    with pytest.raises(ValueError, match=r"tissue_contrast\(\): expected `tissues` of shape \(B, 3, \*spatial\)"):
        tissue_contrast(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"expected `contrast` to be one of 't1', 't2', 'pd'"):
        tissue_contrast(torch.zeros(1, 3, 8, 8), contrast="ct")
    with pytest.raises(ValueError, match=r"expected `noise` to be a number >= 0"):
        tissue_contrast(torch.zeros(1, 3, 8, 8), noise=-0.1)


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_contrast_flat_per_label_and_in_range(ndim, device):
    labels = random_label_map((32, 28) if ndim == 2 else (16, 14, 12), batch=2, num_labels=5, seed=0, device=device)
    plain = random_contrast(labels, blur=0, bias=0, noise=0, gamma=0, seed=0)
    assert plain.shape == labels.shape and plain.dtype == torch.float32
    for b in range(2):
        values = [plain[b][labels[b] == k] for k in labels[b].unique()]
        assert all(v.max() - v.min() < 1e-6 for v in values)          # one intensity per label
        assert len({round(v[0].item(), 5) for v in values}) == len(values)
    full = random_contrast(labels, seed=1)
    assert full.min() >= 0 and full.max() <= 1
    assert torch.equal(full, random_contrast(labels, seed=1)) and not torch.equal(full, random_contrast(labels, seed=2))


@pytest.mark.parametrize("ndim", [2, 3])
def test_random_label_map(ndim, device):
    size = (40, 32) if ndim == 2 else (16, 16, 16)
    labels = random_label_map(size, batch=2, num_labels=6, smoothness=4.0, seed=0, device=device)
    assert labels.shape == (2, 1, *size) and labels.dtype == torch.int64
    assert labels.min() >= 0 and labels.max() <= 5 and len(labels.unique()) >= 4
    assert torch.equal(labels.cpu(), random_label_map(size, batch=2, num_labels=6, smoothness=4.0, seed=0))


def test_random_contrast_errors():
    with pytest.raises(ValueError, match=r"random_contrast\(\): expected an integer label map"):
        random_contrast(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"random_label_map\(\): expected `num_labels` to be an int >= 2"):
        random_label_map((8, 8), num_labels=1)
