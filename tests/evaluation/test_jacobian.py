"""Tests for reglab.evaluation: analytic fields, SimpleITK and SciPy oracles, edge cases."""

import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from scipy import ndimage

from reglab import evaluation as ev
from reglab.fields import affine_to_displacement, integrate_velocity

SIZES = {2: (23, 18), 3: (15, 12, 10)}
SPACINGS = {2: (1.5, 0.7), 3: (2.0, 0.8, 1.3)}


def smooth_field(ndim, size, device, amplitude=2.0, batch=1, seed=0):
    """A smooth random displacement (B, ndim, *size) in voxels."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(batch, ndim, *[4] * ndim, generator=generator, dtype=torch.float64)
    mode = "bilinear" if ndim == 2 else "trilinear"
    field = torch.nn.functional.interpolate(coarse, size=size, mode=mode, align_corners=True)
    return (amplitude * field).to(device)


def ellipsoid(size, center, radii, label=1):
    """An integer numpy label map holding one solid ellipsoid."""
    axes = np.meshgrid(*[np.arange(n) for n in size], indexing="ij")
    inside = sum(((a - c) / r) ** 2 for a, c, r in zip(axes, center, radii)) <= 1
    return inside.astype(np.int64) * label


def blobs(ndim, size, labels=3, seed=0):
    """A numpy label map of smoothed random blobs with `labels` labels (holes and islands included)."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=size), 1.5)
    edges = np.quantile(noise, np.linspace(0.3, 1.0, labels + 1)[:-1])
    return np.digitize(noise, edges).astype(np.int64)


def as_map(array, device):
    return torch.as_tensor(array, device=device)[None, None]


def to_sitk(array, spacing):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    return image


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("ndim", [2, 3])
def test_shapes(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device, batch=2).float()
    assert ev.jacobian_determinant(u).shape == (2, *SIZES[ndim])
    assert ev.jacobian_matrix(u).shape == (2, ndim, ndim, *SIZES[ndim])
    assert ev.curl(u).shape == ((2, *SIZES[ndim]) if ndim == 2 else (2, 3, *SIZES[ndim]))
    for fn in (ev.folding_fraction, ev.sdlogj):
        assert fn(u).shape == (2,)
    assert ev.rmse(u, u).shape == ev.inverse_consistency(u, -u).shape == (2,)
    labels = torch.stack([as_map(blobs(ndim, SIZES[ndim], seed=s), device)[0] for s in (0, 1)])
    for fn in (ev.dice, ev.iou, ev.hausdorff, ev.hd95, ev.assd):
        result = fn(labels, labels.flip(0))
        assert result.shape == (2, 3) and result.device == labels.device
    points = torch.rand(2, 5, ndim, device=device) * 8
    assert ev.tre(points, points, u).shape == (2, 5)


# --------------------------------------------------------------------------- errors


def test_errors(device):
    u = torch.zeros(1, 2, 8, 8, device=device)
    with pytest.raises(ValueError, match=r"jacobian_determinant\(\): expected `stencil`"):
        ev.jacobian_determinant(u, stencil="sobel")
    with pytest.raises(ValueError, match=r"channels-last"):
        ev.jacobian_determinant(u.movedim(1, -1))
    with pytest.raises(ValueError, match=r"rmse\(\): expected `spacing` with 2 positive"):
        ev.rmse(u, u, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"rmse\(\): expected `v` on the spatial grid"):
        ev.rmse(u, torch.zeros(1, 2, 8, 9, device=device))
    a = torch.zeros(1, 1, 8, 8, dtype=torch.long, device=device)
    with pytest.raises(ValueError, match=r"dice\(\): expected `fixed` and `moving` of the same shape"):
        ev.dice(a, torch.zeros(1, 1, 8, 7, dtype=torch.long, device=device))
    with pytest.raises(ValueError, match=r"hd95\(\): expected `fixed` and `moving` of the same shape"):
        ev.hd95(a, torch.zeros(2, 1, 8, 8, dtype=torch.long, device=device))
    with pytest.raises(ValueError, match=r"dice\(\): expected `moving` as a label map.*argmax"):
        ev.dice(a, torch.zeros(1, 3, 8, 8, device=device))
    with pytest.raises(ValueError, match=r"iou\(\): expected `fixed` to hold whole label numbers"):
        ev.iou(torch.full((1, 1, 8, 8), 0.3, device=device), a)
    with pytest.raises(ValueError, match=r"assd\(\): expected non-negative labels"):
        ev.assd(a - 1, a)
    with pytest.raises(ValueError, match=r"hausdorff\(\): expected `fixed` of shape.*Hint: add the batch"):
        ev.hausdorff(a[0, 0], a[0, 0])
    with pytest.raises(ValueError, match=r"hausdorff\(\): expected `percentile` between 0 and 100"):
        ev.hausdorff(a, a, percentile=101)
    with pytest.raises(ValueError, match=r"tre\(\): expected `fixed_points` and `moving_points` of the same"):
        ev.tre(torch.zeros(1, 4, 2, device=device), torch.zeros(1, 3, 2, device=device))
    with pytest.raises(TypeError, match=r"tre\(\): expected `fixed_points` to be a torch.Tensor.*from_numpy"):
        ev.tre(np.zeros((1, 4, 2)), torch.zeros(1, 4, 2, device=device))


