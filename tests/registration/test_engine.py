"""Tests for reglab.registration.engine: register and register_stages recover known transformations.

Ground truth comes from reglab.data's seeded generators (the true displacement is
known exactly) and, for the ITK export, from SimpleITK's TransformPoint.
"""

import pytest
import torch

from reglab import io, warp
from reglab.data import random_affine, random_deformation, random_rigid
from reglab.registration.engine import register
from reglab.registration.result import Registration
from reglab.registration.stages import register_stages
from reglab.regularization import diffusion
from reglab.transforms import Affine, BSpline, Chain, Rigid, StationaryVelocity
from tests.registration._cases import brain, deformable_pair, mean_error

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


def test_batch_and_dtype_errors():
    image = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match=r"register\(\): expected `fixed` and `moving` with the same batch size"):
        register(image.expand(2, -1, -1, -1), image.expand(3, -1, -1, -1), progress=False)
    for dtype in (torch.float16, torch.bfloat16):
        with pytest.raises(TypeError, match=r"register\(\): expected `fixed` as float32 or float64"):
            register(image.to(dtype), image.to(dtype), progress=False)


# ----------------------------------------------------------------------------- dtype, device and batch rules


@pytest.mark.parametrize("transform", ["rigid", "affine", "local_affine", "bspline", "dense", "svf"])
def test_result_follows_the_images_dtype(transform, device):
    # models were created in float32 and never moved: float64 images gave a float32 displacement
    fixed = brain(2, device).double()
    moving = warp(fixed, torch.full((1, 2, 64, 64), -1.0, device=device, dtype=torch.float64))
    result = register(fixed, moving, transform=transform, similarity="mse", levels=2, iterations=5, progress=False)
    assert result.displacement.dtype == result.warped.dtype == torch.float64
    assert result.displacement.device == fixed.device
    assert {p.dtype for p in result.transform.parameters()} == {torch.float64}


def test_float64_end_to_end(device):
    # an integer translation recovered in float64 closer than float32 allows (float32: 1.6e-4 voxel, float64: 1.4e-5)
    fixed = brain(2, device).double()
    moving = warp(fixed, torch.full((1, 2, 64, 64), -2.0, device=device, dtype=torch.float64), padding="border")
    result = register(fixed, moving, transform="rigid", similarity="mse", optimizer="lbfgs", levels=2, iterations=100,
                      tolerance=0, progress=False)
    assert result.displacement.dtype == torch.float64
    assert mean_error(result.displacement, torch.full_like(result.displacement, 2.0), 8) < 5e-5


def test_a_fixed_image_is_broadcast_over_a_batch_of_moving_images(device):
    # fixed with batch 1 and moving with batch 2 failed inside ncc() (the reverse worked)
    fixed = brain(2, device)
    truth = random_rigid((64, 64), batch=2, rotation=5, translation=3, seed=4, device=device)
    moving = warp(fixed, truth.inverse)
    options = dict(transform="rigid", optimizer="lbfgs", levels=2, iterations=30, progress=False)
    result = register(fixed, moving, **options)
    expected = register(fixed.expand(2, -1, -1, -1), moving, **options)
    assert result.displacement.shape == (2, 2, 64, 64) and result.warped.shape == (2, 1, 64, 64)
    torch.testing.assert_close(result.displacement, expected.displacement)


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


def test_batch_of_pairs(device):
    fixed = brain(2, device).expand(2, -1, -1, -1)
    truth = random_rigid((64, 64), batch=2, rotation=5, translation=3, seed=4, device=device)
    moving = warp(fixed, truth.inverse)
    result = register(fixed, moving, transform="rigid", optimizer="lbfgs", levels=2, iterations=60, progress=False)
    for b in range(2):
        assert mean_error(result.displacement[b:b + 1], truth.displacement[b:b + 1], 8) < 0.15


# ----------------------------------------------------------------------------- known answers: deformable models


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


# ----------------------------------------------------------------------------- stages


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


# ----------------------------------------------------------------------------- masks


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


# ----------------------------------------------------------------------------- results: ITK export, fold-free SVF


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
