"""Regularization: penalties on the displacement field that keep it plausible (Lab 04).

Registration minimises ``C(F, M∘y) + λ R(u)``; without ``R`` a dense field
can fold and tear to match noise. Each penalty takes a displacement ``u``
``(B, ndim, *spatial)`` in voxels and returns a value ``>= 0`` (lower is
smoother); with ``spacing`` (voxel size in mm) it differentiates in mm.
Reductions as in :mod:`reglab.similarity`: ``"mean"`` | ``"sum"`` over the
batch, ``"none"`` → ``(B,)``.

=====================  ==============================================================  ======
file                   holds                                                           lab
=====================  ==============================================================  ======
``first_order.py``     :func:`diffusion`, :func:`elastic` (first derivatives; zero      04
                       for translations)
``second_order.py``    :func:`bending_energy`, :func:`curvature` (second derivatives;   04
                       zero for affine maps)
``folding.py``         :func:`folding_penalty` ``max(0, margin - det(I + ∇u))``         04
``smoothing.py``       :func:`gaussian_smoothing`, :func:`gaussian_kernel`: the         04, 05
                       implicit regularizer ``y ← y * G_σ``
``regularizer.py``     :data:`REGULARIZERS` (the penalties by name) and the module      04, 05
                       :class:`Regularizer`
``_differences.py``    private: validation, units, reductions, the stencils and the     04
                       cell-centred Jacobian shared by the penalties
=====================  ==============================================================  ======

Lab 04 ("Regularization") teaches this package; Lab 03 shows the similarity side.

References:
    Fischer & Modersitzki 2003 (curvature); Broit 1981 and Modersitzki 2004 (elastic);
    Rueckert et al. 1999 (bending energy); Thirion 1998 (Gaussian smoothing);
    Mok & Chung 2020 (negative Jacobian penalty).
"""

from reglab.regularization._differences import REDUCTIONS
from reglab.regularization.first_order import diffusion, elastic
from reglab.regularization.folding import folding_penalty
from reglab.regularization.regularizer import REGULARIZERS, Regularizer
from reglab.regularization.second_order import _mean_square, _second_difference  # noqa: F401  (private, as before)
from reglab.regularization.second_order import bending_energy, curvature
from reglab.regularization.smoothing import gaussian_kernel, gaussian_smoothing

__all__ = ["REDUCTIONS", "REGULARIZERS", "Regularizer", "bending_energy", "curvature", "diffusion", "elastic",
           "folding_penalty", "gaussian_kernel", "gaussian_smoothing"]
