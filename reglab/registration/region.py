"""The region of interest: optimise on the box that holds both images' regions, not on the whole grid.

When both images come with a region (a mask, or the scanned box that ``foreground="auto"`` finds), a fixed
voxel outside the fixed region counts for nothing, and neither does one that lands outside the moving
region. So every voxel outside the box that holds both regions is dead weight for the similarity: the
engine crops the images to that box (:func:`region_box`, :func:`crop`), optimises there, and carries the
fitted model back to the whole grid (:func:`extend_model`). On Learn2Reg's 64³ hippocampus crops, whose
scans fill about 37 x 52 x 38 voxels, that is 3.6x fewer voxels at every pyramid level.

Only models whose extension is exact or natural are cropped: a rigid or affine map is the same map with its
centre moved by the box's offset; a dense or velocity field is extended by its border values (constant
outside the box, where no data pulls on it).

Lab 05 ("Classical registration": real inter-subject pairs).
"""

import torch.nn.functional as F

from reglab.transforms import Affine, Dense, Rigid, StationaryVelocity

CROPPABLE = ("rigid", "affine", "dense", "svf")
"""The models (by name) that :func:`register` optimises on the region's box."""


def region_box(fixed_mask, moving_mask):
    """The smallest box that holds every nonzero voxel of both masks, or None when it is the whole grid.

    Args:
        fixed_mask, moving_mask: ``(B|1, 1, *spatial)`` masks on the same grid (the moving one already on the
            fixed grid), or None (no region: the whole grid counts).

    Returns:
        A tuple of ``slice`` per spatial axis, or None (a mask is missing, empty, or the box is the grid).

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 1, 8, 8); a[..., 2:5, 3:6] = 1
        >>> b = torch.zeros(1, 1, 8, 8); b[..., 3:6, 1:4] = 1
        >>> region_box(a, b)
        (slice(2, 6, None), slice(1, 6, None))
    """
    if fixed_mask is None or moving_mask is None:
        return None
    inside = (fixed_mask != 0).any(0).any(0) | (moving_mask != 0).any(0).any(0)    # (*spatial)
    if not bool(inside.any()):
        return None
    box = []
    for axis in range(inside.dim()):
        other = tuple(a for a in range(inside.dim()) if a != axis)
        hits = inside.any(dim=other).nonzero()[:, 0] if other else inside.nonzero()[:, 0]
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    if all(b.stop - b.start == n for b, n in zip(box, inside.shape)):
        return None
    return tuple(box)


def crop(tensor, box):
    """``tensor[..., box]``: the spatial box of a ``(B, C, *spatial)`` tensor (None: the tensor itself)."""
    if tensor is None or box is None:
        return tensor
    return tensor[(slice(None), slice(None), *box)]


def extend_model(model, box, size):
    """The model fitted on the box, as a model on the whole grid ``size`` (same device and dtype).

    * rigid, affine: the same matrix on the box's voxels, ``y = A (x - c) + c + t``, becomes the map on the
      grid's voxels by moving the centre ``c`` by the box's offset (exact);
    * dense, stationary velocity: the field is padded with its border values (``replicate``).

    Args:
        model: a :class:`Rigid`, :class:`Affine`, :class:`Dense` or :class:`StationaryVelocity` on the box.
        box: the tuple of slices it was fitted on.
        size: the whole grid's spatial shape.

    Returns:
        A model of the same kind on ``size``, without gradients.

    Example:
        >>> import torch
        >>> small = Affine((4, 4), translation=torch.tensor([[1.0, 0.0]]))
        >>> extend_model(small, (slice(2, 6), slice(3, 7)), (10, 10))()[0, :, 0, 0]   # a translation stays one
        tensor([1., 0.])
    """
    offset = [b.start for b in box]
    reference = next(iter(model.parameters()))
    if isinstance(model, (Rigid, Affine)):
        center = model.center + model.center.new_tensor(offset)
        if isinstance(model, Rigid):
            whole = Rigid(size, parametrization=model.parametrization if model.ndim == 3 else "euler",
                          rotation=model.angles.detach(), translation=model.translation.detach(), center=center,
                          batch=model.batch)
        else:
            whole = Affine(size, linear=model.linear_matrix().detach(), translation=model.translation.detach(),
                           center=center, batch=model.batch)
        return whole.to(reference).requires_grad_(False)
    if not isinstance(model, (Dense, StationaryVelocity)):
        raise ValueError(f"extend_model(): expected a Rigid, Affine, Dense or StationaryVelocity model, "
                         f"got {type(model).__name__}.")
    name = "field" if isinstance(model, Dense) else "velocity"
    padding = []
    for b, n in reversed(list(zip(box, size))):                   # F.pad wants the last axis first
        padding += [b.start, n - b.stop]
    field = F.pad(getattr(model, name).detach(), padding, mode="replicate")
    options = {"steps": model.steps} if isinstance(model, StationaryVelocity) else {}
    return type(model)(size, batch=model.batch, **{name: field}, **options).to(reference).requires_grad_(False)
