"""Tests for reglab.evaluation.surface_distance: HD, HD95 and ASSD against SciPy's EDT and SimpleITK, edge cases."""

import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from scipy import ndimage

from reglab import evaluation as ev
from reglab.evaluation.surface_distance import (_nearest_distances, _nearest_same_label, _percentile,
                                                 _percentiles_by_label)
from tests.evaluation._synthetic import SIZES, SPACINGS, as_map, blobs, ellipsoid, to_sitk


@pytest.mark.parametrize("ndim", [2, 3])
def test_shapes(ndim, device):
    labels = torch.stack([as_map(blobs(ndim, SIZES[ndim], seed=s), device)[0] for s in (0, 1)])
    for fn in (ev.hausdorff, ev.hd95, ev.assd):
        result = fn(labels, labels.flip(0))
        assert result.shape == (2, 3) and result.device == labels.device


def test_errors(device):
    a = torch.zeros(1, 1, 8, 8, dtype=torch.long, device=device)
    with pytest.raises(ValueError, match=r"hd95\(\): expected `fixed` and `moving` of the same shape"):
        ev.hd95(a, torch.zeros(2, 1, 8, 8, dtype=torch.long, device=device))
    with pytest.raises(ValueError, match=r"assd\(\): expected non-negative labels"):
        ev.assd(a - 1, a)
    with pytest.raises(ValueError, match=r"hausdorff\(\): expected `fixed` of shape.*Hint: add the batch"):
        ev.hausdorff(a[0, 0], a[0, 0])
    with pytest.raises(ValueError, match=r"hausdorff\(\): expected `percentile` between 0 and 100"):
        ev.hausdorff(a, a, percentile=101)


def scipy_surface_distances(fixed, moving, spacing):
    """The directed distances between boundaries by SciPy's exact Euclidean distance transform."""
    def boundary(mask):
        structure = ndimage.generate_binary_structure(mask.ndim, 1)
        return mask & ~ndimage.binary_erosion(mask, structure, border_value=0)
    a, b = boundary(fixed), boundary(moving)
    to_b = ndimage.distance_transform_edt(~b, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~a, sampling=spacing)
    return to_b[a], to_a[b]


