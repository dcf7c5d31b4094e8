"""Tests for reglab.evaluation.overlap: Dice and IoU against SimpleITK, labels, batches, empty sets."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from reglab import evaluation as ev
from tests.evaluation._synthetic import SIZES, SPACINGS, as_map, blobs, to_sitk


@pytest.mark.parametrize("ndim", [2, 3])
def test_shapes(ndim, device):
    labels = torch.stack([as_map(blobs(ndim, SIZES[ndim], seed=s), device)[0] for s in (0, 1)])
    for fn in (ev.dice, ev.iou):
        result = fn(labels, labels.flip(0))
        assert result.shape == (2, 3) and result.device == labels.device


def test_errors(device):
    a = torch.zeros(1, 1, 8, 8, dtype=torch.long, device=device)
    with pytest.raises(ValueError, match=r"dice\(\): expected `fixed` and `moving` of the same shape"):
        ev.dice(a, torch.zeros(1, 1, 8, 7, dtype=torch.long, device=device))
    with pytest.raises(ValueError, match=r"dice\(\): expected `moving` as a label map.*argmax"):
        ev.dice(a, torch.zeros(1, 3, 8, 8, device=device))
    with pytest.raises(ValueError, match=r"iou\(\): expected `fixed` to hold whole label numbers"):
        ev.iou(torch.full((1, 1, 8, 8), 0.3, device=device), a)


@pytest.mark.parametrize("ndim", [2, 3])
def test_overlap_matches_simpleitk(ndim, device):
    fixed, moving = blobs(ndim, SIZES[ndim], labels=4, seed=1), blobs(ndim, SIZES[ndim], labels=4, seed=2)
    measures = sitk.LabelOverlapMeasuresImageFilter()
    measures.Execute(to_sitk(moving.astype(np.uint16), SPACINGS[ndim]), to_sitk(fixed.astype(np.uint16),
                                                                               SPACINGS[ndim]))
    dice = ev.dice(as_map(fixed, device), as_map(moving, device))[0].cpu().numpy()
    iou = ev.iou(as_map(fixed, device), as_map(moving, device))[0].cpu().numpy()
    for column, label in enumerate(range(1, 5)):
        assert dice[column] == pytest.approx(measures.GetDiceCoefficient(label), rel=1e-6)
        assert iou[column] == pytest.approx(measures.GetJaccardCoefficient(label), rel=1e-6)
    np.testing.assert_allclose(dice, 2 * iou / (1 + iou), rtol=1e-6)    # the lecture's DSC = 2 IoU / (1 + IoU)


def test_overlap_labels_batches_and_empty(device):
    fixed = torch.tensor([[1, 1, 0, 0], [3, 3, 3, 0]], device=device).reshape(2, 1, 1, 4)
    moving = torch.tensor([[1, 0, 0, 0], [3, 3, 0, 0]], device=device).reshape(2, 1, 1, 4)
    expected = torch.tensor([[2 / 3, 1.0], [1.0, 0.8]], device=device)   # label 3 absent in sample 0: `empty`
    torch.testing.assert_close(ev.dice(fixed, moving), expected)
    torch.testing.assert_close(ev.dice(fixed, moving, labels=[3, 7]), torch.tensor([[1.0, 1.0], [0.8, 1.0]],
                                                                                    device=device))
    assert ev.dice(fixed, moving, labels=[3], empty=float("nan"))[0].isnan().all()
    batched = ev.iou(fixed, moving, labels=[1, 3])
    for b in range(2):
        torch.testing.assert_close(batched[b], ev.iou(fixed[b:b + 1], moving[b:b + 1], labels=[1, 3])[0])
    assert ev.dice(fixed > 0, moving > 0).shape == (2, 1)              # bool masks: label 1
    assert ev.dice(fixed.float(), moving.float()).shape == (2, 2)        # whole numbers stored as floats
    top = torch.tensor([255, 255, 254, 0], dtype=torch.uint8, device=device).reshape(1, 1, 1, 4)   # no overflow
    torch.testing.assert_close(ev.dice(top, top.roll(1, -1), labels=[0, 254, 255]),
                               torch.tensor([[0.0, 0.0, 0.5]], device=device))
    large = torch.tensor([70000, 70000, 5, 0], device=device).reshape(1, 1, 1, 4)          # renumbered first
    torch.testing.assert_close(ev.dice(large, large.roll(1, -1), labels=[5, 70000, 9]),
                               torch.tensor([[0.0, 0.5, 1.0]], device=device))


@pytest.mark.parametrize("size", [(4, 8, 8), (5, 7, 3), (1, 1, 63), (64, 64)])
def test_bool_masks_match_numpy_counts(size, device):
    """Two bool masks are counted over their bytes, 64 at a time (a tail when N is not a multiple of 64): the
    counts of full masks (every partial sum at its largest, 128) and of random ones, batched, == NumPy's."""
    generator = torch.Generator().manual_seed(2)
    fixed = torch.rand(3, 1, *size, generator=generator) < 0.4
    moving = torch.rand(3, 1, *size, generator=generator) < 0.6
    fixed[0], moving[0] = True, True                                                # all voxels in both
    moving[1] = False                                                               # label 1 absent from one map
    result = ev.dice(fixed.to(device), moving.to(device), labels=[0, 1]).cpu().numpy()
    overlap = ev.iou(fixed.to(device), moving.to(device), labels=[0, 1]).cpu().numpy()
    for b in range(3):
        for column, label in enumerate((False, True)):
            f, m = fixed[b].numpy() == label, moving[b].numpy() == label
            total, both, union = f.sum() + m.sum(), (f & m).sum(), (f | m).sum()
            assert result[b, column] == pytest.approx(2 * both / total if total else 1.0, rel=1e-6)
            assert overlap[b, column] == pytest.approx(both / union if union else 1.0, rel=1e-6)
