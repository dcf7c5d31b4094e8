"""Evaluation of a registration, in the order of the lecture's §7 ("Evaluation of Medical Image Registration").

=========================  ====================================================================  ===================
module                     what it holds                                                         lab
=========================  ====================================================================  ===================
:mod:`.field_quality`      :func:`rmse` between two fields, :func:`inverse_consistency`           08 (IC also 07)
:mod:`.jacobian`           :func:`jacobian_matrix`, :func:`jacobian_determinant`,                 08 (also 02, 04, 07)
                           :func:`folding_fraction`, :func:`sdlogj`, :func:`curl`
:mod:`.landmarks`          :func:`tre`, the target registration error                            08 (also 00, 07)
:mod:`.overlap`            :func:`dice` and :func:`iou` per label                                08 (also 00, 07)
:mod:`.surface_distance`   :func:`surface_voxels`, :func:`hausdorff`, :func:`hd95`, :func:`assd`  08 (also 00, 07)
:mod:`.report`             :func:`report`: all of them before vs after, a :class:`Report`        08
=========================  ====================================================================  ===================

Units. Displacements are in voxels (see :mod:`reglab.grid`). Measures that
have a length take ``spacing=``: the voxel size in mm **in the tensor's axis
order** ``(D, H, W)`` - the reverse of SimpleITK's ``GetSpacing()``, which is
``(x, y, z) = (W, H, D)``. Without ``spacing`` lengths are in voxels.

Label maps are ``(B, 1, *spatial)`` tensors of non-negative integers (bool,
integer, or floating point holding whole numbers); 0 is the background.
Every per-label measure returns ``(B, L)`` for the ``L`` labels compared, and
never builds a one-hot tensor of all labels.

Lab 08 ("Evaluation") teaches this package.
"""

from reglab.evaluation.field_quality import inverse_consistency, rmse
from reglab.evaluation.jacobian import STENCILS, curl, folding_fraction, jacobian_determinant, jacobian_matrix, sdlogj
from reglab.evaluation.landmarks import tre
from reglab.evaluation.overlap import dice, iou
from reglab.evaluation.report import Report, report
from reglab.evaluation.surface_distance import assd, hausdorff, hd95, surface_voxels

__all__ = ["STENCILS", "Report", "assd", "curl", "dice", "folding_fraction", "hausdorff", "hd95", "inverse_consistency",
           "iou", "jacobian_determinant", "jacobian_matrix", "report", "rmse", "sdlogj", "surface_voxels", "tre"]
