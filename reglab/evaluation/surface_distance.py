"""Distances between label boundaries: :func:`hausdorff`, :func:`hd95` and :func:`assd`, in mm.

The lecture's ``HD = max(h(F, M), h(M, F))`` and ``HD95`` (the maximum of the
two directed 95th percentiles) (§7), and the average symmetric surface
distance. Boundaries are :func:`surface_voxels` (face connectivity); the
nearest-boundary search is a k-d tree on the CPU and ``torch.cdist`` on other
devices (:func:`_nearest_distances`). Without ``spacing=`` (mm, axis order)
distances are in voxels. Every per-label measure returns ``(B, L)``.

Lab 08 ("Evaluation") teaches this module; Lab 00 draws :func:`surface_voxels`.
"""

import math

import numpy as np
import torch
from scipy.spatial import cKDTree

from reglab.evaluation._label_maps import _pair
from reglab.validation import check_image, check_spacing


def surface_voxels(labels):
    """Boundary voxels of every label: voxels with a face neighbour of another label (or outside the grid).

    Face connectivity (4 neighbours in 2D, 6 in 3D), as ``mask ^ binary_erosion(mask)``
    in SciPy and MONAI; voxels on the edge of the grid count as boundary. The
    background is a label too: the boundary of one object ``mask`` is
    ``surface_voxels(mask) & mask``.

    Args:
        labels: ``(B, 1, *spatial)`` label map.

    Returns:
        Bool tensor ``(B, 1, *spatial)``.

    Example:
        >>> mask = torch.zeros(1, 1, 5, 5, dtype=torch.long); mask[0, 0, 1:4, 1:4] = 1
        >>> surface_voxels(mask)[0, 0].int()
        tensor([[1, 1, 1, 1, 1],
                [1, 1, 1, 1, 1],
                [1, 1, 0, 1, 1],
                [1, 1, 1, 1, 1],
                [1, 1, 1, 1, 1]], dtype=torch.int32)
    """
    ndim = check_image("surface_voxels", "labels", labels, allow_integer=True)
    edge = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
    for axis in range(2, ndim + 2):
        n = labels.shape[axis]
        change = labels.narrow(axis, 1, n - 1) != labels.narrow(axis, 0, n - 1)        # between i and i + 1
        edge.narrow(axis, 1, n - 1).logical_or_(change)
        edge.narrow(axis, 0, n - 1).logical_or_(change)
        edge.narrow(axis, 0, 1).fill_(True)
        edge.narrow(axis, n - 1, 1).fill_(True)
    return edge


def _surface_indices(labels):
    """Per sample: the boundary voxels' linear indices ``(K,)`` sorted by label (raster order within one) and their labels."""
    edge = surface_voxels(labels).flatten(1)                                           # (B, N)
    flat = labels.flatten(1)
    result = []
    for sample in range(labels.shape[0]):
        index = edge[sample].nonzero()[:, 0]                                           # raster order
        values, order = flat[sample, index].long().sort(stable=True)
        result.append((index[order], values))
    return result


def _positions(index, size, spacing):
    """Linear voxel indices ``(K,)`` -> positions ``(K, ndim)`` in mm."""
    coordinates = []
    for n in reversed(size):
        coordinates.append(index % n)
        index = index // n
    return torch.stack(coordinates[::-1], dim=1).to(spacing.dtype) * spacing


