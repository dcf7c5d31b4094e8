"""The result of a registration: :class:`Registration` (what :func:`~reglab.registration.engine.register` and
:func:`~reglab.registration.stages.register_stages` return), with its ITK export (:meth:`Registration.to_itk`) and
:meth:`Registration.apply`, which brings any image or label map of the moving subject onto the fixed grid.

Lab 05 (labels of the moving subject onto the fixed one) and Lab 08 (evaluation).
"""

import copy
from typing import NamedTuple

import torch

from reglab import io
from reglab.grid import identity_grid
from reglab.registration.resampling import _map_points, _resample_matrix, sample_at
from reglab.transforms import Transform
from reglab.validation import check_choice, check_image


class Registration(NamedTuple):
    """What :func:`register` and :func:`register_stages` return."""

    transform: Transform
    """the fitted model on the fixed grid (a :class:`~reglab.transforms.Chain` for several stages)."""
    warped: torch.Tensor
    """``(B, C, *fixed.shape[2:])`` the moving image warped onto the fixed grid (one interpolation)."""
    displacement: torch.Tensor
    """``(B, ndim, *fixed.shape[2:])`` ``u`` in voxels of the fixed grid: ``warped(x) = moving'(x + u(x))``
    where ``moving'`` is the moving image on the fixed grid (the moving image itself when both share a grid)."""
    history: dict
    """lists, one entry per iteration: ``total``, ``similarity`` (loss form), ``regularization`` (R, unweighted),
    ``penalty`` (P, unweighted), ``level`` (0 = coarsest) and ``stage``; for L-BFGS one entry per evaluation."""
    geometry: io.Geometry
    """the fixed image's geometry (unit spacing when tensors were given)."""
    moving_geometry: io.Geometry = None
    """the moving image's geometry (the fixed one when tensors were given)."""
    moving_size: tuple = None
    """the moving image's spatial shape (where :meth:`apply` expects a tensor without geometry)."""
    warnings: tuple = ()
    """why the result looks implausible (an affine scale far from 1, folding, a similarity that got worse),
    one sentence each, also issued as :class:`RegistrationWarning`; empty when nothing looked wrong."""

    def to_itk(self):
        """The result as a SimpleITK transform that maps fixed physical points to moving physical points.

        Read back by ``sitk.ReadTransform`` and 3D Slicer after :func:`reglab.io.write_transform`.
        """
        from reglab.transforms.itk_export import to_itk

        return to_itk(copy.deepcopy(self.transform).cpu(), self.geometry, self.geometry)

    def apply(self, image, *, mode="linear", geometry=None):
        """Bring an image or label map through the result onto the fixed grid: ``image(G⁻¹ G_F (x + u(x)))``.

        ``G_F`` maps fixed voxels to mm and ``G`` the image's voxels to mm, so an image on the moving grid
        (``G`` = the moving geometry) or on any other grid in the same physical space (another resolution,
        origin or field of view: a label map, a second contrast) lands on the fixed grid, interpolated once.

        Args:
            image: ``(B|1, C, *spatial)`` tensor on the moving grid (float, or integer for ``"nearest"`` and
                ``"label"``), or a :class:`reglab.io.Image` (its own geometry).
            mode: ``"linear"`` (intensities), ``"nearest"`` or ``"label"`` (label maps: arg-max of the linearly
                warped indicator of each label, as SimpleITK's ``sitkLabelLinear``); labels keep their dtype.
            geometry: the :class:`reglab.io.Geometry` (or an ``Image`` whose geometry it is) of a tensor
                ``image`` that is not on the moving grid.

        Returns:
            Tensor ``(B, C, *fixed.shape[2:])`` with the dtype of ``image``; zero outside the image.

        Raises:
            ValueError: an unknown mode, a tensor whose grid is not the moving one without ``geometry``,
                or a geometry of another dimension. TypeError: float16, or floats with ``"label"``.

        Example:
            >>> from reglab.registration import register
            >>> fixed = torch.zeros(1, 1, 16, 16); fixed[..., 4:12, 5:11] = 1.0
            >>> result = register(fixed, torch.roll(fixed, 2, dims=3), transform="rigid", similarity="ssd",
            ...                   levels=1, iterations=50, progress=False)
            >>> labels = torch.roll(fixed, 2, dims=3).long()
            >>> (result.apply(labels, mode="label") == fixed.long()).float().mean().item() > 0.97
            True

        Lab 05 (labels of the moving subject onto the fixed one) and Lab 08 (evaluation).
        """
        check_choice("Registration.apply", "mode", mode, ("linear", "nearest", "label"))
        if isinstance(image, io.Image):
            image, geometry = image.data, image.geometry if geometry is None else geometry
        if isinstance(geometry, io.Image):
            geometry = geometry.geometry
        if geometry is not None and not isinstance(geometry, io.Geometry):
            raise TypeError(f"Registration.apply(): expected `geometry` a reglab.io.Geometry or Image, "
                            f"got {type(geometry).__name__}.")
        ndim = self.displacement.shape[1]
        check_image("Registration.apply", "image", image, allow_integer=mode != "linear")
        if mode == "label" and image.is_floating_point():
            raise TypeError(f"Registration.apply(): expected an integer label map for mode='label', got {image.dtype}.")
        if image.dim() != ndim + 2:
            raise ValueError(f"Registration.apply(): expected a {ndim}D image (B, C, *spatial), "
                             f"got shape {tuple(image.shape)}.")
        if image.shape[0] not in (1, self.displacement.shape[0]):
            raise ValueError(f"Registration.apply(): expected a batch of 1 or {self.displacement.shape[0]}, "
                             f"got {image.shape[0]}.")
        moving_geometry = self.moving_geometry or self.geometry
        moving_size = self.moving_size or tuple(self.displacement.shape[2:])
        if geometry is None:
            if tuple(image.shape[2:]) != tuple(moving_size):
                raise ValueError(f"Registration.apply(): expected an image on the moving grid {tuple(moving_size)}, "
                                 f"got {tuple(image.shape[2:])}. Hint: pass geometry= (or a reglab.io.Image) for "
                                 "an image on another grid.")
            geometry = moving_geometry
        if geometry.ndim != ndim:
            raise ValueError(f"Registration.apply(): expected a {ndim}D geometry, got {geometry.ndim}D.")
        u = self.displacement
        image = image.to(u.device) if image.is_floating_point() else image.to(u.device)
        if image.is_floating_point():
            image = image.to(u.dtype)
        matrix = _resample_matrix(self.geometry, geometry)        # fixed voxel -> image voxel (None: the same grid)
        points = identity_grid(u.shape[2:], device=u.device, dtype=torch.float64) + u.to(torch.float64)
        coordinates = points if matrix is None else _map_points(matrix, points)
        return sample_at(image, coordinates.to(u.dtype), mode=mode)
