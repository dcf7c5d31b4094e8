"""Coordinate grids: reglab's conventions, written once.

The conventions card (also in the README):

* An image is ``(B, C, H, W)`` in 2D or ``(B, C, D, H, W)`` in 3D.
* A **displacement** ``u`` is ``(B, ndim, *spatial)`` in **voxels**. Channel ``i``
  moves along spatial axis ``i`` (so in 2D channel 0 is the row axis H, channel 1
  the column axis W). ``u`` lives on the grid of the fixed image.
* The transformation is ``y(x) = x + u(x)`` and warping is **backward (pull)**:
  ``warped(x) = moving(x + u(x))``: every output voxel fetches its value from the
  moving image.
* Coordinates are voxel indices in axis order ``(i, j[, k])``; voxel ``i`` has its
  centre at coordinate ``i``. Millimetres live at the edges (``reglab.io`` and
  measures that take ``spacing=``).

``torch.nn.functional.grid_sample`` wants something else: normalized
coordinates in ``[-1, 1]``, the axes reversed to ``(x, y[, z]) = (W, H[, D])``,
and channels last ``(B, *spatial, ndim)``. Exactly one function,
:func:`to_grid_sample`, converts reglab's coordinates into that form.

``align_corners`` is fixed to ``True``: coordinate ``-1`` is the *centre* of the
first voxel and ``+1`` the centre of the last one, so voxel ``i`` of an axis of
``n`` voxels sits at ``-1 + 2 i / (n - 1)``. With this choice a zero
displacement reproduces the image exactly and a voxel grid keeps its meaning
when an image is resized. With ``False`` (PyTorch's default) ``±1`` are the
outer *edges* of the border voxels, and mixing the two conventions shifts images
by half a voxel: a classic, silent registration bug.

Lab 01 ("How to transform images") teaches this module.
"""

import itertools

import torch
import torch.nn.functional as F

from reglab.validation import broadcast_batch, check_displacement, check_image

ALIGN_CORNERS = True
"""The one ``align_corners`` value every ``grid_sample``/``interpolate`` call in reglab uses."""


def identity_grid(size, *, device=None, dtype=torch.float32):
    """The identity map ``x``: every voxel's own coordinates.

    Args:
        size: spatial shape ``(H, W)`` or ``(D, H, W)``.
        device, dtype: of the result.

    Returns:
        Tensor ``(1, ndim, *size)``: channel ``i`` holds the index along axis ``i``,
        in voxels, laid out like a displacement so that ``identity_grid(s) + u``
        is the deformation ``y(x) = x + u(x)``.

    Example:
        >>> identity_grid((2, 3))[0]
        tensor([[[0., 0., 0.],
                 [1., 1., 1.]],
        <BLANKLINE>
                [[0., 1., 2.],
                 [0., 1., 2.]]])
    """
    axes = [torch.arange(n, device=device, dtype=dtype) for n in size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))[None]


def voxel_to_normalized(coordinates, size):
    """Voxel coordinates → ``grid_sample``'s normalized ``[-1, 1]`` coordinates, per axis.

    ``normalized = 2 * x / (n - 1) - 1`` (``align_corners=True``); an axis of
    size 1 maps to 0.

    Args:
        coordinates: ``(..., ndim)`` voxel coordinates in axis order.
        size: spatial shape of the image they index, length ``ndim``.

    Returns:
        Tensor ``(..., ndim)``, still in axis order (not reversed).

    Example:
        >>> voxel_to_normalized(torch.tensor([[0., 4.], [2., 9.]]), (5, 10))
        tensor([[-1.0000, -0.1111],
                [ 0.0000,  1.0000]])
    """
    scale = torch.tensor([2.0 / max(n - 1, 1) for n in size], device=coordinates.device, dtype=coordinates.dtype)
    shift = torch.tensor([-1.0 if n > 1 else 0.0 for n in size], device=coordinates.device, dtype=coordinates.dtype)
    return coordinates * scale + shift


def normalized_to_voxel(coordinates, size):
    """The inverse of :func:`voxel_to_normalized`: ``x = (normalized + 1) * (n - 1) / 2``.

    Example:
        >>> normalized_to_voxel(torch.tensor([[-1., 1.]]), (5, 10))
        tensor([[0., 9.]])
    """
    scale = torch.tensor([(n - 1) / 2.0 for n in size], device=coordinates.device, dtype=coordinates.dtype)
    return (coordinates + 1.0) * scale


