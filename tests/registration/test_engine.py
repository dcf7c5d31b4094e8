"""Tests for reglab.registration: the classical engine recovers known transformations.

Ground truth comes from reglab.data's seeded generators (the true displacement is
known exactly) and, for the physical-space export, from SimpleITK's Resample and
TransformPoint. Images are small (64² in 2D, 32³ in 3D) so that the whole file runs
in well under a minute on one core.
"""

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import torch.nn.functional as F

from reglab import io, warp
from reglab.data import load_brain, load_brain_slice, random_affine, random_deformation, random_rigid
from reglab.evaluation import dice
from reglab.regularization import diffusion
from reglab.registration import (Registration, downsample, gaussian_pyramid, label_penalty, landmark_penalty,
                                 pyramid_size, refine_bspline, register, register_stages)
from reglab.transforms import Affine, BSpline, Chain, Dense, Rigid, StationaryVelocity


def brain(ndim, device):
    """A small smooth brain image: the axial slice at 64² or the volume at 32³, values in [0, 1]."""
    if ndim == 2:
        image = F.interpolate(load_brain_slice("axial").image, size=(64, 64), mode="bilinear", align_corners=True)
    else:
        image = F.interpolate(load_brain().image, size=(32, 32, 32), mode="trilinear", align_corners=True)
    return image.to(device)


def mean_error(found, true, margin):
    """Mean endpoint error in voxels, inside the image minus a border of ``margin`` voxels."""
    error = (found - true).norm(dim=1)
    inner = tuple(slice(margin, n - margin) for n in error.shape[1:])
    return error[(slice(None), *inner)].mean().item()


# ----------------------------------------------------------------------------- shapes and results


@pytest.mark.parametrize("ndim", [2, 3])
def test_result_shapes_and_history(ndim, device):
    fixed = brain(ndim, device)
    result = register(fixed, fixed.clone(), transform="affine", levels=2, iterations=3, progress=False)
    assert isinstance(result, Registration)
    assert result.warped.shape == fixed.shape and result.warped.device == fixed.device
    assert result.displacement.shape == (1, ndim, *fixed.shape[2:])
    lengths = {len(values) for values in result.history.values()}
    assert lengths == {6}                                  # 3 iterations × 2 levels, every key
    assert result.history["level"] == [0, 0, 0, 1, 1, 1]
    assert not result.warped.requires_grad and not any(p.requires_grad for p in result.transform.parameters())


def test_identical_images_stay_at_identity(device):
    fixed = brain(2, device)
    result = register(fixed, fixed, transform="rigid", optimizer="lbfgs", levels=1, iterations=10, progress=False)
    assert result.displacement.abs().max().item() < 1e-2


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("options, message", [
    ({"optimizer": "sgd"}, "`optimizer` to be one of"),
    ({"transform": "spline"}, "`transform` to be one of"),
    ({"similarity": "correlation"}, "`similarity` to be one of"),
    ({"regularization": "smooth"}, "`regularization` to be one of"),
    ({"levels": 0}, "`levels` to be an int >= 1"),
    ({"iterations": [5, 5]}, "`iterations` as an int >= 0 or 3"),
    ({"weight": -1.0}, "`weight` to be a number >= 0"),
    ({"smoothing": 1.0}, "`smoothing` needs a dense or svf model"),
    ({"smoothing": 1.0, "transform": "dense", "optimizer": "lbfgs"}, "breaks L-BFGS"),
    ({"fixed_mask": torch.ones(1, 1, 8, 8)}, "`fixed_mask` on the grid"),
    ({"transform": Affine((8, 8))}, "`transform` on the fixed grid"),
])
def test_errors(options, message):
    image = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match=message):
        register(image, image, progress=False, **options)


