"""(Dis)similarity measures: how well does the warped image match the fixed one? The lecture's cost functions.

* :mod:`reglab.similarity.intensity` - ``ssd``, ``mse``, ``sad``, ``ncc``: voxelwise intensity differences and
  global correlation, the unimodal measures (Lab 03, exercises 3.1 and 3.2);
* :mod:`reglab.similarity.local_ncc` - ``box_mean`` (the window mean) and ``local_ncc``: NCC of windows, robust
  to a bias field (Lab 03; the training loss of Lab 06);
* :mod:`reglab.similarity.information` - ``joint_histogram`` (B-spline Parzen window), ``mi``, ``nmi``: the
  multimodal measures from entropies (Lab 03, exercise 3.3);
* :mod:`reglab.similarity.ngf` - ``ngf``: normalized gradient fields, parallel edges (Lab 03, exercise 3.4);
* :mod:`reglab.similarity.mind` - ``mind`` descriptors (MIND, MIND-SSC), ``mind_ssd``, ``mind_ssc`` (Lab 03);
* :mod:`reglab.similarity.loss` - ``MEASURES``, ``HIGHER_IS_BETTER``, ``loss``, ``SimilarityLoss``: any measure as
  a quantity to minimise (Lab 03; minimised by ``reglab.register`` in Lab 05 and by training in Lab 06).

Every measure takes ``(fixed, warped, *, mask=None, reduction="mean")`` with images ``(B, C, H, W)`` or
``(B, C, D, H, W)`` and returns the quantity the lecture defines, in its natural units and with its natural
sign (NCC in ``[-1, 1]``, MI in nats, SSD ``>= 0``); :func:`loss` says which way is better.

**Masks** ``(B or 1, 1 or C, *spatial)`` (bool, or float weights in ``[0, 1]``)
restrict a measure to a region: only voxels (window centres for
``local_ncc``) inside the mask count. An empty mask gives the value of "no
evidence": 0 for every measure (``nmi``: 1), never NaN.

**Reductions**: ``"mean"`` over the batch (a 0-d tensor), ``"sum"``, or
``"none"`` (one value per batch element, ``(B,)``).

References:
    Szeliski 2010 (SSD, SAD, NCC); Viola & Wells 1997 (MI); Mattes et al. 2003
    (B-spline Parzen MI); Studholme et al. 1999 (NMI); Haber & Modersitzki 2006
    (NGF); Heinrich et al. 2012 (MIND), 2013 (MIND-SSC).
"""

from reglab.similarity._reduction import REDUCTIONS
from reglab.similarity.information import joint_histogram, mi, nmi
from reglab.similarity.intensity import mse, ncc, sad, ssd
from reglab.similarity.local_ncc import box_mean, local_ncc
from reglab.similarity.loss import HIGHER_IS_BETTER, MEASURES, SimilarityLoss, loss
from reglab.similarity.mind import mind, mind_ssc, mind_ssd
from reglab.similarity.ngf import ngf

__all__ = ["HIGHER_IS_BETTER", "MEASURES", "REDUCTIONS", "SimilarityLoss", "box_mean", "joint_histogram", "local_ncc",
           "loss", "mi", "mind", "mind_ssc", "mind_ssd", "mse", "ncc", "ngf", "nmi", "sad", "ssd"]
