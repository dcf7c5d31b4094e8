"""Images and known deformations shared by the registration tests.

Ground truth comes from reglab.data's seeded generators (the true displacement is
known exactly). Images are small (64² in 2D, 32³ in 3D) so that every file runs
in well under a minute on one core.
"""

import torch.nn.functional as F

from reglab import warp
from reglab.data import load_brain, load_brain_slice, random_deformation


def brain(ndim, device):
    """A small smooth brain image: the axial slice at 64² or the volume at 32³, values in [0, 1]."""
    if ndim == 2:
        image = F.interpolate(load_brain_slice("axial").image, size=(64, 64), mode="bilinear", align_corners=True)
    else:
        image = F.interpolate(load_brain().image, size=(32, 32, 32), mode="trilinear", align_corners=True)
    return image.to(device)


def mean_error(found, true, margin):
    """Mean endpoint error in voxels, inside the image minus a border of ``margin`` voxels."""
    error = (found - true).norm(dim=1)
    inner = tuple(slice(margin, n - margin) for n in error.shape[1:])
    return error[(slice(None), *inner)].mean().item()


def deformable_pair(device):
    fixed = brain(2, device)
    truth = random_deformation((64, 64), magnitude=2.0, smoothness=12.0, seed=3, device=device).displacement
    inside = (fixed > 0.05)[:, 0]
    return fixed, warp(fixed, random_deformation((64, 64), magnitude=2.0, smoothness=12.0, seed=3,
                                                 device=device).inverse), truth, inside
