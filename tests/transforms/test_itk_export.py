"""Oracle tests: reglab's models and SimpleITK's transforms move physical points to the same places.

Two kinds of checks:
* parameters: an ITK transform built by hand from the model's parameters (with the
  conventions documented in reglab.transforms.rigid) maps points like the model;
* export: ``to_itk`` gives the transform type of the table in reglab.transforms.itk_export,
  and SimpleITK's ``TransformPoint`` agrees with ``model.transform_points``.
"""

import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from reglab.io import Geometry
from reglab.transforms import Affine, BSpline, Chain, Dense, LocalAffine, Rigid, StationaryVelocity
from reglab.transforms.itk_export import to_itk


def isotropic(ndim):
    """0.8 mm voxels, a non-zero origin, identity direction."""
    return Geometry((0.8,) * ndim, (12.0, -7.5, 3.0)[:ndim], tuple(np.eye(ndim).flatten()))


def oblique(ndim, spacing):
    """Anisotropic voxels, a non-zero origin and a rotated direction matrix."""
    angle = 0.4
    rotation = np.eye(ndim)
    rotation[:2, :2] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    return Geometry(spacing, (-20.0, 15.0, 4.0)[:ndim], tuple(rotation.flatten()))


def itk_points(transform, points):
    """SimpleITK's TransformPoint over (N, ndim) physical points."""
    return torch.tensor([transform.TransformPoint(p.tolist()) for p in points], dtype=torch.float64)


def assert_same_mapping(model, itk, fixed, moving, points, atol=1e-4):
    """model.transform_points in voxels == ITK's TransformPoint in mm, through the geometries."""
    moved = model.transform_points(points.float()[None])[0].detach().double().cpu()
    expected = moving.physical_to_index(itk_points(itk, fixed.index_to_physical(points.double().cpu())))
    torch.testing.assert_close(moved, expected, atol=atol, rtol=0)


def random_points(size, count=25):
    return torch.rand(count, len(size), dtype=torch.float64) * (torch.tensor(size, dtype=torch.float64) - 1)


# ----------------------------------------------------------------------------- same parameters

def test_euler2d_with_the_same_parameters(device):
    size, geometry = (20, 30), isotropic(2)
    angle, t, center = 0.35, torch.tensor([1.5, -2.0]), torch.tensor([8.0, 11.0])
    model = Rigid(size, rotation=angle, translation=t, center=center).to(device)
    itk = sitk.Euler2DTransform()
    itk.SetCenter(geometry.index_to_physical(center.double()).tolist())
    itk.SetAngle(-angle)                                             # axes reversed: the angle flips sign
    itk.SetTranslation((0.8 * t.flip(0)).tolist())
    assert_same_mapping(model, itk, geometry, geometry, random_points(size))


def test_euler3d_with_the_same_parameters(device):
    size, geometry = (12, 14, 16), isotropic(3)
    angles, t = torch.tensor([0.3, -0.5, 0.8]), torch.tensor([1.0, 2.0, -1.5])
    model = Rigid(size, rotation=angles, translation=t).to(device)
    itk = sitk.Euler3DTransform()
    itk.SetComputeZYX(True)
    itk.SetCenter(geometry.index_to_physical(model.center.double().cpu()).tolist())
    itk.SetRotation(-0.8, 0.5, -0.3)                                 # (x, y, z) = (-θ2, -θ1, -θ0)
    itk.SetTranslation((0.8 * t.flip(0)).tolist())
    assert_same_mapping(model, itk, geometry, geometry, random_points(size))


def test_versor_rigid3d_with_the_same_parameters(device):
    size, geometry = (12, 14, 16), isotropic(3)
    versor, t = torch.tensor([0.2, -0.3, 0.1]), torch.tensor([-1.0, 0.5, 2.0])
    model = Rigid(size, parametrization="quaternion", rotation=versor, translation=t).to(device)
    itk = sitk.VersorRigid3DTransform()
    itk.SetCenter(geometry.index_to_physical(model.center.double().cpu()).tolist())
    q4 = math.sqrt(1 - float(versor.square().sum()))
    itk.SetRotation((-0.1, 0.3, -0.2, q4))                           # (x, y, z, w) = (-q3, -q2, -q1, q4)
    itk.SetTranslation((0.8 * t.flip(0)).tolist())
    assert_same_mapping(model, itk, geometry, geometry, random_points(size))


