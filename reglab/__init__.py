"""reglab: medical image registration, taught.

Small modules, one concept each, in lecture order (imports flow downwards only):

* :mod:`reglab.grid` - the conventions, identity grids, ``grid_sample`` coordinates, forward splatting
* :mod:`reglab.warping` - backward warping of images, labels and points
* :mod:`reglab.fields` - displacement fields: affine maps, composition, inversion, integration, resizing
* :mod:`reglab.io` - images and ITK transforms on disk, physical geometry
* :mod:`reglab.data` - embedded real anatomy, seeded generators with exact ground truth, datasets, downloads
* :mod:`reglab.transforms` - the transformation models (rigid, affine, local affine, B-spline FFD, dense, SVF)
* :mod:`reglab.similarity` - (dis)similarity measures: SSD, SAD, NCC, local NCC, MI, NMI, NGF, MIND
* :mod:`reglab.regularization` - diffusion, curvature, elastic, bending energy, Gaussian smoothing, folding penalty
* :mod:`reglab.evaluation` - Dice/IoU, HD/HD95/ASSD, TRE, Jacobian/folding/SDlogJ, curl, RMSE, inverse consistency
* :mod:`reglab.visualization` - overlays, checkerboards, grids, Jacobian/curl maps, landmarks, viewers
* :mod:`reglab.registration` - classical registration: O = C + R + P → min over any model (``reglab.register``)
* :mod:`reglab.networks` - UNet, ResUNet, VoxelMorph, LapIRN, HyperMorph, SymNet, GAN, TransMorph
* :mod:`reglab.training` - supervised, unsupervised and adversarial training, instance optimisation
* :mod:`reglab.devices` - the device the labs compute on
* :mod:`reglab.course` - the course on top of the library: labs (``build``), checkers (``checks``), ``grading``
* :mod:`reglab.cli` - the ``reglab`` command line (``reglab register``, ``reglab grade``)

``reglab.warp``, ``reglab.warp_points`` and ``reglab.register`` are available at the top level, and the
library modules above are imported with ``import reglab`` (all but ``visualization``, which needs matplotlib,
and the course/network modules, imported on first use).
"""

from reglab import data, evaluation, fields, grid, io, regularization, similarity, transforms
from reglab.devices import default_device
from reglab.registration import register, register_stages
from reglab.warping import warp, warp_points

__version__ = "0.1.0"

__all__ = ["data", "default_device", "evaluation", "fields", "grid", "io", "register", "register_stages", "regularization",
           "similarity", "transforms", "warp", "warp_points", "__version__"]
