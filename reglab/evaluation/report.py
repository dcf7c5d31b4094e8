"""The report: every measure of :mod:`reglab.evaluation` before vs after registration, in one table.

:func:`report` scores ``fixed`` against ``moving`` (before) and against
``warped`` (after), and judges the displacement; it returns a :class:`Report`
whose ``print`` shows the table and whose :meth:`Report.as_dict` gives the numbers.

Lab 08 ("Evaluation") teaches this module.
"""

import torch

from reglab.evaluation.field_quality import inverse_consistency
from reglab.evaluation.jacobian import folding_fraction, jacobian_determinant, sdlogj
from reglab.evaluation.landmarks import tre
from reglab.evaluation.overlap import dice, iou
from reglab.evaluation.surface_distance import assd, hausdorff, hd95


class Report:
    """What :func:`report` returns: one row per measure, before and after registration.

    Attributes:
        rows: list of ``(measure, unit, before, after)``; ``before``/``after`` are floats
            averaged over the batch (and over labels or landmarks).

    ``print(report)`` (or the notebook's display) shows the table; :meth:`as_dict`
    gives ``{measure: (before, after)}``.
    """

    def __init__(self, rows):
        self.rows = list(rows)

    def as_dict(self):
        """``{measure: (before, after)}``."""
        return {measure: (before, after) for measure, _, before, after in self.rows}

    def __str__(self):
        width = max(len(f"{measure} ({unit})") for measure, unit, _, _ in self.rows)
        lines = [f"{'measure':<{width}}  {'before':>10}  {'after':>10}"]
        for measure, unit, before, after in self.rows:
            name = f"{measure} ({unit})" if unit else measure
            lines.append(f"{name:<{width}}  {before:>10.4g}  {after:>10.4g}")
        return "\n".join(lines)

    __repr__ = __str__


def report(fixed, moving, warped, displacement, *, fixed_points=None, moving_points=None, spacing=None,
           labels=None, inverse=None):
    """Every measure of :mod:`reglab.evaluation` before vs after registration, in one table (as Learn2Reg reports).

    "Before" compares ``fixed`` with ``moving`` (the identity transformation);
    "after" compares ``fixed`` with ``warped`` and judges ``displacement``. Label
    measures are averaged over labels and the batch, TRE over landmarks and the batch.

    Args:
        fixed, moving, warped: ``(B, 1, *spatial)`` label maps; ``warped`` is ``moving``
            warped by ``displacement`` (e.g. ``reglab.warp(moving, u, mode="nearest")``).
        displacement: ``(B, ndim, *spatial)`` the registration's result, in voxels.
        fixed_points, moving_points: optional ``(B, N, ndim)`` corresponding landmarks for the TRE.
        spacing: voxel size in mm, axis order; None reports lengths in voxels.
        labels: the labels to score; None for all non-zero labels present.
        inverse: optional ``(B, ndim, *spatial)`` backward field for the inverse consistency.

    Returns:
        :class:`Report`.

    Example:
        >>> fixed = torch.zeros(1, 1, 12, 12, dtype=torch.long); fixed[..., 3:9, 3:9] = 1
        >>> moving = torch.roll(fixed, 2, dims=2)                     # the moving square sits 2 rows lower
        >>> u = torch.zeros(1, 2, 12, 12); u[:, 0] = 2.0              # ... and the registration found it
        >>> from reglab import warp
        >>> warped = warp(moving, u, mode="nearest")
        >>> print(report(fixed, moving, warped, u))
        measure               before       after
        Dice                  0.6667           1
        IoU                      0.5           1
        HD (vox)                   2           0
        HD95 (vox)                 2           0
        ASSD (vox)                 1           0
        Jacobian ≤ 0 (%)           0           0
        SDlogJ                     0           0
        Jacobian min               1           1

    Lab 08.
    """
    unit = "mm" if spacing is not None else "vox"
    identity = torch.zeros_like(displacement)
    pairs = (moving, warped)
    rows = []
    for name, fn, row_unit, extra in (("Dice", dice, "", {}), ("IoU", iou, "", {}),
                                      ("HD", hausdorff, unit, {"spacing": spacing}),
                                      ("HD95", hd95, unit, {"spacing": spacing}),
                                      ("ASSD", assd, unit, {"spacing": spacing})):
        before, after = (float(fn(fixed, other, labels=labels, **extra).mean()) for other in pairs)
        rows.append((name, row_unit, before, after))
    if fixed_points is not None or moving_points is not None:
        before, after = (float(tre(fixed_points, moving_points, field, spacing=spacing).mean())
                         for field in (None, displacement))
        rows.append(("TRE", unit, before, after))
    fields = (identity, displacement)
    rows.append(("Jacobian ≤ 0", "%", *(100 * float(folding_fraction(u).mean()) for u in fields)))
    rows.append(("SDlogJ", "", *(float(sdlogj(u).mean()) for u in fields)))
    rows.append(("Jacobian min", "", *(float(jacobian_determinant(u).amin()) for u in fields)))
    if inverse is not None:
        rows.append(("inverse consistency", unit,
                     float(inverse_consistency(identity, identity, spacing=spacing).mean()),
                     float(inverse_consistency(displacement, inverse, spacing=spacing).mean())))
    return Report(rows)