@pytest.mark.parametrize("ndim", [2, 3])
def test_affine_transform_with_the_same_parameters(ndim, device):
    size = (10, 12, 9)[:ndim]
    fixed, moving = oblique(ndim, (1.2, 0.7, 0.9)[:ndim]), isotropic(ndim)
    rng = np.random.default_rng(3)
    a = np.eye(ndim) + 0.1 * rng.standard_normal((ndim, ndim))
    t = rng.standard_normal(ndim)
    model = Affine(size, linear=torch.tensor(a), translation=torch.tensor(t)).to(device)
    # the physical matrix written out: p = o + D S P x, so T = M_moving [A | t'] M_fixed^-1
    def voxel_to_physical(g):
        m = np.eye(ndim + 1)
        m[:ndim, :ndim] = np.array(g.direction).reshape(ndim, ndim) @ np.diag(g.spacing[::-1]) @ np.eye(ndim)[::-1]
        m[:ndim, ndim] = g.origin
        return m
    voxel = np.eye(ndim + 1)
    voxel[:ndim] = model.matrix()[0].detach().double().cpu().numpy()
    physical = voxel_to_physical(moving) @ voxel @ np.linalg.inv(voxel_to_physical(fixed))
    itk = sitk.AffineTransform(ndim)
    itk.SetMatrix(physical[:ndim, :ndim].flatten().tolist())
    itk.SetTranslation(physical[:ndim, ndim].tolist())
    assert_same_mapping(model, itk, fixed, moving, random_points(size))


# ----------------------------------------------------------------------------- export

@pytest.mark.parametrize("ndim, parametrization, kind", [
    (2, "euler", "Euler2DTransform"), (3, "euler", "Euler3DTransform"), (3, "quaternion", "VersorRigid3DTransform"),
])
def test_rigid_export_type_and_points(ndim, parametrization, kind, device):
    size = (11, 13, 12)[:ndim]
    model = Rigid(size, parametrization=parametrization, center=(3.0,) * ndim).to(device)
    with torch.no_grad():
        model.rotation.normal_(0, 2.0)
        model.translation.normal_()
    fixed = isotropic(ndim)
    moving = Geometry((0.8,) * ndim, (1.0, 2.0, 3.0)[:ndim], tuple(np.eye(ndim).flatten()))
    itk = to_itk(model, fixed, moving)
    assert itk.GetName() == kind
    np.testing.assert_allclose(itk.GetCenter(), fixed.index_to_physical(torch.full((ndim,), 3.0)).numpy())
    assert_same_mapping(model, itk, fixed, moving, random_points(size))
    # anisotropic voxels: a voxel-space rotation is not a rotation in mm, so it becomes an AffineTransform
    stretched = oblique(ndim, (1.5, 0.5, 1.0)[:ndim])
    itk = to_itk(model, stretched)
    assert itk.GetName() == "AffineTransform"
    assert_same_mapping(model, itk, stretched, stretched, random_points(size))


@pytest.mark.parametrize("ndim", [2, 3])
def test_affine_export(ndim, device):
    size = (10, 12, 9)[:ndim]
    model = Affine(size).to(device)
    with torch.no_grad():
        model.linear.normal_()
        model.translation.normal_()
    fixed, moving = oblique(ndim, (1.2, 0.7, 0.9)[:ndim]), isotropic(ndim)
    itk = to_itk(model, fixed, moving)
    assert itk.GetName() == "AffineTransform"
    assert_same_mapping(model, itk, fixed, moving, random_points(size))


