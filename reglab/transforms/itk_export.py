"""Export the transformation models to SimpleITK (and so to 3D Slicer and ITK tools).

reglab's models map fixed voxels to moving voxels in tensor axis order; an ITK
transform maps fixed *physical* points (mm, ``(x, y[, z])``) to moving physical
points. With ``M`` the voxel → physical map of a :class:`reglab.io.Geometry`, the
exported transform is ``T = M_moving ∘ y ∘ M_fixed⁻¹``. What each model becomes:

=====================  ==========================================================
model                  SimpleITK transform
=====================  ==========================================================
Rigid (2D)             ``Euler2DTransform`` when ``T`` is a rotation in mm, else ``AffineTransform``
Rigid (3D, Euler)      ``Euler3DTransform`` (``ComputeZYX`` on), else ``AffineTransform``
Rigid (3D, quaternion) ``VersorRigid3DTransform``, else ``AffineTransform``
Affine                 ``AffineTransform``
BSpline                ``BSplineTransform`` (the same mesh and one more cell of zero control points on
                       each side, so that the domain covers the grid with margin: see
                       :mod:`reglab.transforms.bspline`); when the
                       two geometries differ, a ``CompositeTransform`` of the fixed → moving
                       grid map and the ``BSplineTransform`` (both exact)
LocalAffine, Dense,    ``DisplacementFieldTransform`` (ITK has no such parametric models; the
StationaryVelocity     field is sampled on the fixed grid and interpolated linearly)
Chain                  ``CompositeTransform`` of the exported models, in the same order
=====================  ==========================================================

A voxel-space rotation stays a rotation in mm only when the voxels are isotropic
and both images share the spacing (and the direction matrices are rotations);
otherwise the rigid model is exported as the ``AffineTransform`` it really is.
The rotation centre is kept as the ITK transform's centre.

Lab 02 ("Transformation models") uses this module; the tests check every case
against SimpleITK's ``TransformPoint``.
"""

import SimpleITK as sitk
import torch

from reglab.io import affine_to_itk, displacement_to_itk
from reglab.transforms.affine import Affine
from reglab.transforms.bspline import BSpline
from reglab.transforms.chain import Chain
from reglab.transforms.rigid import Rigid


def to_itk(transform, fixed_geometry, moving_geometry=None):
    """A reglab transformation model → the SimpleITK transform that moves physical points identically.

    Args:
        transform: a model of :mod:`reglab.transforms` with ``batch == 1``.
        fixed_geometry: :class:`reglab.io.Geometry` of the fixed image (the model's grid).
        moving_geometry: geometry of the moving image (default: the fixed one).

    Returns:
        A ``sitk.Transform`` subclass (see the table above), usable with
        ``sitk.Resample(moving, fixed, transform)`` and ``sitk.WriteTransform``.

    Raises:
        ValueError: a batch of more than one transform, or a geometry of the wrong dimension.

    Example:
        >>> from reglab.io import Geometry
        >>> from reglab.transforms import Rigid
        >>> model = Rigid((11, 11), translation=torch.tensor([[1.0, 2.0]]))
        >>> itk = to_itk(model, Geometry.default(2, spacing=(0.5, 0.5)))
        >>> type(itk).__name__, itk.TransformPoint((0.0, 0.0))     # x = column: 2 voxels = 1 mm
        ('Euler2DTransform', (1.0, 0.5))
    """
    moving_geometry = moving_geometry or fixed_geometry
    if transform.batch != 1:
        raise ValueError(f"to_itk(): expected a model with batch 1, got batch {transform.batch}. Hint: export one pair at a time.")
    for geometry in (fixed_geometry, moving_geometry):
        if geometry.ndim != transform.ndim:
            raise ValueError(f"to_itk(): expected a {transform.ndim}D geometry, got {geometry.ndim}D.")
    if isinstance(transform, Chain):
        composite = sitk.CompositeTransform(transform.ndim)
        for index, part in enumerate(transform.transforms):     # inner models map fixed voxels to fixed voxels
            composite.AddTransform(to_itk(part, fixed_geometry, moving_geometry if index == 0 else fixed_geometry))
        return composite
    if isinstance(transform, Rigid):
        return _rigid_to_itk(transform, fixed_geometry, moving_geometry)
    if isinstance(transform, Affine):
        return _centered(affine_to_itk(transform.matrix(), fixed_geometry, moving_geometry),
                         fixed_geometry.index_to_physical(transform.center.double()), sitk.AffineTransform(transform.ndim))
    if isinstance(transform, BSpline):
        return _bspline_to_itk(transform, fixed_geometry, moving_geometry)
    return displacement_to_itk(transform().detach(), fixed_geometry, moving_geometry)


