"""Distances between label boundaries: :func:`hausdorff`, :func:`hd95` and :func:`assd`, in mm.

The lecture's ``HD = max(h(F, M), h(M, F))`` and ``HD95`` (the maximum of the
two directed 95th percentiles) (§7), and the average symmetric surface
distance. Boundaries are :func:`surface_voxels` (face connectivity); the
nearest-boundary search is a k-d tree on the CPU and ``torch.cdist`` on other
devices (:func:`_nearest_distances`), one search for all labels at once
(:func:`_nearest_same_label`). Without ``spacing=`` (mm, axis order)
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


def _surface_points(fixed, moving):
    """Per sample, for ``fixed`` and ``moving``: the boundary voxels' coordinates ``(K, ndim)`` and labels ``(K,)``.

    Sorted by label, raster order within one. The boundaries of both maps are
    found in one call of :func:`surface_voxels` (fewer, larger operations).
    """
    both = torch.cat([fixed, moving])                                                 # (2B, 1, *spatial)
    edge = surface_voxels(both)[:, 0]                                                  # (2B, *spatial)
    result = []
    for sample in range(len(both)):
        coordinates = edge[sample].nonzero()                                           # (K, ndim), raster order
        values, order = both[sample, 0][coordinates.unbind(1)].long().sort(stable=True)
        result.append((coordinates[order], values))
    return list(zip(result[:len(fixed)], result[len(fixed):]))


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
        tree = cKDTree(np.asarray(targets.numpy(), dtype=np.float64), leafsize=32, balanced_tree=False,
                       compact_nodes=False)
        distances, _ = tree.query(np.asarray(points.numpy(), dtype=np.float64), k=1, workers=torch.get_num_threads())
        return torch.from_numpy(np.asarray(distances)).to(points.dtype)
    rows = max(1, 2**24 // max(targets.shape[0], 1))
    parts = [torch.cdist(block[None], targets[None], compute_mode="donot_use_mm_for_euclid_dist")[0].amin(dim=1)
             for block in points.split(rows)]
    return torch.cat(parts)


def _nearest_same_label(points, point_labels, targets, target_labels, *, method=None):
    """Distance from every point ``(P, ndim)`` to the nearest target ``(T, ndim)`` **of its own label**: ``(P,)``.

    Both sets are sorted by label (``point_labels`` ``(P,)``, ``target_labels``
    ``(T,)``) and hold the same labels. On the CPU one k-d tree serves all labels:
    the label times a gap longer than any distance in the grid is one more
    coordinate, so the nearest target always has the point's label, and its
    distance is the spatial one exactly (the label coordinates cancel to 0).
    One tree and one query replace one per label. On other devices
    ``torch.cdist`` compares each label's points with its own targets only.
    """
    method = method or ("kdtree" if points.device.type == "cpu" else "cdist")
    if not len(points):
        return points.new_zeros(0)
    if method == "kdtree":                                                             # NumPy arrays, as SciPy needs
        p, t = points.numpy().astype(np.float64), targets.numpy().astype(np.float64)
        gap = 1 + 2 * float(np.ptp(np.concatenate([p, t]), axis=0).sum())            # > any distance between them
        return _nearest_distances(torch.from_numpy(np.column_stack([p, point_labels.numpy() * gap])),
                                  torch.from_numpy(np.column_stack([t, target_labels.numpy() * gap])),
                                  method="kdtree").to(points.dtype)
    point_counts = torch.unique_consecutive(point_labels, return_counts=True)[1].tolist()
    target_counts = torch.unique_consecutive(target_labels, return_counts=True)[1].tolist()
    return torch.cat([_nearest_distances(a, b, method="cdist")
                      for a, b in zip(points.split(point_counts), targets.split(target_counts))])


def _label_runs(labels, unique):
    """Where each label of ``unique`` ``(U,)`` starts in the sorted ``labels`` ``(N,)``, and how many rows it has:
    ``(start (U,), count (U,))`` (count 0 for an absent label)."""
    start = torch.searchsorted(labels, unique)
    return start, torch.searchsorted(labels, unique, right=True) - start


def _run_rows(start, count, kept):
    """The row indices ``(K,)`` of the runs ``(start, count)`` whose entry of the list ``kept`` is True, in order."""
    runs = [torch.arange(first, first + size, device=start.device)
            for first, size, keep in zip(start.tolist(), count.tolist(), kept) if keep]
    return torch.cat(runs) if runs else start.new_zeros(0)


def _directed_distances(fn, fixed, moving, labels, spacing):
    """The two directed surface-distance sets in mm of every sample, all labels at once.

    Returns the labels compared ``chosen`` ``(L,)`` and per sample a dict with
    ``"counts"`` ``(2, L)``, the number of boundary voxels of each label on
    ``fixed`` and ``moving``, and two pairs ``(distances (K,), labels (K,))``:
    ``"fixed"`` for ``d(∂F → ∂M)``, ``"moving"`` for ``d(∂M → ∂F)``, over the
    labels on both boundaries (sorted by label). Every label present has
    boundary voxels, so the labels are found among the boundary voxels alone.
    """
    ndim, _ = _pair(fn, fixed, moving)
    scale = check_spacing(fn, spacing, ndim, torch.empty(0, device=fixed.device, dtype=torch.get_default_dtype()))
    surfaces = _surface_points(fixed, moving)                                          # [(fixed, moving)] per sample
    if labels is None:
        found = torch.cat([torch.unique_consecutive(v) for pair in surfaces for _, v in pair] +
                          [torch.zeros(1, dtype=torch.long, device=fixed.device)])
        chosen = torch.unique(found)[1:]                                               # without the background
    else:
        chosen = torch.as_tensor(labels, device=fixed.device).long().reshape(-1)
        if chosen.numel() and chosen.min() < 0:
            raise ValueError(f"{fn}(): expected non-negative `labels`, got {chosen.tolist()}.")
    unique = torch.unique(chosen)                                                      # (U,) sorted
    result = []
    for (voxels_f, labels_f), (voxels_m, labels_m) in surfaces:
        runs_f, runs_m = _label_runs(labels_f, unique), _label_runs(labels_m, unique)
        count = torch.stack([runs_f[1], runs_m[1]])                                    # (2, U) boundary voxels
        on_both = (count > 0).all(dim=0).tolist()                                      # labels on both boundaries
        rows_f, rows_m = _run_rows(*runs_f, on_both), _run_rows(*runs_m, on_both)
        kept_f, kept_m = labels_f[rows_f], labels_m[rows_m]                            # (K_f,), (K_m,) sorted
        points_f = voxels_f[rows_f].to(scale.dtype) * scale                           # (K_f, ndim) in mm
        points_m = voxels_m[rows_m].to(scale.dtype) * scale
        result.append({"counts": count[:, torch.searchsorted(unique, chosen)],          # (2, L)
                       "fixed": (_nearest_same_label(points_f, kept_f, points_m, kept_m), kept_f),   # d(∂F → ∂M)
                       "moving": (_nearest_same_label(points_m, kept_m, points_f, kept_f), kept_m)})  # d(∂M → ∂F)
    return chosen, result


def _summarize(chosen, directed, summary, empty, like):
    """``summary(sample, chosen) -> (L,)`` for every sample as a ``(B, L)`` tensor of the default dtype.

    Where a label is on one boundary only the value is ``inf``; on neither, ``empty``.
    """
    rows = []
    for sample in directed:
        present = sample["counts"] > 0                                                 # (2, L)
        missing = torch.where(present[0] == present[1], float(empty), math.inf)
        values = summary(sample, chosen).to(torch.get_default_dtype())
        rows.append(torch.where(present.all(dim=0), values, missing.to(values.dtype)))
    if not rows:
        return torch.zeros(0, len(chosen), device=like.device)
    return torch.stack(rows)


def _percentile(values, q):
    """The ``q``-th percentile of a 1-D tensor with linear interpolation (NumPy's and ``torch.quantile``'s default)."""
    ordered = values.sort().values
    position = q / 100 * (ordered.numel() - 1)
    low = int(math.floor(position))
    high = min(low + 1, ordered.numel() - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _percentiles_by_label(values, labels, chosen, q):
    """:func:`_percentile` of the ``values`` ``(K,)`` of each of the ``chosen`` labels ``(L,)`` at once: ``(L,)``.

    One sort by value, then a stable one by label, orders the values within
    each label's run; the runs' ends give every label's percentile by the same
    arithmetic as :func:`_percentile`. A label without values gets NaN. The
    values (distances) are not negative, and such floats are ordered like their
    bits read as integers, which PyTorch sorts several times faster (a radix sort).
    """
    if not len(values):
        return torch.full(chosen.shape, math.nan, dtype=values.dtype, device=values.device)
    bits = values.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[values.element_size()])
    order = bits.sort().indices                                                        # ascending values
    grouped, regroup = labels[order].sort(stable=True)
    ordered = values[order[regroup]]                                                   # ascending within each label
    start, count = _label_runs(grouped, chosen)                                        # (L,) each
    position = (count - 1).double() * (q / 100)
    low = position.floor()
    high = torch.minimum(low + 1, count - 1)
    last = len(ordered) - 1
    at_low = ordered[(start + low.long()).clamp(0, last)]
    at_high = ordered[(start + high.long()).clamp(0, last)]
    value = at_low + (position - low).to(values.dtype) * (at_high - at_low)
    return torch.where(count > 0, value, math.nan)


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
    chosen, directed = _directed_distances(fn, fixed, moving, labels, spacing)

    def summary(sample, chosen):
        (to_m, labels_f), (to_f, labels_m) = sample["fixed"], sample["moving"]
        if pooled:
            return _percentiles_by_label(torch.cat([to_m, to_f]), torch.cat([labels_f, labels_m]), chosen, percentile)
        return torch.maximum(_percentiles_by_label(to_m, labels_f, chosen, percentile),
                             _percentiles_by_label(to_f, labels_m, chosen, percentile))
    return _summarize(chosen, directed, summary, empty, fixed)


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
    chosen, directed = _directed_distances("assd", fixed, moving, labels, spacing)

    def summary(sample, chosen):                                                       # each label's runs, summed
        (to_m, labels_f), (to_f, labels_m) = sample["fixed"], sample["moving"]
        starts = zip(torch.searchsorted(labels_f, chosen).tolist(), torch.searchsorted(labels_m, chosen).tolist())
        values = [(to_m[a:a + n_f].sum() + to_f[b:b + n_m].sum()) / (n_f + n_m) if n_f and n_m else to_m.new_zeros(())
                  for (a, b), n_f, n_m in zip(starts, *sample["counts"].tolist())]
        return torch.stack(values) if values else to_m.new_zeros(0)
    return _summarize(chosen, directed, summary, empty, fixed)
