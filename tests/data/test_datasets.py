"""Tests for reglab.data.datasets: synthetic pairs with a known answer, and the Dataset."""

from pathlib import Path

import pytest
import torch

from reglab import warp
from reglab.data import SyntheticPairs, load_brain, load_brain_slice, synthetic_pair
from reglab.evaluation import tre
from reglab.fields import compose

MSD = Path(__file__).resolve().parents[3] / "shared" / "data" / "msd_hippocampus_l2r" / "Training"


def _template(ndim, device):
    brain = load_brain_slice("axial") if ndim == 2 else load_brain()
    if ndim == 3:        # a smaller 3D crop keeps the test fast
        brain = brain._replace(**{k: getattr(brain, k)[..., 10:58, 20:76, 12:68] for k in ("image", "labels", "tissues")})
    return brain.image.to(device), brain.labels.to(device), brain.tissues.to(device)


def _inside(tensor, margin=6):
    return tensor[(..., *[slice(margin, n - margin) for n in tensor.shape[2:]])]


@pytest.mark.parametrize("ndim", [2, 3])
def test_pair_shapes_and_types(ndim, device):
    image, labels, tissues = _template(ndim, device)
    pair = synthetic_pair(image, labels, tissues, magnitude=3.0, landmarks=8, seed=0)
    size = image.shape[2:]
    assert pair.fixed.shape == pair.moving.shape == (1, 1, *size)
    assert pair.fixed_labels.shape == pair.moving_labels.shape == (1, 1, *size)
    assert pair.fixed_labels.dtype == pair.moving_labels.dtype == torch.int64
    assert pair.displacement.shape == pair.inverse.shape == (1, ndim, *size)
    assert pair.fixed_landmarks.shape == pair.moving_landmarks.shape == (1, 8, ndim)
    assert all(t.device == image.device for t in pair)


@pytest.mark.parametrize("ndim", [2, 3])
def test_warping_moving_with_the_true_displacement_gives_fixed(ndim, device):
    """The answer is right: warp(moving, u) ≈ fixed, while the images differ before."""
    image, labels, tissues = _template(ndim, device)
    pair = synthetic_pair(image, labels, tissues, magnitude=4.0, smoothness=8.0, subject=3.0,
                          affine=dict(rotation=5.0, translation=2.0, scale=0.05, shear=0.0), seed=1)
    # compare away from the border, where the affine part maps points out of the grid (and padding takes over)
    before = (_inside(pair.moving, 12) - _inside(pair.fixed, 12)).abs().mean()
    after = (_inside(warp(pair.moving, pair.displacement), 12) - _inside(pair.fixed, 12)).abs().mean()
    assert after < 0.15 * before and after < 0.01
    warped_labels = warp(pair.moving_labels, pair.displacement, mode="nearest")
    agreement = (_inside(warped_labels, 12) == _inside(pair.fixed_labels, 12)).float().mean()
    assert agreement > 0.9                               # nearest neighbour twice: boundary voxels may differ
    residual = _inside(compose(pair.displacement, pair.inverse).norm(dim=1, keepdim=True), 12)
    assert residual.max() < 0.3 and residual.mean() < 0.03


@pytest.mark.parametrize("ndim", [2, 3])
def test_landmarks_and_labels(ndim, device):
    image, labels, tissues = _template(ndim, device)
    pair = synthetic_pair(image, labels, tissues, magnitude=4.0, landmarks=10, seed=2)
    assert tre(pair.fixed_landmarks, pair.moving_landmarks, pair.displacement).max() < 1e-4
    assert tre(pair.fixed_landmarks, pair.moving_landmarks).mean() > 0.5       # they did move
    for p in pair.fixed_landmarks[0].long().tolist():
        assert pair.fixed_labels[(0, 0, *p)] > 0                               # inside the brain
    assert set(pair.moving_labels.unique().tolist()) <= set(labels.unique().tolist())   # labels stay labels


def test_subject_zero_keeps_the_template_as_fixed(device):
    image, labels, tissues = _template(2, device)
    pair = synthetic_pair(image, labels, magnitude=2.0, subject=0.0, landmarks=0, seed=3)
    torch.testing.assert_close(pair.fixed, image)
    assert torch.equal(pair.fixed_labels, labels)
    assert pair.fixed_landmarks.shape == (1, 0, 2)


@pytest.mark.parametrize("contrast", ["t1", "t2", "pd", "random"])
def test_moving_contrasts(contrast, device):
    image, labels, tissues = _template(2, device)
    pair = synthetic_pair(image, labels, tissues, contrast=contrast, landmarks=0, seed=4)
    assert pair.moving.shape == image.shape and torch.isfinite(pair.moving).all()
    means = [pair.moving[pair.moving_labels == k].mean().item() for k in (1, 2, 3)]
    if contrast == "t2":
        assert means[0] > means[1] > means[2]
    if contrast == "t1":
        assert means[0] < means[1] < means[2]