# --------------------------------------------------------------------------- field quality


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("stencil", ev.STENCILS)
def test_jacobian_of_identity_and_affine(ndim, stencil, device):
    size = SIZES[ndim]
    assert torch.equal(ev.jacobian_determinant(torch.zeros(1, ndim, *size, device=device), stencil=stencil),
                       torch.ones(1, *size, device=device))
    scale = 1.3
    matrix = torch.cat([scale * torch.eye(ndim), torch.zeros(ndim, 1)], 1)[None].double().to(device)
    u = affine_to_displacement(matrix, size)
    inner = (slice(None),) + (slice(1, -1),) * ndim                # the border repeats values (documented)
    torch.testing.assert_close(ev.jacobian_determinant(u, stencil=stencil)[inner],
                               torch.full_like(u[:, 0], scale**ndim)[inner])


@pytest.mark.parametrize("ndim", [2, 3])
def test_rotation_determinant_one_and_curl_two_sin(ndim, device):
    theta = 0.2
    rotation = torch.eye(ndim + 1, dtype=torch.float64)
    rotation[:2, :2] = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    u = affine_to_displacement(rotation[None].to(device), SIZES[ndim])
    inner = (slice(None),) + (slice(1, -1),) * ndim
    torch.testing.assert_close(ev.jacobian_determinant(u)[inner], torch.ones_like(u[:, 0])[inner])
    c = ev.curl(u)
    if ndim == 2:
        torch.testing.assert_close(c[inner], torch.full_like(c, 2 * math.sin(theta))[inner])
    else:                                                           # rotation in the (0, 1) plane: about axis 2
        torch.testing.assert_close(c[:, 2][inner], torch.full_like(c[:, 2], 2 * math.sin(theta))[inner])
        torch.testing.assert_close(c[:, :2], torch.zeros_like(c[:, :2]))


@pytest.mark.parametrize("ndim", [2, 3])
def test_curl_of_gradient_field_is_zero(ndim, device):
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64, device=device) for n in SIZES[ndim]], indexing="ij")
    potential = sum(0.01 * (k + 1) * a**2 for k, a in enumerate(axes)) + 0.02 * axes[0] * axes[1]
    u = torch.stack(torch.gradient(potential))[None]               # a gradient field: no rotation
    inner = (Ellipsis,) + (slice(2, -2),) * ndim                    # torch.gradient is one-sided at the border
    torch.testing.assert_close(ev.curl(u)[inner], torch.zeros_like(ev.curl(u))[inner])


@pytest.mark.parametrize("ndim", [2, 3])
def test_jacobian_matches_simpleitk(ndim, device):
    spacing = SPACINGS[ndim]
    u = smooth_field(ndim, SIZES[ndim], device, amplitude=3.0)     # folds in places
    millimetres = u[0].cpu().numpy() * np.array(spacing).reshape(ndim, *[1] * ndim)
    vectors = np.stack(millimetres[::-1], axis=-1)                  # SimpleITK: (x, y, z) = reversed axes, last
    image = sitk.GetImageFromArray(vectors, isVector=True)
    image.SetSpacing(spacing[::-1])
    expected = sitk.GetArrayFromImage(sitk.DisplacementFieldJacobianDeterminant(image))
    for given in (None, spacing):                                   # the determinant does not depend on the spacing
        result = ev.jacobian_determinant(u, spacing=given)[0].cpu().numpy()
        np.testing.assert_allclose(result, expected, atol=1e-9)
    assert (expected <= 0).any() and (expected > 0).any()