def test_errors_for_images():
    image = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="on the same grid.*read_image"):
        register(image, torch.rand(1, 1, 16, 12), progress=False)
    with pytest.raises(ValueError, match="two reglab.io.Image"):
        register(io.Image(image, io.Geometry.default(2)), image, progress=False)
    with pytest.raises(ValueError, match="at least 4 voxels"):
        register(torch.rand(1, 1, 2, 16), torch.rand(1, 1, 2, 16), progress=False)
    with pytest.raises(ValueError, match="B, C, H, W"):
        register(torch.rand(16, 16), torch.rand(16, 16), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        register(image, image * float("nan"), progress=False)
    with pytest.raises(ValueError, match="at least one stage"):
        register_stages(image, image, [])


# ----------------------------------------------------------------------------- known answers: linear models


@pytest.mark.parametrize("optimizer, tolerance", [("lbfgs", 0.05), ("adam", 0.2)])
def test_recovers_rigid_2d(optimizer, tolerance, device):
    fixed = brain(2, device)
    truth = random_rigid((64, 64), rotation=8, translation=4, seed=1, device=device)
    moving = warp(fixed, truth.inverse)                      # warp(moving, truth.displacement) ≈ fixed
    result = register(fixed, moving, transform="rigid", optimizer=optimizer, levels=2, iterations=100, progress=False)
    assert mean_error(truth.displacement, truth.displacement, 8) == 0
    assert mean_error(result.displacement, truth.displacement, 8) < tolerance
    assert mean_error(torch.zeros_like(truth.displacement), truth.displacement, 8) > 2   # it had to move


def test_recovers_affine_2d_with_mutual_information(device):
    fixed = brain(2, device)
    truth = random_affine((64, 64), rotation=6, translation=3, scale=0.06, shear=0.04, seed=2, device=device)
    moving = 1.0 - warp(fixed, truth.inverse)                # inverted contrast: a multimodal pair
    result = register(fixed, moving, transform="affine", similarity="mi", optimizer="adam", levels=2,
                      iterations=150, progress=False)
    assert mean_error(result.displacement, truth.displacement, 8) < 0.3


def test_recovers_rigid_3d(device):
    fixed = brain(3, device)
    truth = random_rigid((32, 32, 32), rotation=5, translation=2, seed=3, device=device)
    moving = warp(fixed, truth.inverse)
    result = register(fixed, moving, transform="rigid", optimizer="lbfgs", levels=2, iterations=40, progress=False)
    assert mean_error(result.displacement, truth.displacement, 4) < 0.1


def test_gradient_descent_recovers_a_translation(device):
    fixed = brain(2, device)
    moving = warp(fixed, torch.full((1, 2, 64, 64), -1.5, device=device))
    result = register(fixed, moving, transform="rigid", similarity="mse", optimizer="gd", learning_rate=100.0,
                      levels=2, iterations=200, progress=False)
    assert mean_error(result.displacement, torch.full_like(result.displacement, 1.5), 8) < 0.01
    assert result.history["total"][-1] < 0.5 * result.history["total"][0]


def test_batch_of_pairs(device):
    fixed = brain(2, device).expand(2, -1, -1, -1)
    truth = random_rigid((64, 64), batch=2, rotation=5, translation=3, seed=4, device=device)
    moving = warp(fixed, truth.inverse)
    result = register(fixed, moving, transform="rigid", optimizer="lbfgs", levels=2, iterations=60, progress=False)
    for b in range(2):
        assert mean_error(result.displacement[b:b + 1], truth.displacement[b:b + 1], 8) < 0.15


def test_tolerance_stops_early(device):
    fixed = brain(2, device)
    result = register(fixed, fixed, transform="affine", levels=1, iterations=100, tolerance=1.0, progress=False)
    assert len(result.history["total"]) == 11


# ----------------------------------------------------------------------------- known answers: deformable models


def deformable_pair(device):
    fixed = brain(2, device)
    truth = random_deformation((64, 64), magnitude=2.0, smoothness=12.0, seed=3, device=device).displacement
    inside = (fixed > 0.05)[:, 0]
    return fixed, warp(fixed, random_deformation((64, 64), magnitude=2.0, smoothness=12.0, seed=3,
                                                 device=device).inverse), truth, inside


@pytest.mark.parametrize("transform, options", [
    ("bspline", {"transform_options": {"spacing": 4}, "regularization": "bending_energy", "weight": 0.1}),
    ("dense", {"regularization": "diffusion", "weight": 0.1}),
    ("dense", {"smoothing": 1.0}),
    ("svf", {"regularization": "diffusion", "weight": 0.1}),
])
def test_recovers_a_smooth_deformation_2d(transform, options, device):
    fixed, moving, truth, inside = deformable_pair(device)
    before = truth.norm(dim=1)[inside].mean().item()
    result = register(fixed, moving, transform=transform, similarity="ncc", levels=2, iterations=150,
                      progress=False, **options)
    after = (result.displacement - truth).norm(dim=1)[inside].mean().item()
    assert before > 0.9 and after < 0.3                     # about 1 voxel → below 0.3 voxel inside the brain


def test_recovers_a_smooth_deformation_3d(device):
    fixed = brain(3, device)
    deformation = random_deformation((32, 32, 32), magnitude=1.5, smoothness=8.0, seed=5, device=device)
    moving = warp(fixed, deformation.inverse)
    inside = (fixed > 0.05)[:, 0]
    result = register(fixed, moving, transform="bspline", similarity="ncc", transform_options={"spacing": 4},
                      regularization="bending_energy", weight=0.05, levels=2, iterations=60, progress=False)
    before = deformation.displacement.norm(dim=1)[inside].mean().item()
    after = (result.displacement - deformation.displacement).norm(dim=1)[inside].mean().item()
    assert after < 0.5 * before


def test_regularization_weight_trades_similarity_for_smoothness(device):
    fixed, moving, _, _ = deformable_pair(device)
    results = [register(fixed, moving, transform="dense", similarity="mse", regularization="diffusion", weight=w,
                        levels=1, iterations=60, tolerance=0, progress=False) for w in (0.0, 0.1)]
    smooth = [diffusion(r.displacement).item() for r in results]
    mismatch = [((r.warped - fixed) ** 2).mean().item() for r in results]
    assert smooth[1] < smooth[0] and mismatch[1] > mismatch[0]


# ----------------------------------------------------------------------------- stages, pyramid, B-spline refinement


def test_stages_rigid_affine_bspline(device):
    fixed = brain(2, device)
    linear = random_affine((64, 64), rotation=6, translation=3, scale=0.05, shear=0.03, seed=6, device=device)
    moving = warp(fixed, linear.inverse)
    stages = ["rigid", "affine", {"transform": "bspline", "transform_options": {"spacing": 8},
                                  "regularization": "bending_energy", "weight": 0.1, "iterations": 30}]
    result = register_stages(fixed, moving, stages, optimizer="lbfgs", levels=2, iterations=50, progress=False)
    assert isinstance(result.transform, Chain)
    assert [type(t) for t in result.transform.transforms] == [Rigid, Affine, BSpline]
    assert sorted(set(result.history["stage"])) == [0, 1, 2]
    assert mean_error(result.displacement, linear.displacement, 8) < 0.3
    assert torch.allclose(result.displacement, result.transform(), atol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_refine_bspline_keeps_the_displacement(ndim, device):
    size = (33, 30) if ndim == 2 else (17, 20, 14)
    coarse = BSpline(size, spacing=4).to(device)
    with torch.no_grad():
        coarse.control.normal_()
    fine = refine_bspline(coarse)
    assert fine.spacing == (2,) * ndim
    assert torch.allclose(fine(), coarse(), atol=1e-5)
    points = torch.rand(1, 50, ndim, device=device) * (torch.tensor(size, device=device) - 1)
    assert torch.allclose(fine.transform_points(points), coarse.transform_points(points), atol=1e-5)
    with pytest.raises(ValueError, match="even control spacing"):
        refine_bspline(BSpline(size, spacing=3))


def test_pyramid(device):
    image = torch.rand(1, 1, 65, 40, device=device)
    levels = gaussian_pyramid(image, 3)
    assert [tuple(level.shape[2:]) for level in levels] == [(17, 11), (33, 21), (65, 40)]
    assert torch.equal(levels[-1], image)
    constant = torch.full((1, 1, 20, 20, 20), 3.0, device=device)
    assert torch.allclose(downsample(constant, pyramid_size((20, 20, 20), 2), sigma=1.0), torch.tensor(3.0), atol=1e-5)
    assert pyramid_size((10, 200), 8) == (8, 26)


def test_given_model_is_the_starting_point(device):
    fixed = brain(2, device)
    truth = random_rigid((64, 64), rotation=0, translation=3, seed=7, device=device)
    moving = warp(fixed, truth.inverse)
    start = Rigid((64, 64), translation=truth.matrix[:, :, 2].cpu())
    result = register(fixed, moving, transform=start, levels=1, iterations=0, progress=False)
    assert mean_error(result.displacement, truth.displacement, 8) < 1e-4
    before = start.translation.detach().clone()
    register(fixed, moving, transform=start, levels=1, iterations=5, progress=False)
    assert torch.equal(start.translation.detach(), before) and start.translation.requires_grad   # not modified


# ----------------------------------------------------------------------------- masks and penalties


def test_fixed_mask_ignores_an_artefact(device):
    fixed = brain(2, device)
    moving = warp(fixed, torch.full((1, 2, 64, 64), -2.0, device=device))
    moving[..., 4:20, 4:20] = 1.0                            # a bright artefact the fixed image does not have
    mask = torch.ones_like(fixed)
    mask[..., :24, :24] = 0
    errors = []
    for fixed_mask in (None, mask):
        result = register(fixed, moving, transform="rigid", similarity="mse", optimizer="lbfgs", levels=2,
                          iterations=50, fixed_mask=fixed_mask, progress=False)
        errors.append(mean_error(result.displacement, torch.full_like(result.displacement, 2.0), 8))
    assert errors[1] < 0.05 and errors[1] < errors[0]


def test_moving_mask_ignores_an_artefact(device):
    fixed = brain(2, device)
    moving = warp(fixed, torch.full((1, 2, 64, 64), 2.0, device=device))
    moving[..., 40:60, 40:60] = 1.0                          # an artefact in the moving image only
    mask = torch.ones_like(moving, dtype=torch.bool)
    mask[..., 36:, 36:] = False
    result = register(fixed, moving, transform="rigid", similarity="mse", optimizer="lbfgs", levels=2,
                      iterations=50, moving_mask=mask, progress=False)
    assert mean_error(result.displacement, torch.full_like(result.displacement, -2.0), 8) < 0.05


def test_landmark_penalty_value_and_registration(device):
    fixed_points = torch.tensor([[[10.0, 12.0], [40.0, 20.0], [25.0, 50.0]]], device=device)
    moving_points = fixed_points + torch.tensor([2.0, -3.0], device=device)
    u = torch.zeros(1, 2, 64, 64, device=device)
    expected = np.mean(np.sum((np.array([2.0, -3.0])) ** 2))     # every point off by (2, -3)
    assert landmark_penalty(fixed_points, moving_points)(u).item() == pytest.approx(expected)
    blank = torch.zeros(1, 1, 64, 64, device=device)           # no image evidence at all: only P drives
    result = register(blank, blank, transform="rigid", similarity="ssd", levels=2, optimizer="lbfgs", iterations=30,
                      penalty=landmark_penalty(fixed_points, moving_points), progress=False)
    assert mean_error(result.displacement, torch.tensor([2.0, -3.0], device=device).reshape(1, 2, 1, 1)
                      .expand(1, 2, 64, 64), 0) < 1e-2


def test_label_penalty_is_one_minus_dice(device):
    fixed = torch.zeros(1, 1, 16, 16, dtype=torch.long, device=device)
    fixed[..., 2:8, 2:8] = 1
    fixed[..., 9:14, 3:12] = 2
    moving = torch.roll(fixed, 2, dims=3)
    value = label_penalty(fixed, moving)(torch.zeros(1, 2, 16, 16, device=device))
    assert value.item() == pytest.approx(1 - dice(fixed, moving).mean().item(), abs=1e-5)
    shifted = torch.zeros(1, 2, 16, 16, device=device)
    shifted[:, 1] = 2.0
    assert label_penalty(fixed, moving)(shifted).item() == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- physical space and ITK export


def test_physical_space_registration_and_itk_export(device):
    """Moving on another grid (spacing 2 mm vs 1 mm, another origin), shifted by a known physical translation."""
    fixed_data = brain(2, device)
    fixed_geometry = io.Geometry((1.0, 1.0), (10.0, -5.0), (1.0, 0.0, 0.0, 1.0))
    fixed_itk = io.to_sitk(fixed_data.cpu(), fixed_geometry)
    shift = sitk.TranslationTransform(2, (2.5, -1.5))                   # fixed point p ↦ moving point p + shift (mm)
    moving_grid = sitk.Image([40, 36], sitk.sitkFloat32)
    moving_grid.SetSpacing((2.0, 2.0))
    moving_grid.SetOrigin((0.0, -12.0))
    moving_itk = sitk.Resample(fixed_itk, moving_grid, shift.GetInverse(), sitk.sitkLinear, 0.0)
    moving = io.from_sitk(moving_itk)
    fixed = io.Image(fixed_data, fixed_geometry)
    result = register(fixed, io.Image(moving.data.to(device), moving.geometry), transform="rigid", similarity="ncc",
                      optimizer="lbfgs", levels=2, iterations=40, progress=False)
    exported = result.to_itk()
    inner = [(20.0, 10.0), (40.0, 30.0), (55.0, 45.0)]
    for point in inner:
        mapped = np.array(exported.TransformPoint(point))
        assert np.allclose(mapped, np.array(point) + np.array([2.5, -1.5]), atol=0.15)
    resampled = sitk.GetArrayFromImage(sitk.Resample(moving_itk, fixed_itk, exported, sitk.sitkLinear, 0.0))
    warped = result.warped[0, 0].cpu().numpy()
    assert np.abs(resampled - warped)[8:-8, 8:-8].max() < 1e-3          # reglab's warp == SimpleITK's Resample


def test_dense_export_moves_points_like_the_model(device):
    fixed, moving, _, _ = deformable_pair(device)
    result = register(fixed, moving, transform="dense", regularization="diffusion", weight=0.1, levels=1,
                      iterations=10, progress=False)
    exported = result.to_itk()
    points = torch.tensor([[[20.0, 30.0], [41.5, 12.25]]])
    expected = result.transform.cpu().transform_points(points)[0].numpy()
    for (i, j), (ei, ej) in zip(points[0].tolist(), expected):
        x, y = exported.TransformPoint((j, i))                          # ITK order (x = column)
        assert (y, x) == pytest.approx((ei, ej), abs=1e-3)


def test_stationary_velocity_result_is_fold_free(device):
    fixed, moving, _, _ = deformable_pair(device)
    result = register(fixed, moving, transform="svf", similarity="mse", regularization="diffusion", weight=0.01,
                      levels=1, iterations=40, progress=False)
    assert isinstance(result.transform, StationaryVelocity)
    from reglab.evaluation import jacobian_determinant
    assert jacobian_determinant(result.displacement).min().item() > 0


def test_dense_model_on_coarse_levels_is_rebuilt(device):
    fixed, moving, _, _ = deformable_pair(device)
    result = register(fixed, moving, transform="dense", levels=3, iterations=[5, 5, 5], progress=False)
    assert isinstance(result.transform, Dense) and result.transform.size == (64, 64)
