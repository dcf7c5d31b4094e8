"""Tests of reglab.similarity.mind: MIND and MIND-SSC descriptors from their definition (NumPy), MIND-SSD."""

import itertools

import numpy as np
import pytest
import torch

from reglab import similarity as sim
from tests.similarity.shared import SHAPES, pair


def _np_mind(image, pairs, radius, dilation, variant):
    """MIND from the definition: ``exp(-D_p / V)`` divided by its largest entry, i.e. ``exp(-(D_p - min D_p) / V)``.

    ``V`` is the mean of the patch distances ``D_p`` over the neighbourhood for MIND (Heinrich 2012, eq. 5), and
    the mean of ``D_p - min D_p`` for MIND-SSC (Heinrich's MIND-SSC code); clamped to [0.001, 1000] × its mean.
    """
    pad = dilation + radius
    padded = np.pad(image, pad, mode="edge")
    shape = image.shape

    def shifted(offset):
        return padded[tuple(slice(pad + dilation * o - radius, pad + dilation * o + n + radius) for o, n in zip(offset, shape))]

    distances = []
    for a, b in pairs:
        squared = (shifted(a) - shifted(b)) ** 2
        # Heinrich's code: squared differences on the image grid, their border replicated for the patch sum
        squared = np.pad(squared[(slice(radius, -radius),) * image.ndim], radius, mode="edge")
        total = np.zeros(shape)
        for p in itertools.product(range(2 * radius + 1), repeat=image.ndim):
            total += squared[tuple(slice(q, q + n) for q, n in zip(p, shape))]
        distances.append(total / (2 * radius + 1) ** image.ndim)
    d = np.stack(distances)
    v = d.mean(0) if variant == "mind" else (d - d.min(0)).mean(0)
    v = np.clip(v, 0.001 * v.mean(), 1000 * v.mean())
    return np.exp(-d / v) / np.exp(-d / v).max(0)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("variant", ["mind", "ssc"])
def test_mind_matches_numpy(ndim, variant, device):
    image = torch.rand(1, 1, *SHAPES[ndim], device=device, dtype=torch.float64)
    units = [tuple(s * (k == axis) for k in range(ndim)) for axis in range(ndim) for s in (-1, 1)]
    if variant == "mind":
        pairs = [((0,) * ndim, r) for r in units]
    else:
        pairs = [(a, b) for a, b in itertools.combinations(units, 2) if np.sum(np.subtract(a, b) ** 2) == 2]
    assert len(pairs) == (2 * ndim if variant == "mind" else {2: 4, 3: 12}[ndim])
    expected = _np_mind(image[0, 0].cpu().numpy(), pairs, radius=1, dilation=2, variant=variant)
    actual = sim.mind(image, radius=1, dilation=2, variant=variant)[0].cpu().numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


def test_mind_ssd_is_mean_squared_descriptor_difference(device):
    fixed, warped = pair(device, 3, batch=1)
    for variant, measure in (("mind", sim.mind_ssd), ("ssc", sim.mind_ssc)):
        d_f, d_m = sim.mind(fixed, variant=variant), sim.mind(warped, variant=variant)
        torch.testing.assert_close(measure(fixed, warped), ((d_f - d_m) ** 2).mean())


@pytest.mark.parametrize("variant", ["mind", "ssc"])
def test_mind_of_an_image_does_not_depend_on_the_batch(variant, device):
    # the clamp level of V was averaged over the batch: a low-contrast image batched with a high-contrast one
    # had its V clamped up and its descriptor flattened (mind_ssc of the low-contrast pair: 0.156 alone, 4e-10 batched)
    low = pair(device, 2, batch=1)
    high = tuple(1000 * image for image in pair(device, 2, batch=1))
    fixed, warped = (torch.cat([a, b]) for a, b in zip(low, high))
    torch.testing.assert_close(sim.mind(fixed, variant=variant)[:1], sim.mind(low[0], variant=variant))
    measure = sim.mind_ssd if variant == "mind" else sim.mind_ssc
    torch.testing.assert_close(measure(fixed, warped, reduction="none")[:1], measure(*low, reduction="none"))
    # and channels are independent images: a two-channel descriptor is the two one-channel descriptors
    channels = torch.cat([low[0], high[0]], dim=1)
    torch.testing.assert_close(sim.mind(channels, variant=variant),
                               torch.cat([sim.mind(low[0], variant=variant), sim.mind(high[0], variant=variant)], 1))
