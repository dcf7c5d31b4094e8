"""The folding penalty ``max(0, margin - det(I + ∇u))``: zero for any map without folds.

Unlike the smoothness penalties it leaves every fold-free field alone, so it is
added to one of them. The Jacobian ``∇u`` is the cell-centred one of
:mod:`reglab.regularization._differences`.

Lab 04 ("Regularization"); :mod:`reglab.evaluation` counts folds.

References:
    Mok & Chung 2020 (negative Jacobian penalty, LapIRN).
"""

import torch

from reglab.regularization._differences import _cell_jacobian, _prepare, _reduce
from reglab.validation import check_number


def _determinant(m):
    """Determinant of ``(B, n, n, *cells)`` matrices, written out for n = 2 and 3."""
    if m.shape[1] == 2:
        return m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    return (m[:, 0, 0] * (m[:, 1, 1] * m[:, 2, 2] - m[:, 1, 2] * m[:, 2, 1])
            - m[:, 0, 1] * (m[:, 1, 0] * m[:, 2, 2] - m[:, 1, 2] * m[:, 2, 0])
            + m[:, 0, 2] * (m[:, 1, 0] * m[:, 2, 1] - m[:, 1, 1] * m[:, 2, 0]))


def folding_penalty(displacement, *, margin=0.0, reduction="mean"):
    """Jacobian folding penalty ``mean max(0, margin - det(I + ∇u))``.

    ``det(I + ∇u) <= 0`` where the map ``y = x + u`` folds (space turns inside
    out). The penalty is 0 for every fold-free field (with ``margin = 0``), so it
    can be added to any other regularizer; a positive ``margin`` (e.g. 0.1) also
    pushes away strong compressions. The Jacobian is taken at the cell centres
    (see :mod:`reglab.regularization._differences`). The determinant is the same in voxels and in mm, so
    there is no ``spacing``.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels.
        margin: the determinant below which the penalty starts (``>= 0``).
        reduction: as :func:`diffusion`.

    Returns:
        Tensor ``>= 0``: the mean amount of folding over the cells.

    Example:
        >>> u = torch.zeros(1, 2, 3, 3); u[:, 0] = -2.0 * torch.arange(3.0)[:, None]   # y_0 = -x_0: a mirror
        >>> folding_penalty(u)
        tensor(1.)

    Lab 04; reglab.evaluation counts folds. Reference: Mok & Chung 2020 (LapIRN).
    """
    ndim, field, _ = _prepare("folding_penalty", displacement, None, reduction, 1)
    check_number("folding_penalty", "margin", margin, minimum=0)
    eye = torch.eye(ndim, device=field.device, dtype=field.dtype).reshape(1, ndim, ndim, *([1] * ndim))
    determinant = _determinant(eye + _cell_jacobian(field, None))
    return _reduce(torch.relu(margin - determinant).flatten(1).mean(dim=1), reduction)