def to_grid_sample(coordinates, size, *, relative=False):
    """The sampling grid that ``grid_sample`` wants, from voxel coordinates.

    This is the only place where reglab reverses axes and moves channels last.
    Each axis is converted by ``voxel_to_normalized``'s formula,
    ``normalized = 2 * x / (n - 1) - 1``, and the converted axes are stacked last
    in reversed order: one pass over the field, with no identity grid built in
    voxels first when ``relative=True``.

    Args:
        coordinates: ``(B, ndim, *spatial)`` in voxels of the image to be sampled,
            axis order: absolute positions (e.g. ``identity_grid(s) + u``), or with
            ``relative=True`` a displacement ``u`` (positions ``x + u(x)``).
        size: spatial shape of the image to be sampled.
        relative: if True, add the identity ``x`` here: in normalized form it is
            one line per axis (``-1 … 1``), broadcast, not a full grid.

    Returns:
        Tensor ``(B, *spatial, ndim)`` with normalized coordinates in
        ``(x, y[, z])`` = reversed axis order, for ``grid_sample(...,
        align_corners=ALIGN_CORNERS)``.

    Example:
        >>> g = to_grid_sample(identity_grid((3, 5)), (3, 5))
        >>> g.shape, g[0, 2, 4].tolist()   # last voxel: x = +1 (column), y = +1 (row)
        (torch.Size([1, 3, 5, 2]), [1.0, 1.0])
        >>> torch.equal(to_grid_sample(torch.zeros(1, 2, 3, 5), (3, 5), relative=True), g)
        True
    """
    spatial = coordinates.shape[2:]
    normalized = []
    for axis, along_axis in enumerate(coordinates.unbind(1)):      # along_axis: (B, *spatial)
        scale = 2.0 / max(size[axis] - 1, 1)
        shift = -1.0 if size[axis] > 1 else 0.0
        if relative:
            line = torch.arange(spatial[axis], device=coordinates.device, dtype=coordinates.dtype) * scale + shift
            shape = [1] * len(spatial)
            shape[axis] = -1
            normalized.append(torch.add(line.view(shape), along_axis, alpha=scale))   # x + u(x), normalized
        else:
            normalized.append(along_axis * scale + shift)
    return torch.stack(normalized[::-1], dim=-1)                       # reversed axes, channels last


def _reversed_grid_parts(size, *, device=None, dtype=torch.float32):
    """:func:`to_grid_sample` split in two parts, for loops that sample at ``x + u(x)`` again and again.

    With the displacement's channels reversed once, ``u_r = u.flip(1)``, the grid
    of ``to_grid_sample(u, size, relative=True)`` is one operation and a view:
    ``torch.addcmul(identity, u_r, scale).movedim(1, -1)``, the same numbers,
    without a stack into channels last at every step. Scaling and squaring
    (:func:`reglab.fields.integrate_velocity`) uses it.

    Args:
        size: spatial shape ``(H, W)`` or ``(D, H, W)`` of the image to be sampled.
        device, dtype: of the results.

    Returns:
        ``(identity, scale)``: ``identity`` ``(1, ndim, *size)`` holds, in channel ``k``,
        the normalized coordinate of axis ``ndim - 1 - k`` (``2 x / (n - 1) - 1``);
        ``scale`` ``(1, ndim, 1, ...)`` holds ``2 / (n - 1)`` of the same axis (normalized units per voxel).

    Example:
        >>> identity, scale = _reversed_grid_parts((3, 5))
        >>> u = torch.rand(1, 2, 3, 5)
        >>> grid = torch.addcmul(identity, u.flip(1), scale).movedim(1, -1)
        >>> torch.allclose(grid, to_grid_sample(u, (3, 5), relative=True))
        True
    """
    ndim = len(size)
    lines, scales = [], []
    for axis in reversed(range(ndim)):                              # (x, y[, z]) = reversed axis order
        scale = 2.0 / max(size[axis] - 1, 1)                        # the numbers of to_grid_sample
        shift = -1.0 if size[axis] > 1 else 0.0
        line = torch.arange(size[axis], device=device, dtype=dtype) * scale + shift
        shape = [1] * ndim
        shape[axis] = -1
        lines.append(line.view(shape).expand(*size))                # broadcast along the other axes
        scales.append(scale)
    identity = torch.stack(lines)[None]                             # (1, ndim, *size)
    scale = torch.tensor(scales, device=device, dtype=dtype).reshape(1, ndim, *[1] * ndim)
    return identity, scale


MAX_SLABS = 8
"""The most slabs :func:`grid_sample_in_slabs` cuts a grid into. Scaling and squaring of a 96 x 112 x 96 field,
forward + backward at 2 threads, takes 0.55x the time of 1 slab with 2 slabs and 0.73x with 8; each slab adds an
image-sized gradient buffer to the backward pass."""