@pytest.mark.parametrize("ndim", [2, 3])
def test_surface_distances_match_scipy_edt(ndim, device):
    spacing = SPACINGS[ndim]
    fixed, moving = blobs(ndim, SIZES[ndim], labels=3, seed=3), blobs(ndim, SIZES[ndim], labels=3, seed=4)
    f, m = as_map(fixed, device), as_map(moving, device)
    results = {name: fn(f, m, spacing=spacing)[0].cpu().numpy() for name, fn in
               (("hd", ev.hausdorff), ("hd95", ev.hd95), ("assd", ev.assd))}
    pooled = ev.hd95(f, m, spacing=spacing, pooled=True)[0].cpu().numpy()
    for column, label in enumerate(range(1, 4)):
        da, db = scipy_surface_distances(fixed == label, moving == label, spacing)
        assert results["hd"][column] == pytest.approx(max(da.max(), db.max()), rel=1e-5)
        assert results["hd95"][column] == pytest.approx(max(np.percentile(da, 95), np.percentile(db, 95)), rel=1e-5)
        assert results["assd"][column] == pytest.approx((da.sum() + db.sum()) / (da.size + db.size), rel=1e-5)
        assert pooled[column] == pytest.approx(np.percentile(np.concatenate([da, db]), 95), rel=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_hausdorff_matches_simpleitk_on_solid_shapes(ndim, device):
    size, spacing = SIZES[ndim], SPACINGS[ndim]
    centre = [n / 2 for n in size]
    fixed = ellipsoid(size, centre, [n / 3 for n in size])
    moving = ellipsoid(size, [c + 1.5 for c in centre], [n / 4 for n in size])
    hausdorff = sitk.HausdorffDistanceImageFilter()
    hausdorff.Execute(to_sitk(fixed.astype(np.uint8), spacing), to_sitk(moving.astype(np.uint8), spacing))
    result = ev.hausdorff(as_map(fixed, device), as_map(moving, device), spacing=spacing).item()
    assert result == pytest.approx(hausdorff.GetHausdorffDistance(), rel=1e-5)


def test_edge_cases(device):
    empty = torch.zeros(1, 1, 6, 6, dtype=torch.long, device=device)
    dot = empty.clone()
    dot[..., 1, 1] = 1
    far = empty.clone()
    far[..., 4, 5] = 1
    for fn in (ev.hausdorff, ev.hd95, ev.assd):
        assert fn(empty, empty, labels=[1]).item() == 0                 # absent from both: `empty`
        assert fn(empty, empty, labels=[1], empty=-1.0).item() == -1
        assert fn(dot, empty, labels=[1]).item() == math.inf            # absent from one: infinitely far
        assert fn(dot, far).item() == pytest.approx(5.0)                # single voxels: their distance
        assert fn(dot, dot).item() == 0
    assert ev.dice(empty, empty).shape == (1, 0)                        # no labels at all: no columns
    assert ev.hausdorff(empty, empty).shape == (1, 0)
    assert ev.dice(dot, far).item() == 0


@pytest.mark.parametrize("ndim", [2, 3])
def test_surface_distances_batched_equal_per_sample(ndim, device):
    fixed = torch.stack([as_map(blobs(ndim, SIZES[ndim], seed=s), device)[0] for s in (5, 6)])
    moving = torch.stack([as_map(blobs(ndim, SIZES[ndim], seed=s), device)[0] for s in (7, 8)])
    for fn in (ev.hausdorff, ev.hd95, ev.assd):
        batched = fn(fixed, moving, spacing=SPACINGS[ndim], labels=[1, 2, 3])
        for b in range(2):
            single = fn(fixed[b:b + 1], moving[b:b + 1], spacing=SPACINGS[ndim], labels=[1, 2, 3])
            torch.testing.assert_close(batched[b], single[0])


def test_one_stray_voxel_moves_hd_not_hd95(device):
    fixed = torch.zeros(1, 1, 30, 30, dtype=torch.long, device=device)
    fixed[..., 8:22, 8:22] = 1
    moving = fixed.clone()
    moving[..., 0, 29] = 1
    assert ev.hausdorff(fixed, moving).item() == pytest.approx(math.hypot(8, 8))
    assert ev.hd95(fixed, moving).item() == 0


def test_kdtree_and_cdist_agree(device):
    points = torch.rand(500, 3, dtype=torch.float64, device=device) * 40
    targets = torch.rand(300, 3, dtype=torch.float64, device=device) * 40
    expected = torch.stack([(targets - p).norm(dim=1).min() for p in points])       # all pairs, one by one
    by_cdist = _nearest_distances(points, targets, method="cdist")
    torch.testing.assert_close(by_cdist, expected)
    assert by_cdist.device == points.device
    torch.testing.assert_close(_nearest_distances(points.cpu(), targets.cpu(), method="kdtree"), expected.cpu())


@pytest.mark.parametrize("name", ["hausdorff", "hd95", "assd"])
def test_spacing_as_a_number_is_isotropic_and_a_string_is_rejected(name, device):
    """`spacing=2.0` crashed with "'float' object is not iterable" (issue 14)."""
    fixed = torch.zeros(1, 1, 10, 10, dtype=torch.long, device=device); fixed[..., 2:6, 3:7] = 1
    moving = torch.roll(fixed, (1, 2), dims=(2, 3))
    function = getattr(ev, name)
    torch.testing.assert_close(function(fixed, moving, spacing=2.0), 2 * function(fixed, moving))
    with pytest.raises(TypeError, match=rf"{name}\(\): expected `spacing` as a number .* got the string '1 1'"):
        function(fixed, moving, spacing="1 1")


def test_percentiles_by_label_equal_the_percentile_of_each_label(device):
    """The one-sort percentiles of all labels (used by hausdorff/hd95) == _percentile of each label's values."""
    generator = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        values = (torch.rand(300, generator=generator, dtype=dtype) * 20).round(decimals=1).to(device)  # with ties
        labels = torch.randint(1, 6, (300,), generator=generator).to(device)
        chosen = torch.tensor([5, 2, 9, 2, 1], device=device)                       # unsorted, repeated, absent (9)
        for q in (0, 50, 95, 100):
            result = _percentiles_by_label(values, labels, chosen, q)
            expected = [_percentile(values[labels == label], q) if (labels == label).any() else math.nan
                        for label in chosen.tolist()]
            torch.testing.assert_close(result, torch.tensor(expected, dtype=dtype, device=device), equal_nan=True,
                                       rtol=0, atol=0)


def test_one_search_for_all_labels_equals_one_per_label(device):
    """hausdorff/hd95/assd of a multi-label map (one nearest-neighbour search for all labels) == each label alone,
    with anisotropic spacing, labels missing from one map or both, and a label list unsorted with repeats."""
    fixed = as_map(blobs(3, SIZES[3], labels=4, seed=11), device)
    moving = as_map(blobs(3, SIZES[3], labels=4, seed=12), device)
    moving = torch.where(moving == 3, 0, moving)                                    # label 3: only in `fixed`
    chosen = [4, 1, 3, 7, 1, 2]                                                      # 7 in neither
    for fn in (ev.hausdorff, ev.hd95, ev.assd):
        together = fn(fixed, moving, labels=chosen, spacing=SPACINGS[3])[0]
        alone = [fn((fixed == label).long(), (moving == label).long(), labels=[1], spacing=SPACINGS[3]).item()
                 for label in chosen]
        torch.testing.assert_close(together.cpu(), torch.tensor(alone, dtype=together.dtype))
        assert together[2] == math.inf and together[3] == 0


def test_nearest_same_label_kdtree_and_cdist_agree_with_all_pairs(device):
    generator = torch.Generator().manual_seed(1)
    points = (torch.rand(400, 3, generator=generator) * 30).to(device)
    targets = (torch.rand(250, 3, generator=generator) * 30).to(device)
    point_labels = torch.randint(1, 4, (400,), generator=generator).sort().values.to(device)
    target_labels = torch.randint(1, 4, (250,), generator=generator).sort().values.to(device)
    expected = torch.stack([(targets[target_labels == label] - p).norm(dim=1).min()
                            for p, label in zip(points, point_labels)])
    for method in ("kdtree", "cdist") if device.type == "cpu" else ("cdist",):
        inputs = [x.cpu() for x in (points, point_labels, targets, target_labels)] if method == "kdtree" else \
            (points, point_labels, targets, target_labels)
        torch.testing.assert_close(_nearest_same_label(*inputs, method=method).to(device), expected)
