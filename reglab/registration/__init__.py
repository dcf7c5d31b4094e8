"""Classical registration: optimise the parameters Θ of one transformation for one image pair (Lab 05).

``O(F, M, Θ) = C(F, T(M, Θ)) + λ R(Θ) + μ P(Θ)  →  min over Θ``, by gradient-based
optimisation on a Gaussian pyramid, coarse to fine.

===================  ===================================================================  ======
file                 holds                                                                lab
===================  ===================================================================  ======
``engine.py``        :func:`register`: one transformation, one pair, coarse to fine        05, 04
``stages.py``        :func:`register_stages` (rigid → affine → B-spline),                 05
                     :data:`DEFAULT_STAGES` (affine, then an SVF by local NCC)
``result.py``        their result :class:`Registration`: ``to_itk``, ``apply`` (any image  05, 08
                     or label map onto the fixed grid)
``level.py``         one pyramid level: the optimiser loop, :data:`OPTIMIZERS`,           05
                     :data:`LEARNING_RATES`, stopping on convergence
``models.py``        :data:`MODELS` by name, :data:`GRID_MODELS`, and how a model is      05
                     built and carried from level to level
``pyramid.py``       :func:`gaussian_pyramid`, :func:`downsample`, :func:`pyramid_size`,   05
                     :func:`refine_bspline` (exact B-spline subdivision between levels)
``penalties.py``     the penalties P: :func:`landmark_penalty`, :func:`label_penalty`      05
``resampling.py``    physical space: :func:`resample_to_fixed`, the moving image on the   05
                     fixed grid through the two geometries; :func:`sample_at`
``intensities.py``   real scans: :func:`scanned_region` (padding), :func:`rescale_          05
                     intensities` (any type and range to [0, 1])
``region.py``        the region's box (:func:`region_box`, :func:`crop`): optimise where   05
                     voxels count; :func:`extend_model` back to the whole grid
``plausibility.py``  :class:`RegistrationWarning` and :func:`implausibilities` (affine     05
                     scale, folding, a similarity that got worse)
===================  ===================================================================  ======

Lab 05 ("Classical registration") teaches this package; Lab 04 ("Regularization") uses it.

References:
    Sotiras, Davatzikos & Paragios, "Deformable medical image registration: a survey", IEEE TMI 2013;
    Klein et al., "elastix", IEEE TMI 2010 (pyramids, stages); Rueckert et al. 1999 (B-spline FFD).
"""

from reglab.registration.engine import register
from reglab.registration.intensities import rescale_intensities, scanned_region
from reglab.registration.level import LEARNING_RATES, OPTIMIZERS
from reglab.registration.models import GRID_MODELS, MODELS
from reglab.registration.penalties import label_penalty, landmark_penalty
from reglab.registration.plausibility import RegistrationWarning, implausibilities
from reglab.registration.pyramid import downsample, gaussian_pyramid, pyramid_size, refine_bspline
from reglab.registration.resampling import resample_to_fixed, sample_at
from reglab.registration.region import crop, extend_model, region_box
from reglab.registration.result import Registration
from reglab.registration.stages import DEFAULT_STAGES, register_stages

__all__ = ["DEFAULT_STAGES", "GRID_MODELS", "LEARNING_RATES", "MODELS", "OPTIMIZERS", "Registration",
           "RegistrationWarning", "crop", "downsample", "extend_model", "gaussian_pyramid", "implausibilities",
           "label_penalty", "landmark_penalty", "pyramid_size", "refine_bspline", "region_box", "register",
           "register_stages", "resample_to_fixed", "rescale_intensities", "sample_at", "scanned_region"]