@pytest.mark.parametrize("ndim", [2, 3])
def test_central_differences_match_numpy_gradient_inside(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device)
    array = u[0].cpu().numpy()
    gradient = np.stack([np.stack(np.gradient(array[i])) for i in range(ndim)]) + np.eye(ndim).reshape(
        ndim, ndim, *[1] * ndim)
    expected = np.linalg.det(np.moveaxis(gradient, (0, 1), (-2, -1)))
    inner = (slice(1, -1),) * ndim
    np.testing.assert_allclose(ev.jacobian_determinant(u)[0].cpu().numpy()[inner], expected[inner], atol=1e-9)


def test_forward_and_backward_stencils(device):
    u = torch.zeros(1, 2, 5, 5, dtype=torch.float64, device=device)
    u[:, 0] = torch.tensor([0.0, 1.0, 3.0, 6.0, 10.0], device=device)[:, None]   # steps 1, 2, 3, 4 along rows
    forward = ev.jacobian_determinant(u, stencil="forward")[0, :, 0]
    backward = ev.jacobian_determinant(u, stencil="backward")[0, :, 0]
    central = ev.jacobian_determinant(u)[0, :, 0]
    torch.testing.assert_close(forward, 1 + torch.tensor([1.0, 2, 3, 4, 0], dtype=torch.float64, device=device))
    torch.testing.assert_close(backward, 1 + torch.tensor([0.0, 1, 2, 3, 4], dtype=torch.float64, device=device))
    torch.testing.assert_close(central, (forward + backward) / 2)


@pytest.mark.parametrize("ndim", [2, 3])
def test_jacobian_matrix_in_mm_is_consistent_with_scaling(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device)
    spacing = torch.tensor(SPACINGS[ndim], dtype=torch.float64, device=device)
    matrix = ev.jacobian_matrix(u, spacing=SPACINGS[ndim])
    voxels = ev.jacobian_matrix(u)
    expected = voxels * (spacing[:, None] / spacing[None, :]).reshape(1, ndim, ndim, *[1] * ndim)
    torch.testing.assert_close(matrix, expected)


@pytest.mark.parametrize("ndim", [2, 3])
def test_folding_and_sdlogj_against_numpy(ndim, device):
    u = smooth_field(ndim, SIZES[ndim], device, amplitude=3.0, batch=2)
    determinant = ev.jacobian_determinant(u).cpu().numpy()
    expected_folding = (determinant <= 0).reshape(2, -1).mean(axis=1)
    expected_sdlogj = np.log(np.clip(determinant, 1e-9, 1e9)).reshape(2, -1).std(axis=1)
    np.testing.assert_allclose(ev.folding_fraction(u).cpu().numpy(), expected_folding)
    np.testing.assert_allclose(ev.sdlogj(u).cpu().numpy(), expected_sdlogj, rtol=1e-9)
    assert (expected_folding > 0).all()
    zero = torch.zeros(1, ndim, *SIZES[ndim], device=device)
    assert ev.folding_fraction(zero).item() == 0 and ev.sdlogj(zero).item() == 0


@pytest.mark.parametrize("ndim", [2, 3])
def test_rmse_against_formula(ndim, device):
    u, v = smooth_field(ndim, SIZES[ndim], device, seed=1), smooth_field(ndim, SIZES[ndim], device, seed=2)
    spacing = np.array(SPACINGS[ndim]).reshape(ndim, *[1] * ndim)
    difference = (u - v)[0].cpu().numpy() * spacing
    expected = np.sqrt((difference**2).sum(axis=0).mean())
    np.testing.assert_allclose(ev.rmse(u, v, spacing=SPACINGS[ndim]).item(), expected)
    assert ev.rmse(u, u).item() == 0


