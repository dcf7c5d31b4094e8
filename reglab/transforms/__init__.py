"""Transformation models of the lecture, as ``nn.Module`` s whose parameters are Θ.

=======================  ==============================  ====================  ==============
model                    class                           parameters 2D (3D)    use
=======================  ==============================  ====================  ==============
rigid                    :class:`Rigid`                  3 (6)                 initial alignment
affine, global           :class:`Affine`                 6 (12)                initial alignment
affine, local            :class:`LocalAffine`            6 (12) × patches      deformable
cubic B-spline FFD       :class:`BSpline`                2 (3) × control pts   deformable
dense displacement       :class:`Dense`                  2 (3) × voxels        deformable
stationary velocity      :class:`StationaryVelocity`     2 (3) × voxels        diffeomorphic
=======================  ==============================  ====================  ==============

Every model lives on the fixed grid ``size``, starts at the identity, returns its
displacement ``(B, ndim, *size)`` in voxels with ``model()`` (ready for
``reglab.warp(moving, model())``), maps points with ``transform_points``, and
reports ``num_parameters``. :class:`Chain` composes them (the last one acts
first); :mod:`reglab.transforms.itk_export` writes them for SimpleITK and 3D Slicer.
Parameters are stored in voxels of motion so that one step size fits all
(see :mod:`reglab.transforms.base`).

Lab 02 ("Transformation models") teaches this package.
"""

from reglab.transforms.affine import Affine, affine_matrix
from reglab.transforms.base import Transform
from reglab.transforms.bspline import (BSpline, bspline_basis, bspline_displacement, bspline_matrix, bspline_points,
                                       bspline_resampled, control_grid_size)
from reglab.transforms.chain import Chain
from reglab.transforms.dense import Dense
from reglab.transforms.local_affine import LocalAffine, patch_weights
from reglab.transforms.rigid import (
    Rigid,
    euler_to_matrix,
    quaternion_to_matrix,
    rotation_matrix_2d,
    versor_to_quaternion,
)
from reglab.transforms.velocity import StationaryVelocity

__all__ = [
    "Affine", "BSpline", "Chain", "Dense", "LocalAffine", "Rigid", "StationaryVelocity", "Transform",
    "affine_matrix", "bspline_basis", "bspline_displacement", "bspline_matrix", "bspline_points", "bspline_resampled",
    "control_grid_size",
    "euler_to_matrix", "patch_weights", "quaternion_to_matrix", "rotation_matrix_2d", "versor_to_quaternion",
]
