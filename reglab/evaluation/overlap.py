"""Overlap of label maps: :func:`dice` and :func:`iou` per label.

The lecture's ``DSC = 2 |F ∩ M| / (|F| + |M|)`` and ``IoU = |F ∩ M| / |F ∪ M|``,
related by ``DSC = 2 IoU / (1 + IoU)`` (§7). Both count voxels in one
pass over the label pairs (:func:`_label_counts`) and never build a
one-hot tensor. Every per-label measure returns ``(B, L)`` for the ``L``
labels compared.

Lab 08 ("Evaluation") teaches this module.
"""

import torch

from reglab.evaluation._label_maps import _pair


def _mask_counts(f, m):
    """``|F_l| + |M_l|`` and ``|F_l ∩ M_l|`` for labels 0 and 1 of two bool masks ``(B, N)``, each ``(B, 2)``.

    Two masks need no histogram, only two sums per sample: ``|F| + |M| = Σ (F + M)``
    and ``|F ∧ M| = Σ (F & M)``. Both are taken over the bytes (0 or 1) of the
    bool tensors without widening them: the bytes are summed 64 at a time as
    uint8 (at most 128: no overflow), and only those ``N / 64`` partial sums are
    added up as int64, which is several times faster than counting all ``N``.
    Label 0 is the complement: ``|F_0| + |M_0| = 2N - |F| - |M|`` and
    ``|F_0 ∩ M_0| = N - |F ∨ M|``, with ``|F ∨ M| = |F| + |M| - |F ∧ M|``.
    """
    batch, n = f.shape
    f, m = f.view(torch.uint8), m.view(torch.uint8)                                   # the same bytes, 0 or 1
    pairs = torch.empty(2, batch, n, dtype=torch.uint8, device=f.device)              # (2, B, N): F + M, F & M
    torch.add(f, m, out=pairs[0])
    torch.bitwise_and(f, m, out=pairs[1])
    head = n - n % 64
    partial = pairs[..., :head].reshape(2, batch, 64, head // 64).sum(dim=2, dtype=torch.uint8)  # (2, B, N/64)
    total, both = partial.sum(dim=2) if head == n else partial.sum(dim=2) + pairs[..., head:].sum(dim=2)  # (B,)
    return torch.stack([2 * n - total, total], dim=1), torch.stack([n - total + both, both], dim=1)


def _label_counts(fn, fixed, moving, labels, top):
    """The labels compared ``(L,)`` and, per sample and label, ``|F_l| + |M_l|`` and ``|F_l ∩ M_l|``, each ``(B, L)``.

    The joint histogram (the confusion matrix) of the two maps, counted in one
    pass (``scatter_add_`` of ones at the pair index ``fixed label · bins +
    moving label``, all samples at once): row ``k`` sums to ``|F_k|``, column ``k``
    to ``|M_k|``, and the diagonal holds ``|F_k ∩ M_k|``. No one-hot tensor is
    built. ``top`` is the largest label of both maps (from the checks). Label
    numbers of 4096 and more are first renumbered 0, 1, 2, ... (in order) so that
    the histogram stays small. Two bool masks need no histogram (:func:`_mask_counts`).
    """
    if fixed.dtype == torch.bool and moving.dtype == torch.bool:
        total, both = _mask_counts(fixed.flatten(1), moving.flatten(1))
        bins, numbers = 2, torch.arange(2, device=fixed.device)
    else:
        f, m = fixed.flatten(1).long(), moving.flatten(1).long()                      # (B, N) each
        numbers = None                                                                # the label number of every bin
        if top >= 4096:
            numbers, inverse = torch.unique(torch.cat([f, m], dim=1), return_inverse=True)
            f, m = inverse.split(f.shape[1], dim=1)
            top = len(numbers) - 1
        bins = top + 1
        numbers = torch.arange(bins, device=f.device) if numbers is None else numbers
        pairs = torch.add(m, f, alpha=bins)                                           # (B, N) the bin of each voxel
        ones = torch.ones(1, 1, dtype=torch.long, device=f.device).expand_as(pairs)
        joint = torch.zeros(len(f), bins * bins, dtype=torch.long, device=f.device).scatter_add_(1, pairs, ones)
        joint = joint.reshape(-1, bins, bins)                                         # (B, fixed label, moving label)
        total, both = joint.sum(dim=2) + joint.sum(dim=1), joint.diagonal(dim1=1, dim2=2)
    if labels is None:                                                                 # every label present but 0
        columns = ((total.sum(dim=0) > 0) & (numbers != 0)).nonzero()[:, 0]
        return numbers[columns], total[:, columns], both[:, columns]
    chosen = torch.as_tensor(labels, device=total.device).long().reshape(-1)
    if chosen.numel() and chosen.min() < 0:
        raise ValueError(f"{fn}(): expected non-negative `labels`, got {chosen.tolist()}.")
    position = torch.searchsorted(numbers, chosen).clamp(max=bins - 1)
    columns = torch.where(numbers[position] == chosen, position, bins)                  # absent: the zero column
    pad = torch.zeros(total.shape[0], 1, dtype=total.dtype, device=total.device)
    return chosen, *(torch.cat([counts, pad], dim=1)[:, columns] for counts in (total, both))


def dice(fixed, moving, *, labels=None, empty=1.0):
    """Dice similarity coefficient per label: ``DSC = 2 |F ∩ M| / (|F| + |M|)``.

    Also the F1 score of the voxel classification. Pass the **warped** moving
    labels to score a registration, the moving labels themselves for the
    baseline.

    Args:
        fixed, moving: ``(B, 1, *spatial)`` label maps of the same shape (bool masks are label 1).
        labels: the labels to score; None for every non-zero label present in either map.
        empty: the value for a label absent from both maps of a sample
            (default 1: two empty sets agree perfectly; pass ``float("nan")`` and
            ``torch.nanmean`` to leave them out instead).

    Returns:
        Tensor ``(B, L)`` in ``[0, 1]``, one column per label (sorted when ``labels`` is None).

    Raises:
        ValueError: shapes differ, a map has several channels, negative or fractional labels.

    Example:
        >>> fixed = torch.tensor([[[[1, 1, 2, 2, 0]]]]); moving = torch.tensor([[[[1, 2, 2, 2, 0]]]])
        >>> dice(fixed, moving)                    # label 1: 2·1/(2+1); label 2: 2·2/(2+3)
        tensor([[0.6667, 0.8000]])

    Lab 08. References: the lecture's DICE formula (§7); Dice, Ecology 1945.
    """
    _, top = _pair("dice", fixed, moving)
    _, *counts = _label_counts("dice", fixed, moving, labels, top)
    total, both = counts                                                            # |F| + |M|, |F ∩ M| (integers)
    return torch.nan_to_num(2 * both / total, nan=empty)                            # 0 / 0 where in neither map


def iou(fixed, moving, *, labels=None, empty=1.0):
    """Intersection over union (Jaccard index) per label: ``IoU = |F ∩ M| / |F ∪ M|``.

    Related to Dice by ``DSC = 2 IoU / (1 + IoU)`` and ``IoU = DSC / (2 - DSC)``:
    the two rank registrations the same way, IoU is just stricter.

    Args:
        fixed, moving, labels, empty: as in :func:`dice`.

    Returns:
        Tensor ``(B, L)`` in ``[0, 1]``.

    Example:
        >>> fixed = torch.tensor([[[[1, 1, 2, 2, 0]]]]); moving = torch.tensor([[[[1, 2, 2, 2, 0]]]])
        >>> iou(fixed, moving)                     # label 1: 1/2; label 2: 2/3
        tensor([[0.5000, 0.6667]])

    Lab 08. References: the lecture's IoU formula (§7); Jaccard 1912.
    """
    _, top = _pair("iou", fixed, moving)
    _, *counts = _label_counts("iou", fixed, moving, labels, top)
    total, both = counts                                                            # |F| + |M|, |F ∩ M| (integers)
    return torch.nan_to_num(both / (total - both), nan=empty)                       # |F ∪ M| = |F| + |M| - |F ∩ M|