@pytest.mark.parametrize("ndim", [2, 3])
def test_inverse_consistency(ndim, device):
    velocity = smooth_field(ndim, SIZES[ndim], device, amplitude=1.0)
    forward, backward = integrate_velocity(velocity), integrate_velocity(-velocity)
    good = ev.inverse_consistency(forward, backward).item()
    bad = ev.inverse_consistency(forward, forward).item()
    assert good < bad / 20
    t = torch.tensor([1.0, -2.0, 0.5][:ndim], dtype=torch.float64, device=device).reshape(1, ndim, *[1] * ndim)
    shift = t.expand(1, ndim, *SIZES[ndim]).contiguous()
    expected = 2 * float((t.flatten() * torch.tensor(SPACINGS[ndim], dtype=torch.float64, device=device)).norm())
    assert ev.inverse_consistency(shift, shift, spacing=SPACINGS[ndim]).item() == pytest.approx(expected)


# --------------------------------------------------------------------------- landmarks


@pytest.mark.parametrize("ndim", [2, 3])
def test_tre_direction_and_units(ndim, device):
    size = SIZES[ndim]
    t = torch.tensor([2.0, -1.0, 1.5][:ndim], device=device)
    u = t.reshape(1, ndim, *[1] * ndim).expand(2, ndim, *size).contiguous()
    fixed_points = torch.rand(2, 6, ndim, device=device) * 6 + 2
    moving_points = fixed_points + t                                  # fixed point p sits at p + t in the moving image
    assert ev.tre(fixed_points, moving_points, u).abs().max() < 1e-5  # carried the right way: no error
    assert ev.tre(fixed_points, moving_points, -u).min() > 2 * t.norm() - 1e-4   # the wrong way doubles it
    spacing = torch.tensor(SPACINGS[ndim], device=device)
    expected = ((fixed_points - moving_points) * spacing).norm(dim=-1)
    torch.testing.assert_close(ev.tre(fixed_points, moving_points, spacing=SPACINGS[ndim]), expected)


# --------------------------------------------------------------------------- overlap


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


# --------------------------------------------------------------------------- surfaces


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
    by_cdist = ev._nearest_distances(points, targets, method="cdist")
    torch.testing.assert_close(by_cdist, expected)
    assert by_cdist.device == points.device
    torch.testing.assert_close(ev._nearest_distances(points.cpu(), targets.cpu(), method="kdtree"), expected.cpu())


@pytest.mark.parametrize("ndim", [2, 3])
def test_jacobian_gradcheck(ndim, device):
    u = (0.3 * torch.randn(1, ndim, *[5 if ndim == 2 else 4] * ndim, dtype=torch.float64, device=device)).requires_grad_()
    for stencil in ev.STENCILS:
        assert torch.autograd.gradcheck(lambda x: ev.jacobian_determinant(x, stencil=stencil), (u,))
    assert torch.autograd.gradcheck(lambda x: ev.curl(x, spacing=(1.0, 2.0, 3.0)[:ndim]), (u,))


# --------------------------------------------------------------------------- the report


def test_report_before_and_after(device):
    fixed = as_map(ellipsoid((24, 24), (12, 12), (7, 5)), device)
    u = torch.zeros(1, 2, 24, 24, device=device)
    u[:, 1] = 3.0
    moving = torch.roll(fixed, 3, dims=3)
    warped = torch.roll(moving, -3, dims=3)
    points = torch.tensor([[[10.0, 10.0], [14.0, 12.0]]], device=device)
    table = ev.report(fixed, moving, warped, u, fixed_points=points, moving_points=points + torch.tensor(
        [0.0, 3.0], device=device), spacing=(1.0, 2.0), inverse=-u)
    values = table.as_dict()
    assert values["Dice"][0] == pytest.approx(ev.dice(fixed, moving).item()) and values["Dice"][1] == 1
    assert values["TRE"] == pytest.approx((6.0, 0.0), abs=1e-5)
    assert values["HD"][0] == pytest.approx(6.0) and values["HD"][1] == 0
    assert values["Jacobian ≤ 0"] == (0, 0) and values["inverse consistency"][1] == pytest.approx(0, abs=1e-5)
    assert "HD95 (mm)" in str(table)
