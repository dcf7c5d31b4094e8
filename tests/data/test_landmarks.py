"""Tests for reglab.data.landmarks: the Förstner detector and landmark pairs with exact partners."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from reglab.data import cornerness, detect_landmarks, landmark_pairs, load_brain, load_brain_slice, random_deformation
from reglab.evaluation import tre


def _blobs(ndim, device):
    """A few bright Gaussian blobs on a dark background."""
    size = (48, 40) if ndim == 2 else (24, 22, 20)
    grid = torch.stack(torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in size], indexing="ij"))
    centres = [(10, 12), (30, 25), (20, 8)] if ndim == 2 else [(7, 6, 6), (16, 15, 13), (9, 16, 5)]
    image = sum(torch.exp(-((grid - torch.tensor(c, dtype=torch.float32).reshape(-1, *[1] * ndim)) ** 2)
                          .sum(0) / 4.0) for c in centres)
    return image[None, None].to(device), centres


def _cornerness_scipy(image, sigma, rho):
    """Oracle: Förstner det(J) / trace(J) with SciPy's Gaussian filter (mode='nearest') and NumPy gradients."""
    array = image[0, 0].double().cpu().numpy()
    ndim = array.ndim
    smooth = ndimage.gaussian_filter(array, sigma, mode="nearest", truncate=3.0)
    grads = np.gradient(smooth)
    grads = grads if ndim > 1 else [grads]
    J = np.empty(array.shape + (ndim, ndim))
    for i in range(ndim):
        for j in range(ndim):
            J[..., i, j] = ndimage.gaussian_filter(grads[i] * grads[j], rho, mode="nearest", truncate=3.0)
    return np.clip(np.linalg.det(J) / (np.trace(J, axis1=-2, axis2=-1) + 1e-12), 0, None)


@pytest.mark.parametrize("ndim", [2, 3])
def test_cornerness_matches_scipy(ndim, device):
    image, _ = _blobs(ndim, device)
    image = image + 0.1 * torch.rand(image.shape, generator=torch.Generator().manual_seed(0)).to(device)
    expected = _cornerness_scipy(image, 1.0, 2.0)
    actual = cornerness(image.double(), sigma=1.0, rho=2.0)[0, 0].cpu().numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-12 * expected.max())


def test_cornerness_edges_score_lower_than_corners():
    square = torch.zeros(1, 1, 31, 31)
    square[..., 8:23, 8:23] = 1.0
    w = cornerness(square)[0, 0]
    assert w[8, 15] < 0.1 * w[9, 9]                  # middle of an edge vs near a corner
    assert w[15, 15] < 0.01 * w[9, 9]                # flat inside


@pytest.mark.parametrize("ndim", [2, 3])
def test_detect_landmarks_finds_the_blobs(ndim, device):
    image, centres = _blobs(ndim, device)
    points = detect_landmarks(image, count=3, min_distance=3)
    assert points.shape == (1, 3, ndim) and points.dtype == image.dtype and points.device == image.device
    assert sorted(map(tuple, points[0].long().tolist())) == sorted(centres)


@pytest.mark.parametrize("ndim", [2, 3])
def test_detect_landmarks_moves_with_an_integer_shift(ndim, device):
    """Known answer: shifting the image by whole voxels shifts every landmark by the same amount."""
    image, _ = _blobs(ndim, device)
    shift = (3, -2, 1)[:ndim]
    shifted = torch.roll(image, shifts=shift, dims=tuple(range(2, ndim + 2)))
    before = detect_landmarks(image, count=3, min_distance=3)[0]
    after = detect_landmarks(shifted, count=3, min_distance=3)[0]
    expected = before + torch.tensor(shift, dtype=before.dtype, device=device)
    assert sorted(map(tuple, after.tolist())) == sorted(map(tuple, expected.tolist()))


@pytest.mark.parametrize("ndim", [2, 3])
def test_detect_landmarks_respects_mask_distance_and_border(ndim):
    brain = load_brain_slice("axial") if ndim == 2 else load_brain()
    mask = brain.labels > 1                                    # gray and white matter only
    points = detect_landmarks(brain.image, count=15, mask=mask, min_distance=4, border=6)[0].long()
    assert len({tuple(p) for p in points.tolist()}) == 15
    assert all(mask[(0, 0, *p)] for p in points.tolist())
    size = torch.tensor(brain.image.shape[2:])
    assert (points >= 6).all() and (points < size - 6).all()
    chebyshev = (points[:, None] - points[None]).abs().amax(-1) + 100 * torch.eye(15, dtype=torch.long)
    assert chebyshev.min() > 4


def test_detect_landmarks_batch_and_errors():
    brain = load_brain_slice("sagittal")
    batch = torch.cat([brain.image, brain.image.flip(-1)])
    points = detect_landmarks(batch, count=10)
    assert points.shape == (2, 10, 2)
    mirrored = points[1].clone()
    mirrored[:, 1] = brain.image.shape[-1] - 1 - mirrored[:, 1]
    assert sorted(map(tuple, mirrored.tolist())) == sorted(map(tuple, points[0].tolist()))
    with pytest.raises(ValueError, match=r"detect_landmarks\(\): expected at least count=50 candidate points"):
        detect_landmarks(torch.zeros(1, 1, 16, 16), count=50)
    with pytest.raises(ValueError, match=r"detect_landmarks\(\): expected `mask` of shape"):
        detect_landmarks(brain.image, mask=torch.ones(1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"cornerness\(\): expected a single-channel image"):
        cornerness(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match=r"detect_landmarks\(\): expected `image` of shape"):
        detect_landmarks(torch.zeros(8, 8))


@pytest.mark.parametrize("ndim", [2, 3])
def test_landmark_pairs_move_exactly_as_the_field_says(ndim, device):
    brain = load_brain_slice("axial") if ndim == 2 else load_brain()
    image = brain.image.to(device)
    u = random_deformation(image.shape[2:], magnitude=4.0, smoothness=8.0, seed=0, device=device).displacement
    pairs = landmark_pairs(image, u, count=12, mask=brain.labels.to(device) > 0)
    assert pairs.fixed.shape == pairs.moving.shape == (1, 12, ndim)
    stored = torch.stack([u[(0, slice(None), *p)] for p in pairs.fixed[0].long().tolist()])   # u at the voxel
    torch.testing.assert_close(pairs.moving[0], pairs.fixed[0] + stored, atol=1e-5, rtol=0)   # float32 rounding
    assert tre(pairs.fixed, pairs.moving, u).max() < 1e-5                      # the true field: TRE 0
    before = tre(pairs.fixed, pairs.moving)                                    # identity: TRE = |u(p)|
    torch.testing.assert_close(before[0], stored.norm(dim=1), atol=1e-5, rtol=0)
    spacing = (2.0,) * ndim
    torch.testing.assert_close(tre(pairs.fixed, pairs.moving, spacing=spacing), 2 * before)   # in mm


def test_landmark_pairs_errors():
    with pytest.raises(ValueError, match=r"landmark_pairs\(\): expected `displacement` on the spatial grid"):
        landmark_pairs(torch.rand(1, 1, 16, 16), torch.zeros(1, 2, 8, 8))
