"""Tests for reglab.transforms: rigid, affine, local affine, dense, SVF models and chaining.

The B-spline FFD has its own file (test_transforms_bspline.py) and the ITK export
another (test_transforms_itk.py).
"""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from reglab.fields import affine_to_displacement, compose, integrate_velocity, resize_displacement
from reglab.transforms import (
    Affine,
    BSpline,
    Chain,
    Dense,
    LocalAffine,
    Rigid,
    StationaryVelocity,
    affine_matrix,
    euler_to_matrix,
    patch_weights,
    quaternion_to_matrix,
    rotation_matrix_2d,
    versor_to_quaternion,
)
from reglab.transforms.base import Transform, about_center, lever_radius
from reglab.warping import warp_points

SIZES = {2: (9, 12), 3: (7, 8, 10)}


def grid_points(size, device, dtype=torch.float32):
    """(1, N, ndim) every voxel of the grid."""
    axes = [torch.arange(n, device=device, dtype=dtype) for n in size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(1, -1, len(size))


def all_models(size, batch=1):
    ndim = len(size)
    models = [Rigid(size, batch=batch), Affine(size, batch=batch), LocalAffine(size, patches=2, batch=batch),
              BSpline(size, spacing=3, batch=batch), Dense(size, batch=batch), StationaryVelocity(size, batch=batch)]
    if ndim == 3:
        models.append(Rigid(size, parametrization="quaternion", batch=batch))
    return models


def randomize(model, scale=0.5):
    """Fill every parameter with small random values (in place, no grad)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn_like(p))
    return model


# ----------------------------------------------------------------------------- shape and identity

@pytest.mark.parametrize("ndim", [2, 3])
def test_every_model_starts_at_the_identity(ndim, device):
    size = SIZES[ndim]
    points = torch.rand(2, 5, ndim, device=device) * 6
    for model in all_models(size, batch=2):
        model.to(device)
        u = model()
        assert u.shape == (2, ndim, *size), type(model).__name__
        assert u.abs().max() == 0, type(model).__name__
        torch.testing.assert_close(model.transform_points(points), points)


@pytest.mark.parametrize("ndim", [2, 3])
def test_parameter_counts_follow_the_lecture_table(ndim):
    size = SIZES[ndim]
    voxels = math.prod(size)
    assert Rigid(size).num_parameters == (3 if ndim == 2 else 6)
    assert Affine(size).num_parameters == (6 if ndim == 2 else 12)
    patches = (2, 3) if ndim == 2 else (2, 1, 3)
    assert LocalAffine(size, patches=patches).num_parameters == (6 if ndim == 2 else 12) * 6
    control_points = math.prod((n - 1) // 3 + 4 for n in size)
    assert BSpline(size, spacing=3).num_parameters == ndim * control_points
    assert Dense(size).num_parameters == ndim * voxels
    assert StationaryVelocity(size).num_parameters == ndim * voxels
    assert Rigid(size, batch=4).num_parameters == Rigid(size).num_parameters      # per image pair
    if ndim == 3:
        assert Rigid(size, parametrization="quaternion").num_parameters == 6


@pytest.mark.parametrize("ndim", [2, 3])
def test_forward_on_another_grid_equals_the_resized_field(ndim, device):
    size, other = SIZES[ndim], tuple(2 * n - 1 for n in SIZES[ndim])
    model = randomize(Affine(size)).to(device)
    expected = resize_displacement(model(), other)          # linear interpolation is exact for an affine field
    torch.testing.assert_close(model(other), expected, atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------- errors

def test_errors():
    with pytest.raises(ValueError, match=r"Rigid\(\): expected `size`"):
        Rigid((1, 1, 16, 16))
    with pytest.raises(TypeError, match=r"Affine\(\): expected `size`"):
        Affine(16)
    with pytest.raises(ValueError, match=r"Rigid\(\): expected `parametrization`"):
        Rigid((8, 8, 8), parametrization="matrix")
    with pytest.raises(ValueError, match=r"Rigid\(\): expected `rotation` of shape \(1, 3\)"):
        Rigid((8, 8, 8), rotation=torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"Affine\(\): expected `center` with 2"):
        Affine((8, 8), center=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match=r"LocalAffine\(\): expected `patches`"):
        LocalAffine((8, 8), patches=(2, 0))
    with pytest.raises(ValueError, match=r"Dense\(\): expected `field` of shape \(B, 2, H, W\)"):
        Dense((8, 8), field=torch.zeros(1, 8, 8, 2))
    with pytest.raises(ValueError, match=r"Rigid\(\): expected `batch`"):
        Rigid((8, 8), batch=0)
    with pytest.raises(ValueError, match=r"Rigid.transform_points\(\): expected `points` of shape \(B, N, 2\)"):
        Rigid((8, 8)).transform_points(torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"transform_points\(\): expected `points` with batch size 2"):
        Rigid((8, 8), batch=2).transform_points(torch.zeros(3, 5, 2))
    with pytest.raises(ValueError, match=r"quaternion_to_matrix\(\): expected `quaternion` of shape \(B, 4\)"):
        quaternion_to_matrix(torch.zeros(4))
    with pytest.raises(ValueError, match=r"non-zero"):
        quaternion_to_matrix(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"euler_to_matrix\(\): expected `angles` of shape \(B, 3\)"):
        euler_to_matrix(torch.zeros(3))
    with pytest.raises(ValueError, match=r"Chain\(\): expected models on the same grid"):
        Chain(Rigid((8, 8)), Affine((8, 9)))
    with pytest.raises(ValueError, match=r"Chain\(\): expected one or more reglab transforms"):
        Chain()
    with pytest.raises(ValueError, match=r"Rigid.quaternion\(\): expected parametrization='quaternion'"):
        Rigid((8, 8, 8)).quaternion()


# ----------------------------------------------------------------------------- rotations

def test_rotation_matrix_2d_is_the_lectures_matrix():
    angle = torch.tensor([0.3, -1.2], dtype=torch.float64)
    expected = np.stack([[[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]] for a in angle.numpy()])
    np.testing.assert_allclose(rotation_matrix_2d(angle).numpy(), expected, atol=1e-12)


def test_euler_to_matrix_against_scipy():
    angles = torch.tensor([[0.3, -0.7, 1.1], [2.0, 0.1, -0.4]], dtype=torch.float64)
    expected = Rotation.from_euler("XYZ", angles.numpy()).as_matrix()   # intrinsic: Rx(a0) Ry(a1) Rz(a2)
    np.testing.assert_allclose(euler_to_matrix(angles).numpy(), expected, atol=1e-12)


def test_quaternion_to_matrix_against_scipy_and_erratum():
    q = torch.randn(6, 4, dtype=torch.float64)
    expected = Rotation.from_quat(q.numpy()).as_matrix()                # SciPy: scalar last, like q4
    np.testing.assert_allclose(quaternion_to_matrix(q).numpy(), expected, atol=1e-12)
    # the lecture's matrix, with q3 q4 in entries (1,3) and (3,1), is not a rotation
    q1, q2, q3, q4 = (q / q.norm(dim=1, keepdim=True)).unbind(1)
    lecture = quaternion_to_matrix(q).clone()
    lecture[:, 0, 2] = 2 * (q1 * q3 + q3 * q4)
    lecture[:, 2, 0] = 2 * (q1 * q3 - q3 * q4)
    eye = torch.eye(3, dtype=torch.float64).expand(6, 3, 3)
    assert (lecture @ lecture.transpose(1, 2) - eye).abs().amax() > 1e-3


def test_quaternion_matrices_are_orthonormal_with_determinant_one():
    q = torch.randn(100, 4, dtype=torch.float64)
    r = quaternion_to_matrix(q)
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(100, 3, 3))
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(100, dtype=torch.float64))
    versor = 0.5 * torch.rand(10, 3, dtype=torch.float64)
    quaternion = versor_to_quaternion(versor)
    torch.testing.assert_close(quaternion[:, :3], versor)
    torch.testing.assert_close(quaternion.norm(dim=1), torch.ones(10, dtype=torch.float64))


@pytest.mark.parametrize("parametrization", ["euler", "quaternion"])
def test_rigid_3d_is_a_rotation_about_the_center(parametrization, device):
    size = (9, 11, 13)
    model = randomize(Rigid(size, parametrization=parametrization), scale=3.0).to(device)
    points = torch.randn(1, 20, 3, device=device) * 5 + model.center
    moved = model.transform_points(points)
    center = model.center + model.translation[0]                      # where the centre goes
    torch.testing.assert_close((moved - center).norm(dim=-1), (points - model.center).norm(dim=-1))
    r = model.rotation_matrix()[0]
    torch.testing.assert_close(torch.linalg.det(r), torch.tensor(1.0, device=device))


def test_rigid_2d_known_answer(device):
    model = Rigid((11, 11), rotation=torch.tensor([[math.pi / 2]]), translation=torch.tensor([[1.0, 0.0]])).to(device)
    # (5, 9) is 4 columns right of the centre (5, 5): a quarter turn takes it 4 rows up, then 1 row down
    moved = model.transform_points(torch.tensor([[[5.0, 9.0]]], device=device))
    torch.testing.assert_close(moved, torch.tensor([[[2.0, 5.0]]], device=device), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- parameter scaling

@pytest.mark.parametrize("ndim", [2, 3])
def test_a_unit_step_of_any_parameter_moves_the_border_by_about_one_voxel(ndim):
    size = SIZES[ndim]
    for model in (Rigid(size), Affine(size)):
        for parameter in model.parameters():
            for index in range(parameter.numel()):
                with torch.no_grad():
                    parameter.zero_()
                    parameter.view(-1)[index] = 1.0
                largest = model().norm(dim=1).max().item()
                assert 0.3 < largest <= 1.0 + 1e-4, (type(model).__name__, index, largest)
                with torch.no_grad():
                    parameter.zero_()


def test_rotation_is_stored_in_voxels_of_arc():
    size = (21, 31)
    model = Rigid(size, rotation=0.2)
    assert lever_radius(size) == pytest.approx(math.hypot(20, 30) / 2)
    assert model.rotation.item() == pytest.approx(0.2 * lever_radius(size))
    assert model.angles.item() == pytest.approx(0.2)


# ----------------------------------------------------------------------------- affine

@pytest.mark.parametrize("ndim", [2, 3])
def test_affine_against_numpy(ndim, device):
    size = SIZES[ndim]
    rng = np.random.default_rng(1)
    a = np.eye(ndim) + 0.1 * rng.standard_normal((ndim, ndim))
    t = rng.standard_normal(ndim)
    c = rng.uniform(0, 5, ndim)
    model = Affine(size, linear=torch.tensor(a), translation=torch.tensor(t), center=c).to(device)
    x = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), 0).reshape(ndim, -1)
    expected = (a @ (x - c[:, None]) + c[:, None] + t[:, None] - x).reshape(1, ndim, *size)
    torch.testing.assert_close(model().cpu().double(), torch.tensor(expected), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(model(), affine_to_displacement(model.matrix(), size))    # function == module


def test_affine_matrix_helper():
    a = affine_matrix(scale=(1.5, 0.5), shear=0.2, rotation=0.3)[0].double().numpy()
    r = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    np.testing.assert_allclose(a, r @ np.diag([1.5, 0.5]) @ np.array([[1, 0.2], [0, 1]]), atol=1e-6)


def test_about_center_keeps_the_center_fixed():
    linear = torch.randn(3, 2, 2)
    center = torch.tensor([3.0, 4.0])
    matrix = about_center(linear, torch.zeros(3, 2), center)
    torch.testing.assert_close(matrix[:, :, :2] @ center + matrix[:, :, 2], center.expand(3, 2))


# ----------------------------------------------------------------------------- local affine

def test_patch_weights_are_tents_between_patch_centres():
    n, patches = 20, 3
    x = torch.linspace(-2, 22, 97, dtype=torch.float64)
    weights = patch_weights(x, n, patches)
    centres = (np.arange(patches) + 0.5) * n / patches - 0.5
    for p in range(patches):
        expected = np.interp(x.numpy(), centres, np.eye(patches)[p])   # linear, constant beyond the ends
        np.testing.assert_allclose(weights[:, p].numpy(), expected, atol=1e-12)
    torch.testing.assert_close(weights.sum(-1), torch.ones_like(x))


@pytest.mark.parametrize("ndim", [2, 3])
def test_local_affine_with_equal_patches_is_the_global_affine(ndim, device):
    size = SIZES[ndim]
    patches = (2, 3) if ndim == 2 else (3, 1, 2)
    global_model = randomize(Affine(size, center=(1.0,) * ndim)).to(device)
    local = LocalAffine(size, patches=patches, center=(1.0,) * ndim).to(device)
    with torch.no_grad():
        local.linear.copy_(global_model.linear[(...,) + (None,) * ndim].expand_as(local.linear))
        local.translation.copy_(global_model.translation[(...,) + (None,) * ndim].expand_as(local.translation))
    torch.testing.assert_close(local(), global_model(), atol=1e-5, rtol=1e-5)


def test_local_affine_is_continuous_and_local(device):
    size = (32, 32)
    model = LocalAffine(size, patches=2).to(device)
    with torch.no_grad():
        model.translation[0, :, 0, 0] = torch.tensor([4.0, 0.0])      # move only the top-left patch
    u = model()
    assert (u[0, 0, :8, :8] == 4.0).all()                             # its core moves rigidly by 4
    assert (u[0, 0, 24:, 24:] == 0.0).all()                           # the far patch does not move
    assert u.diff(dim=2).abs().max() <= 4.0 / 16 + 1e-6               # no tear: 4 voxels spread over 16
    labels = model.patch_map()
    assert labels.shape == size and labels[0, 0] == 0 and labels[-1, -1] == 3 and labels[0, -1] == 1


# ----------------------------------------------------------------------------- dense and SVF

@pytest.mark.parametrize("ndim", [2, 3])
def test_dense_and_velocity_models(ndim, device):
    size = SIZES[ndim]
    field = torch.randn(1, ndim, *size, device=device)
    dense = Dense(size, field=field).to(device)
    torch.testing.assert_close(dense(), field)
    points = torch.rand(1, 6, ndim, device=device) * 6
    torch.testing.assert_close(dense.transform_points(points), warp_points(points, field))
    svf = StationaryVelocity(size, velocity=field, steps=5).to(device)
    torch.testing.assert_close(svf(), integrate_velocity(field, steps=5))
    constant = StationaryVelocity(size, velocity=torch.full((1, ndim, *size), 1.25)).to(device)
    torch.testing.assert_close(constant(), torch.full((1, ndim, *size), 1.25, device=device))


def test_velocity_inverse_undoes_the_map(device):
    size = (24, 24)
    smooth = torch.nn.functional.interpolate(torch.randn(1, 2, 3, 3), size=size, mode="bicubic", align_corners=True)
    model = StationaryVelocity(size, velocity=smooth).to(device)
    round_trip = compose(model(), model.inverse_displacement())
    assert round_trip[..., 4:-4, 4:-4].abs().max() < 0.05


# ----------------------------------------------------------------------------- chaining

@pytest.mark.parametrize("ndim", [2, 3])
def test_chain_field_is_the_exact_point_mapping(ndim, device):
    size = SIZES[ndim]
    rigid = randomize(Rigid(size), 0.3).to(device)
    affine = randomize(Affine(size), 0.3).to(device)
    bspline = randomize(BSpline(size, spacing=3), 0.3).to(device)
    chain = Chain(rigid, affine, bspline)
    # the linear models are evaluated at the mapped points: the field is the exact point mapping at every voxel
    points = grid_points(size, device)
    exact = chain.transform_points(points)
    dense = points + chain().flatten(2).transpose(1, 2)
    torch.testing.assert_close(dense, exact, atol=1e-4, rtol=1e-4)
    # also on a pyramid level's grid (every voxel mapped as a point by the base class)
    level = tuple((n + 1) // 2 for n in size)
    torch.testing.assert_close(chain(level), Transform.resampled_displacement(chain, level), atol=1e-4, rtol=1e-4)
    # which is the composition of the displacements wherever the intermediate points stay inside the grid
    composed = points + compose(rigid(), compose(affine(), bspline())).flatten(2).transpose(1, 2)
    inner = bspline.transform_points(points)
    middle = affine.transform_points(inner)
    upper = torch.tensor(size, device=device) - 1
    inside = ((inner >= 0) & (inner <= upper) & (middle >= 0) & (middle <= upper)).all(-1)
    assert inside.float().mean() > 0.5 and not inside.all()
    torch.testing.assert_close(composed[inside], dense[inside], atol=1e-4, rtol=1e-4)


def test_chain_order_last_acts_first(device):
    size = (11, 11)
    shift = Affine(size, translation=torch.tensor([[2.0, 0.0]])).to(device)
    turn = Rigid(size, rotation=torch.tensor([[math.pi / 2]])).to(device)
    point = torch.tensor([[[5.0, 5.0]]], device=device)               # the centre
    # turn(shift(x)): shift to (7, 5), then a quarter turn about (5, 5) takes it to (5, 3)
    torch.testing.assert_close(Chain(turn, shift).transform_points(point),
                               torch.tensor([[[5.0, 7.0]]], device=device), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- gradcheck

def _gradcheck_model(model, device):
    model = model.double().to(device)
    names = [name for name, _ in model.named_parameters()]
    values = tuple(randomize(model, 0.2).get_parameter(n).detach().clone().requires_grad_(True) for n in names)

    def displacement(*params):
        return torch.func.functional_call(model, dict(zip(names, params)), ())

    assert torch.autograd.gradcheck(displacement, values, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(ndim, device):
    size = (5, 6) if ndim == 2 else (4, 5, 4)
    for model in (Rigid(size), Affine(size), LocalAffine(size, patches=2), Dense(size),
                  StationaryVelocity(size, steps=3)):
        _gradcheck_model(model, device)
    if ndim == 3:
        _gradcheck_model(Rigid(size, parametrization="quaternion"), device)
