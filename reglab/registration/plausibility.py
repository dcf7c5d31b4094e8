"""Is the result believable? Checks that turn a silent failure into a :class:`RegistrationWarning`.

An optimiser always returns *something*. Three signs that it is not a registration:

* an affine part whose scale is far from 1 (singular values of the linear part, in mm, outside
  ``[1 / MAX_SCALE, MAX_SCALE]``): two heads of adults differ by 10-20 %, not by a factor 1.5;
  a collapsed affine stage (everything shrunk onto a padded streak) looks like this;
* folding: more than ``MAX_FOLDING`` of the fixed voxels with ``J ≤ 0`` (not invertible there);
* the similarity got worse: the measure's loss at full resolution, inside the masks, after the registration
  is above its value at the start (the identity, or the earlier stages) by more than ``WORSE`` of its size
  (smaller changes are the optimiser's noise around an optimum it started at).

:func:`implausibilities` returns one sentence per sign; :func:`~reglab.registration.engine.register`
issues each as a :class:`RegistrationWarning` and keeps them in ``Registration.warnings``.

Lab 05 ("Classical registration").
"""

import torch

from reglab.evaluation import jacobian_determinant
from reglab.transforms import Chain
from reglab.transforms.base import LinearTransform

MAX_SCALE = 1.5
"""The largest plausible scale factor (and 1 / MAX_SCALE the smallest) of an inter-subject affine map."""
MAX_FOLDING = 0.001
"""The largest plausible fraction of fixed voxels with ``J ≤ 0`` (0.1 %)."""
WORSE = 0.01
"""A loss that rose by more than this fraction of ``|loss before|`` (or of 1e-3) counts as worse."""


class RegistrationWarning(UserWarning):
    """A registration finished but its result looks implausible (see :mod:`reglab.registration.plausibility`)."""


def affine_scales(transform, spacing):
    """``(B, ndim)`` singular values of the linear parts of a model (the product over a chain's linear models), in mm.

    ``S A S⁻¹`` with ``S = diag(spacing)``: the voxel-space matrix ``A`` expressed in mm, so anisotropic voxels do
    not read as a scale. None when the model has no linear part.
    """
    models = list(transform.transforms) if isinstance(transform, Chain) else [transform]
    linear = [m for m in models if isinstance(m, LinearTransform)]
    if not linear:
        return None
    product = None
    for model in linear:
        matrix = model.matrix().detach().to(torch.float64)[:, :, :-1]
        product = matrix if product is None else product @ matrix
    s = torch.tensor(spacing, dtype=torch.float64, device=product.device)
    return torch.linalg.svdvals(s[:, None] * product / s[None, :])


def implausibilities(transform, displacement, spacing, before, after):
    """Sentences naming what looks wrong with a result; empty when nothing does.

    Args:
        transform: the fitted model (or chain).
        displacement: ``(B, ndim, *spatial)`` its displacement at full resolution, voxels.
        spacing: voxel size in mm, tensor axis order.
        before, after: ``(B,)`` the similarity's loss (lower is better) at the start and at the end.

    Example:
        >>> from reglab.transforms import Affine
        >>> shrink = Affine((8, 8), linear=torch.tensor([[[0.5, 0.0], [0.0, 0.5]]]))
        >>> implausibilities(shrink, shrink(), (1.0, 1.0), torch.tensor([0.0]), torch.tensor([-1.0]))
        ['the affine part scales by 0.50 to 0.50 (outside [0.67, 1.5]): a collapsed or exploded affine stage? Hint: a fixed_mask / foreground, or a rigid stage first.']
    """
    messages = []
    scales = affine_scales(transform, spacing)
    if scales is not None and ((scales > MAX_SCALE).any() or (scales < 1 / MAX_SCALE).any()):
        messages.append(f"the affine part scales by {scales.min().item():.2f} to {scales.max().item():.2f} "
                        f"(outside [{1 / MAX_SCALE:.2f}, {MAX_SCALE}]): a collapsed or exploded affine stage? "
                        "Hint: a fixed_mask / foreground, or a rigid stage first.")
    if min(displacement.shape[2:]) >= 3:
        folding = (jacobian_determinant(displacement) <= 0).flatten(1).float().mean(1).max().item()
        if folding > MAX_FOLDING:
            messages.append(f"{100 * folding:.2f} % of the fixed voxels fold (J <= 0; at most {100 * MAX_FOLDING} % "
                            "is plausible). Hint: a larger regularization weight or a diffeomorphic model (svf).")
    worse = (after > before + WORSE * before.abs().clamp_min(1e-3)).nonzero().flatten().tolist()
    if worse:
        messages.append(f"the similarity got worse (loss {before[worse[0]].item():.4g} before, "
                        f"{after[worse[0]].item():.4g} after, batch item {worse[0]}). Hint: check the masks, "
                        "the learning rate and that the images overlap.")
    return messages