def _nearest_distances(points, targets, *, method=None):
    """Distance from every point ``(P, ndim)`` to its nearest target ``(T, ndim)``: ``(P,)``.

    On the CPU a k-d tree over the targets (SciPy ``cKDTree``; built by the
    sliding-midpoint rule, which is quicker to build here than a balanced tree):
    ``O(T log T)`` to build and about ``O(log T)`` per query, far less than all
    ``P · T`` pairs or a distance transform of the whole grid for every label.
    It uses as many threads as torch (``torch.get_num_threads()``). On other
    devices (a GPU) the tensors stay where they are and ``torch.cdist`` computes
    all pairs in chunks of at most 2**24 distances, which a GPU does faster than
    a tree; ``donot_use_mm`` keeps the distances exact (the matrix-product
    shortcut loses ~0.05 mm near zero in float32). ``method`` forces one of the two.
    """
    method = method or ("kdtree" if points.device.type == "cpu" else "cdist")
    if method == "kdtree":
        tree = cKDTree(targets.double().numpy(), leafsize=32, balanced_tree=False, compact_nodes=False)
        distances, _ = tree.query(points.double().numpy(), k=1, workers=torch.get_num_threads())
        return torch.from_numpy(np.asarray(distances)).to(points.dtype)
    rows = max(1, 2**24 // max(targets.shape[0], 1))
    parts = [torch.cdist(block[None], targets[None], compute_mode="donot_use_mm_for_euclid_dist")[0].amin(dim=1)
             for block in points.split(rows)]
    return torch.cat(parts)


def _directed(points, targets, size, spacing):
    """Distances (mm) from boundary voxels ``points`` to the nearest of ``targets`` (sorted linear indices).

    Voxels on both boundaries are at distance 0 without a search.
    """
    distances = torch.zeros(len(points), device=points.device, dtype=spacing.dtype)
    position = torch.searchsorted(targets, points).clamp(max=len(targets) - 1)
    elsewhere = targets[position] != points
    if elsewhere.any():
        distances[elsewhere] = _nearest_distances(_positions(points[elsewhere], size, spacing),
                                                  _positions(targets, size, spacing))
    return distances


def _directed_distances(fn, fixed, moving, labels, spacing, empty):
    """For every sample and label the two directed surface-distance sets in mm.

    Returns a nested list ``[sample][label]``: a pair ``(d(∂F → ∂M), d(∂M → ∂F))``
    of 1-D tensors, or a number where a surface is missing: ``empty`` when the
    label is in neither map, ``inf`` when it is in only one. Every label present
    has boundary voxels, so the labels are found among the boundary voxels alone.
    """
    ndim = _pair(fn, fixed, moving)
    scale = check_spacing(fn, spacing, ndim, torch.empty(0, device=fixed.device, dtype=torch.get_default_dtype()))
    surfaces = list(zip(_surface_indices(fixed), _surface_indices(moving)))
    if labels is None:
        found = torch.cat([torch.unique_consecutive(v) for pair in surfaces for _, v in pair] +
                          [torch.zeros(1, dtype=torch.long, device=fixed.device)])
        chosen = torch.unique(found)[1:]                                               # without the background
    else:
        chosen = torch.as_tensor(labels, device=fixed.device).long().reshape(-1)
        if chosen.numel() and chosen.min() < 0:
            raise ValueError(f"{fn}(): expected non-negative `labels`, got {chosen.tolist()}.")
    result = []
    for (index_f, labels_f), (index_m, labels_m) in surfaces:
        row = []
        for label in chosen.tolist():
            a = index_f[torch.searchsorted(labels_f, label):torch.searchsorted(labels_f, label, right=True)]
            b = index_m[torch.searchsorted(labels_m, label):torch.searchsorted(labels_m, label, right=True)]
            if len(a) and len(b):
                row.append((_directed(a, b, fixed.shape[2:], scale), _directed(b, a, fixed.shape[2:], scale)))
            else:
                row.append(float(empty) if len(a) == len(b) else math.inf)
        result.append(row)
    return result


def _summarize(directed, summary, like):
    """``summary(d_fm, d_mf)`` for every (sample, label) pair as a ``(B, L)`` tensor; numbers pass through."""
    rows = []
    for row in directed:
        values = [torch.tensor(entry, device=like.device) if isinstance(entry, float) else summary(*entry)
                  for entry in row]
        rows.append(torch.stack([v.to(like.device, torch.get_default_dtype()) for v in values]) if values
                    else torch.zeros(0, device=like.device))
    return torch.stack(rows)


def _percentile(values, q):
    """The ``q``-th percentile of a 1-D tensor with linear interpolation (NumPy's and ``torch.quantile``'s default)."""
    ordered = values.sort().values
    position = q / 100 * (ordered.numel() - 1)
    low = int(math.floor(position))
    high = min(low + 1, ordered.numel() - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _check_percentile(fn, percentile):
    if not isinstance(percentile, (int, float)) or not 0 <= percentile <= 100:
        raise ValueError(f"{fn}(): expected `percentile` between 0 and 100, got {percentile!r}.")


def hausdorff(fixed, moving, *, labels=None, spacing=None, percentile=100, pooled=False, empty=0.0):
    """Hausdorff distance between label boundaries: ``HD = max(h(F, M), h(M, F))`` in mm.

    ``h(F, M) = max_{f ∈ ∂F} min_{m ∈ ∂M} |f - m|`` is the directed distance:
    how far the worst boundary voxel of ``F`` is from the boundary of ``M``.
    With ``percentile < 100`` the maxima become percentiles (linear
    interpolation), e.g. :func:`hd95`, the symmetric maximum of the two directed
    95th percentiles (as MONAI). With ``pooled=True`` the percentile is taken
    over both directed sets together (as medpy's ``hd95``), which gives smaller
    values; it is offered only for comparison with such tools. The maximum
    (``percentile=100``) is the same either way.

    Boundaries are :func:`surface_voxels` (face connectivity), distances between
    voxel centres in mm with anisotropic ``spacing``. On hole-free shapes this
    equals SimpleITK's ``HausdorffDistanceImageFilter``, which uses all voxels.

    Args:
        fixed, moving: ``(B, 1, *spatial)`` label maps of the same shape.
        labels: labels to compare; None for every non-zero label present in either map.
        spacing: voxel size in mm, axis order; None for voxels.
        percentile: 100 for the Hausdorff distance, 95 for HD95.
        pooled: percentile of the pooled distances instead of the maximum of the two directed ones.
        empty: the value when a label is absent from both maps. A label present in only one
            map is infinitely far from the other: ``inf``.

    Returns:
        Tensor ``(B, L)`` in mm (voxels without ``spacing``), on the device of the inputs.

    Example:
        >>> fixed = torch.zeros(1, 1, 8, 8, dtype=torch.long); fixed[..., 2:5, 2:5] = 1
        >>> moving = torch.roll(fixed, 2, dims=3)                  # shifted 2 columns
        >>> hausdorff(fixed, moving), hausdorff(fixed, moving, spacing=(1.0, 0.5))
        (tensor([[2.]]), tensor([[1.]]))

    Lab 08. References: the lecture's HD and HD95 (§7); Huttenlocher et al., IEEE TPAMI 1993.
    """
    return _hausdorff("hausdorff", fixed, moving, labels, spacing, percentile, pooled, empty)


def _hausdorff(fn, fixed, moving, labels, spacing, percentile, pooled, empty):
    """:func:`hausdorff` with errors in the name of the public function ``fn``."""
    _check_percentile(fn, percentile)
    directed = _directed_distances(fn, fixed, moving, labels, spacing, empty)
    if pooled:
        summary = lambda a, b: _percentile(torch.cat([a, b]), percentile)                # noqa: E731
    else:
        summary = lambda a, b: torch.maximum(_percentile(a, percentile), _percentile(b, percentile))  # noqa: E731
    return _summarize(directed, summary, fixed)


def hd95(fixed, moving, *, labels=None, spacing=None, pooled=False, empty=0.0):
    """The 95th-percentile Hausdorff distance: ``HD95 = max(d95(F, M), d95(M, F))`` in mm.

    Robust to a few outlying boundary voxels, which set the plain Hausdorff
    distance alone. Same as ``hausdorff(..., percentile=95)``; see :func:`hausdorff`.

    Example:
        >>> fixed = torch.zeros(1, 1, 20, 20, dtype=torch.long); fixed[..., 5:15, 5:15] = 1
        >>> moving = fixed.clone(); moving[..., 0, 0] = 1               # one stray voxel far away
        >>> hausdorff(fixed, moving), hd95(fixed, moving)
        (tensor([[7.0711]]), tensor([[0.]]))

    Lab 08.
    """
    return _hausdorff("hd95", fixed, moving, labels, spacing, 95, pooled, empty)


def assd(fixed, moving, *, labels=None, spacing=None, empty=0.0):
    """Average symmetric surface distance: the mean of all boundary-to-boundary distances in both directions.

    ``ASSD = (Σ_{f ∈ ∂F} d(f, ∂M) + Σ_{m ∈ ∂M} d(m, ∂F)) / (|∂F| + |∂M|)``, as
    MONAI's ``SurfaceDistanceMetric(symmetric=True)``. (SimpleITK's "average
    Hausdorff distance" averages over all voxels, not boundaries: another number.)

    Args:
        fixed, moving, labels, spacing, empty: as in :func:`hausdorff`.

    Returns:
        Tensor ``(B, L)`` in mm (voxels without ``spacing``).

    Example:
        >>> fixed = torch.zeros(1, 1, 8, 8, dtype=torch.long); fixed[..., 2:5, 2:5] = 1
        >>> assd(fixed, torch.roll(fixed, 1, dims=2))
        tensor([[0.5000]])

    Lab 08. References: Heimann et al., IEEE TMI 2009.
    """
    directed = _directed_distances("assd", fixed, moving, labels, spacing, empty)
    summary = lambda a, b: (a.sum() + b.sum()) / (len(a) + len(b))                      # noqa: E731
    return _summarize(directed, summary, fixed)