def test_synthmorph_style_pairs_have_random_contrasts_on_both_sides(device):
    image, labels, tissues = _template(2, device)
    pair = synthetic_pair(image, labels, contrast="random", fixed_contrast="random", landmarks=6, seed=5)
    for picture, label_map in ((pair.fixed, pair.fixed_labels), (pair.moving, pair.moving_labels)):
        assert picture.min() >= 0 and picture.max() <= 1 and not torch.allclose(picture, image)
        means = [picture[label_map == k].mean().item() for k in range(4)]
        assert len({round(m, 3) for m in means}) == 4                 # every label its own intensity
    same = synthetic_pair(image, labels, contrast="random", fixed_contrast="same", landmarks=6, seed=5)
    assert torch.equal(pair.fixed_landmarks, same.fixed_landmarks)     # landmarks come from the anatomy
    assert torch.equal(pair.displacement, same.displacement)
    with pytest.raises(ValueError, match=r"fixed_contrast='pd' needs the tissue maps"):
        synthetic_pair(image, labels, fixed_contrast="pd")


def test_pairs_reproduce_by_seed(device):
    image, labels, tissues = _template(2, device)
    a = synthetic_pair(image, labels, tissues, contrast="random", seed=7)
    b = synthetic_pair(image, labels, tissues, contrast="random", seed=7)
    c = synthetic_pair(image, labels, tissues, contrast="random", seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.displacement, c.displacement)


def test_pair_errors():
    image, labels, tissues = _template(2, "cpu")
    with pytest.raises(ValueError, match=r"synthetic_pair\(\): contrast='t2' needs the tissue maps"):
        synthetic_pair(image, labels, contrast="t2")
    with pytest.raises(ValueError, match=r"synthetic_pair\(\): expected `contrast` to be one of 'same'"):
        synthetic_pair(image, labels, contrast="ct")
    with pytest.raises(ValueError, match=r"synthetic_pair\(\): expected integer `labels` of shape"):
        synthetic_pair(image, labels.float())


def test_dataset_items_are_reproducible_and_collate():
    pairs = SyntheticPairs(2, length=3, seed=0, plane="coronal", landmarks=6, subject=2.0)
    assert len(pairs) == 3
    item = pairs[0]
    assert set(item) == {"fixed", "moving", "fixed_labels", "moving_labels", "fixed_landmarks", "moving_landmarks",
                         "displacement", "inverse", "spacing"}
    assert item["fixed"].shape == (1, 168, 160) and item["displacement"].shape == (2, 168, 160)
    assert item["spacing"].tolist() == [1.0, 1.0]
    again = SyntheticPairs(2, length=3, seed=0, plane="coronal", landmarks=6, subject=2.0)[0]
    assert all(torch.equal(item[k], again[k]) for k in item)
    assert not torch.equal(item["displacement"], pairs[1]["displacement"])
    assert torch.equal(pairs[-1]["moving"], pairs[2]["moving"])
    batch = next(iter(torch.utils.data.DataLoader(pairs, batch_size=2)))
    assert batch["moving"].shape == (2, 1, 168, 160) and batch["moving_landmarks"].shape == (2, 6, 2)
    with pytest.raises(IndexError, match="out of range"):
        pairs[3]


def test_dataset_3d_item():
    pairs = SyntheticPairs(3, length=1, seed=0, magnitude=3.0, landmarks=8)
    item = pairs[0]
    assert item["fixed"].shape == (1, 84, 98, 80) and item["displacement"].shape == (3, 84, 98, 80)
    assert item["spacing"].tolist() == [2.0, 2.0, 2.0]
    assert tre(item["fixed_landmarks"][None], item["moving_landmarks"][None], item["displacement"][None]).max() < 1e-4


def test_dataset_errors():
    with pytest.raises(ValueError, match=r"SyntheticPairs\(\): expected `ndim` 2 or 3"):
        SyntheticPairs(4)
    with pytest.raises(ValueError, match=r"SyntheticPairs\(\): expected `length` to be an int >= 1"):
        SyntheticPairs(2, length=0)
    with pytest.raises(ValueError, match=r"expected `contrast` to be one of"):
        SyntheticPairs(2, contrast="xray")


@pytest.mark.skipif(not MSD.exists(), reason="the optional real dataset shared/data/msd_hippocampus_l2r is absent")
def test_pair_from_real_hippocampus_data():
    """On a real MR crop (MSD Task04, optional): the known answer still aligns the pair."""
    from reglab.io import read_image

    image = read_image(MSD / "img" / "hippocampus_001.nii.gz").data
    labels = read_image(MSD / "label" / "hippocampus_001.nii.gz", labels=True).data
    assert image.shape == labels.shape == (1, 1, 64, 64, 64) and labels.unique().tolist() == [0, 1, 2]
    image = (image - image.min()) / (image.max() - image.min())
    pair = synthetic_pair(image, labels, magnitude=3.0, smoothness=6.0, landmarks=0, seed=0)
    error = lambda u: (_inside(warp(pair.moving, u)) - _inside(pair.fixed)).abs().mean()   # noqa: E731
    assert error(pair.displacement) < 0.5 * error(0 * pair.displacement)
    assert all(error(pair.displacement) < error(scale * pair.displacement) for scale in (0.5, 0.8, 1.2, 1.5))