def grid_sample_in_slabs(image, grid, *, mode="bilinear", padding_mode="border"):
    """``F.grid_sample(image, grid, align_corners=ALIGN_CORNERS)``, the same values, on every CPU thread.

    PyTorch's CPU kernel of ``grid_sample`` shares the *batch* among its threads, so one image or field
    (batch 1) is sampled by one thread however many there are. Here the grid is cut into as many slabs along its
    first spatial axis as there are threads, and the slabs are sampled as a batch of the same image (expanded, not
    copied); the results are put back in place. Each output value is computed exactly as before. On an accelerator,
    or for a batch larger than 1, this is ``grid_sample`` itself. At most :data:`MAX_SLABS` slabs: the backward
    pass keeps one gradient the size of the image per slab (measured gains: :data:`MAX_SLABS`).

    Args:
        image: ``(B, C, *spatial)``.
        grid: ``(B, *out_spatial, ndim)`` normalized coordinates (:func:`to_grid_sample`).
        mode, padding_mode: as ``F.grid_sample``.

    Returns:
        Tensor ``(B, C, *out_spatial)``.

    Example:
        >>> image, grid = torch.rand(1, 2, 5, 6), torch.rand(1, 7, 3, 2) * 2 - 1
        >>> expected = torch.nn.functional.grid_sample(image, grid, padding_mode="border", align_corners=True)
        >>> torch.equal(grid_sample_in_slabs(image, grid), expected)
        True
    """
    rows = grid.shape[1]
    single = image.shape[0] == 1 and grid.shape[0] == 1                              # one image, one grid
    parts = min(torch.get_num_threads(), rows, MAX_SLABS) if image.device.type == "cpu" and single else 1
    options = dict(mode=mode, padding_mode=padding_mode, align_corners=ALIGN_CORNERS)
    if parts <= 1:
        return F.grid_sample(image, grid, **options)
    step = -(-rows // parts)                                         # rows per slab (the last slab padded)
    extra = step * parts - rows
    if extra:
        grid = torch.cat([grid, grid[:, -1:].expand(-1, extra, *grid.shape[2:])], dim=1)
    slabs = grid.reshape(parts, step, *grid.shape[2:])              # (parts, step, ..., ndim)
    sampled = F.grid_sample(image.expand(parts, *image.shape[1:]), slabs, **options)    # (parts, C, step, ...)
    whole = sampled.transpose(0, 1).reshape(1, image.shape[1], step * parts, *sampled.shape[3:])
    return whole[:, :, :rows]


def splat(image, displacement, *, normalize=False, eps=1e-6):
    """Forward (push) warping: send every voxel ``x`` of ``image`` to ``x + u(x)``.

    Each source value is split over the ``2**ndim`` voxels around its target,
    with linear (bilinear/trilinear) weights, and the contributions are summed.
    Target voxels that nobody lands on stay empty (**holes**); voxels that
    several sources land on add up (**overlaps**). This is why registration
    warps backward (:func:`reglab.warp`), but pushing is what the lecture's
    "forward transformation" means, and it is how to move a *label count* or a
    density without losing mass.

    Args:
        image: ``(B, C, *spatial)`` values to push.
        displacement: ``(B, ndim, *spatial)`` in voxels, on the grid of ``image``
            (where each source voxel goes), in any floating dtype. A batch of 1 is
            broadcast against the other's batch (as in :func:`reglab.warp`).
        normalize: if True, divide by the sum of the weights received, giving a
            weighted average instead of a sum; holes stay 0.
        eps: weights below ``eps`` count as a hole when normalizing.

    Returns:
        Tensor ``(B, C, *spatial)`` on the same grid, in ``image``'s dtype. Differentiable in both inputs.

    Example:
        >>> img = torch.zeros(1, 1, 1, 4); img[..., 1] = 1.0
        >>> u = torch.zeros(1, 2, 1, 4); u[:, 1] = 1.5   # push everything 1.5 columns right
        >>> splat(img, u)
        tensor([[[[0.0000, 0.0000, 0.5000, 0.5000]]]])

    Lab 01 contrasts it with pull warping.
    """
    ndim = check_image("splat", "image", image)
    check_displacement("splat", "displacement", displacement, ndim=ndim, spatial=image.shape[2:])
    image, displacement = broadcast_batch("splat", ("image", image), ("displacement", displacement))
    batch, channels, *size = image.shape
    n = image[0, 0].numel()
    targets = (identity_grid(size, device=image.device, dtype=displacement.dtype) + displacement).flatten(2)  # (B, ndim, N)
    lower = targets.floor()
    fraction = targets - lower
    values = image.flatten(2)                                          # (B, C, N)
    pushed = torch.zeros_like(values)
    weights = values.new_zeros(batch, 1, n)
    strides = [int(torch.tensor(size[axis + 1:]).prod()) for axis in range(ndim)]
    for corner in itertools.product((0, 1), repeat=ndim):
        weight = torch.ones_like(targets[:, 0])                        # (B, N)
        index = torch.zeros_like(targets[:, 0], dtype=torch.long)
        inside = torch.ones_like(targets[:, 0], dtype=torch.bool)
        for axis, offset in enumerate(corner):
            position = lower[:, axis].long() + offset
            weight = weight * (fraction[:, axis] if offset else 1 - fraction[:, axis])
            inside = inside & (position >= 0) & (position < size[axis])
            index = index + position.clamp(0, size[axis] - 1) * strides[axis]
        weight = (weight * inside)[:, None].to(values.dtype)           # (B, 1, N), 0 outside the image
        pushed = pushed.scatter_add(2, index[:, None].expand(-1, channels, -1), values * weight)
        weights = weights.scatter_add(2, index[:, None], weight)
    if normalize:
        pushed = torch.where(weights > eps, pushed / weights.clamp_min(eps), torch.zeros_like(pushed))
    return pushed.reshape(image.shape)