@pytest.mark.parametrize("ndim", [2, 3])
def test_bspline_export_matches_itk_bspline_transform(ndim, device):
    size, spacing = ((23, 17), (5, 4)) if ndim == 2 else ((11, 9, 13), (3, 4, 5))
    model = BSpline(size, spacing=spacing).to(device)
    with torch.no_grad():
        model.control.normal_()
    fixed = oblique(ndim, (1.2, 0.7, 0.9)[:ndim])
    itk = to_itk(model, fixed)
    assert itk.GetName() == "BSplineTransform"
    # the model's mesh with one more cell on each side (zero control points): the domain covers the grid with margin
    assert list(itk.GetTransformDomainMeshSize()) == [(n - 1) // d + 3 for n, d in zip(size, spacing)][::-1]
    assert_same_mapping(model, itk, fixed, fixed, random_points(size, 60))
    # different fixed and moving grids: a composite of the grid map and the B-spline, still exact
    itk = to_itk(model, fixed, isotropic(ndim))
    assert itk.GetName() == "CompositeTransform"
    assert_same_mapping(model, itk, fixed, isotropic(ndim), random_points(size, 60))


def border_voxels(size):
    """``(N, ndim)`` every voxel on the first or last row/column/slice of a grid."""
    voxels = torch.stack(torch.meshgrid(*[torch.arange(n) for n in size], indexing="ij"), -1)
    border = torch.zeros(size, dtype=torch.bool)
    for axis, n in enumerate(size):
        border |= (voxels[..., axis] == 0) | (voxels[..., axis] == n - 1)
    return voxels[border].double()


@pytest.mark.parametrize("ndim", [2, 3])
def test_bspline_export_moves_every_border_voxel(ndim, device):
    # the domain used to start exactly at voxel 0: with a fractional origin and spacing and a rotated direction,
    # rounding put voxel 0 outside it and ITK left the whole first row/column unmoved (off by up to 2 voxels)
    size, spacing = ((23, 17), (5, 4)) if ndim == 2 else ((11, 9, 13), (3, 4, 5))
    model = BSpline(size, spacing=spacing).to(device)
    with torch.no_grad():
        model.control.normal_()
    angle = 0.3
    rotation = np.eye(ndim)
    rotation[:2, :2] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    fixed = Geometry((0.7, 1.3, 0.9)[:ndim], (-20.3, 15.7, 4.1)[:ndim], tuple(rotation.flatten()))
    itk = to_itk(model, fixed)
    voxels = border_voxels(size)
    field = model().detach()[0].cpu().double()                                   # (ndim, *size) voxels
    expected = voxels + field[(slice(None), *voxels.long().T)].T
    found = fixed.physical_to_index(itk_points(itk, fixed.index_to_physical(voxels)))
    torch.testing.assert_close(found, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_dense_models_export_as_displacement_fields(ndim, device):
    size = (9, 10, 8)[:ndim]
    fixed, moving = oblique(ndim, (1.2, 0.7, 0.9)[:ndim]), isotropic(ndim)
    voxels = torch.stack(torch.meshgrid(*[torch.arange(n) for n in size], indexing="ij"), -1).reshape(-1, ndim)
    for model in (LocalAffine(size, patches=2), Dense(size), StationaryVelocity(size)):
        model.to(device)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.5)
        itk = to_itk(model, fixed, moving)
        assert itk.GetName() == "DisplacementFieldTransform"
        assert_same_mapping(model, itk, fixed, moving, voxels[::7].double())   # exact at voxel centres


@pytest.mark.parametrize("ndim", [2, 3])
def test_chain_exports_as_a_composite(ndim, device):
    size = (12, 14, 10)[:ndim]
    rigid, affine, bspline = Rigid(size), Affine(size), BSpline(size, spacing=4)
    chain = Chain(rigid, affine, bspline).to(device)
    with torch.no_grad():
        for p in chain.parameters():
            p.normal_(0, 0.5)
    fixed, moving = isotropic(ndim), oblique(ndim, (1.0, 0.6, 0.8)[:ndim])
    itk = to_itk(chain, fixed, moving)
    assert itk.GetName() == "CompositeTransform" and itk.GetNumberOfTransforms() == 3
    assert_same_mapping(chain, itk, fixed, moving, random_points(size))


@pytest.mark.parametrize("ndim", [2, 3])
def test_chain_field_matches_the_itk_composite_on_every_voxel(ndim, device):
    # the chain's field interpolated the affine model's field (border padding) at points the B-spline moves
    # outside the grid, instead of evaluating the affine map there: off by up to 0.17 voxel near the border
    size = (20, 24, 14)[:ndim]
    affine, bspline = Affine(size), BSpline(size, spacing=5)
    chain = Chain(affine, bspline).to(device)
    with torch.no_grad():
        affine.linear.normal_(0, 1.0)
        affine.translation.normal_(0, 1.0)
        bspline.control.normal_(0, 1.0)
    fixed, moving = isotropic(ndim), oblique(ndim, (1.0, 0.6, 0.8)[:ndim])
    itk = to_itk(chain, fixed, moving)
    voxels = torch.stack(torch.meshgrid(*[torch.arange(n) for n in size], indexing="ij"), -1).reshape(-1, ndim)
    field = chain().detach()[0].cpu().double().flatten(1).T                         # (N, ndim) voxels
    found = moving.physical_to_index(itk_points(itk, fixed.index_to_physical(voxels.double())))
    torch.testing.assert_close(found, voxels + field, atol=1e-4, rtol=0)


def test_export_errors():
    with pytest.raises(ValueError, match=r"to_itk\(\): expected a model with batch 1"):
        to_itk(Rigid((8, 8), batch=2), isotropic(2))
    with pytest.raises(ValueError, match=r"to_itk\(\): expected a 3D geometry"):
        to_itk(Rigid((8, 8, 8)), isotropic(2))