def _centered(affine, center, target):
    """Copy the map of ``affine`` (``p ↦ A p + b``) into ``target`` with its centre at ``center`` (physical)."""
    n = affine.GetDimension()
    matrix = torch.tensor(affine.GetMatrix(), dtype=torch.float64).reshape(n, n)
    offset = torch.tensor(affine.GetTranslation(), dtype=torch.float64)     # affine's centre is 0
    center = center.reshape(n)
    target.SetCenter(center.tolist())
    target.SetMatrix(matrix.flatten().tolist())
    target.SetTranslation((matrix @ center + offset - center).tolist())    # T(p) = A (p - C) + C + t
    return target


def _rigid_to_itk(transform, fixed_geometry, moving_geometry):
    """Euler2D / Euler3D / VersorRigid3D when the physical map is a rotation, else AffineTransform."""
    affine = affine_to_itk(transform.matrix(), fixed_geometry, moving_geometry)
    n = transform.ndim
    matrix = torch.tensor(affine.GetMatrix(), dtype=torch.float64).reshape(n, n)
    center = fixed_geometry.index_to_physical(transform.center.double())
    rotation = torch.allclose(matrix @ matrix.T, torch.eye(n, dtype=torch.float64), atol=1e-5) and matrix.det() > 0
    if not rotation:
        return _centered(affine, center, sitk.AffineTransform(n))
    if n == 2:
        target = sitk.Euler2DTransform()
    elif transform.parametrization == "euler":
        target = sitk.Euler3DTransform()
        target.SetComputeZYX(True)
    else:
        target = sitk.VersorRigid3DTransform()
    return _centered(_orthonormalized(affine, matrix), center, target)


def _orthonormalized(affine, matrix):
    """``affine`` with its matrix replaced by the nearest rotation (ITK's rigid SetMatrix checks to 1e-10)."""
    u, _, vh = torch.linalg.svd(matrix)
    cleaned = sitk.AffineTransform(affine)
    cleaned.SetMatrix((u @ vh).flatten().tolist())
    return cleaned


def _bspline_to_itk(transform, fixed_geometry, moving_geometry):
    """``BSplineTransform`` on the fixed image's domain (composed with the grid map when geometries differ).

    The exported mesh has one more cell on each side than the model's, its extra control points zero: the spline
    is the same on the model's domain, and the ITK domain ``[-δ, (m + 1)δ]`` covers the whole grid with a margin
    of a cell. (A domain starting exactly at voxel 0 loses voxel 0 to rounding with a fractional origin, spacing
    or a rotated direction, and ITK leaves points outside its domain unmoved.)
    """
    n = transform.ndim
    fixed = fixed_geometry.matrix()
    cells = [k - 1 for k in transform.control.shape[2:]]                 # mesh size (m + 2), tensor axis order
    extent = [c * d * s for c, d, s in zip(cells, transform.spacing, fixed_geometry.spacing)]
    start = fixed_geometry.index_to_physical(-torch.tensor(transform.spacing, dtype=torch.float64))
    bspline = sitk.BSplineTransform(n, 3)
    bspline.SetTransformDomainOrigin(start.tolist())                    # voxel (-δ, -δ[, -δ])
    bspline.SetTransformDomainDirection(fixed_geometry.direction)
    bspline.SetTransformDomainPhysicalDimensions(extent[::-1])          # ITK index order
    bspline.SetTransformDomainMeshSize(cells[::-1])
    control = transform.control.detach()[0].to("cpu", torch.float64)   # (ndim, *K) voxels, axis order
    control = torch.nn.functional.pad(control, (1, 1) * n)              # (ndim, *(K + 2)) the zero ring
    physical = torch.einsum("ij,j...->i...", fixed[:n, :n], control)    # (ndim, *K) mm, physical x, y, z
    bspline.SetParameters(physical.flatten().tolist())                  # x fastest = last tensor axis fastest
    if moving_geometry == fixed_geometry:
        return bspline
    grid_map = moving_geometry.matrix() @ torch.linalg.inv(fixed)      # fixed physical → moving physical
    composite = sitk.CompositeTransform(n)
    affine = sitk.AffineTransform(n)
    affine.SetMatrix(grid_map[:n, :n].flatten().tolist())
    affine.SetTranslation(grid_map[:n, n].tolist())
    composite.AddTransform(affine)
    composite.AddTransform(bspline)                                     # acts first: T = grid_map ∘ bspline
    return composite
