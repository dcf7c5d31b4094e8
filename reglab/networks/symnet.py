"""SymNet: symmetric registration through a mid-space, inverse-consistent by construction.

Registering ``F`` to ``M`` and ``M`` to ``F`` should give inverse
transformations, but a plain network ``g(F, M)`` does not know that. Mok & Chung
(2020) predict velocities that bring *both* images half-way, into a mean space,
and integrate them. Here the symmetry is built in: the velocity is the
antisymmetric part of a residual UNet's output,

    v(F, M) = ( g(F, M) - g(M, F) ) / 2,      so that   v(M, F) = -v(F, M),

and the transformations are its exponentials (:func:`reglab.fields.integrate_velocity`):
``φ_FM = exp(v)``, ``φ_MF = exp(-v)`` (the exact inverse), the half-way maps
``exp(±v/2)`` meet in the mid-space. Swapping the inputs swaps the directions
exactly, and ``compose(φ_FM, φ_MF) ≈ 0`` up to interpolation.

Lab 07 uses it.
"""

import torch

from reglab.fields import integrate_velocity
from reglab.networks.blocks import FlowHead, RegistrationNetwork, ResidualBlock, UNetBackbone


class SymNet(RegistrationNetwork):
    """Symmetric diffeomorphic network: forward and backward fields from one antisymmetric velocity.

    Args:
        ndim: 2 or 3.
        features: channels per level of the residual UNet, finest first.
        steps: scaling-and-squaring steps.

    Shapes: ``fixed, moving (B, 1, *spatial) → displacement (B, ndim, *spatial)`` in voxels
    (fixed → moving, as every reglab network); :meth:`both` and :meth:`mid_space` give the rest.

    Example:
        >>> net = SymNet(2, features=(4, 8))
        >>> f, m = torch.rand(1, 1, 12, 10), torch.rand(1, 1, 12, 10)
        >>> torch.allclose(net.velocity(f, m), -net.velocity(m, f))       # symmetric by construction
        True

    Lab 07. Reference: T. C. W. Mok, A. C. S. Chung, "Fast symmetric diffeomorphic image registration
    with convolutional neural networks", CVPR 2020. Structure checked against cwmok/Fast-Symmetric-
    Diffeomorphic-Image-Registration-with-Convolutional-Neural-Networks Code/Models.py (``SYMNet``:
    a UNet that outputs the two velocities to the mean space, integrated by scaling and squaring).
    The paper's magnitude loss ``|Σ|v_XY| - Σ|v_YX|| / N`` only equalises the two fields' L1 norms
    (their total size); it does not push ``v_XY ≈ -v_YX``. Here the velocity is antisymmetric,
    ``v(M, F) = -v(F, M)``, by construction, which implies equal norms and more.
    """

    def __init__(self, ndim, *, features=(8, 16, 32, 32), steps=7):
        super().__init__(ndim)
        self.steps = steps
        self.min_size = 2 ** (len(features) - 1)
        self.backbone = UNetBackbone(ndim, 2, features, ResidualBlock)
        self.head = FlowHead(ndim, features[0])

    def _raw(self, fixed, moving):
        return self.head(self.backbone(torch.cat([fixed, moving], dim=1)))

    def velocity(self, fixed, moving):
        """``v = (g(F, M) - g(M, F)) / 2`` ``(B, ndim, *spatial)``, voxels per unit time."""
        self.check_pair(fixed, moving)
        return 0.5 * (self._raw(fixed, moving) - self._raw(moving, fixed))

    def predict(self, fixed, moving):
        return integrate_velocity(self.velocity(fixed, moving), steps=self.steps)

    def both(self, fixed, moving):
        """``(forward, backward)``: ``exp(v)`` (warps moving onto fixed) and ``exp(-v)`` (fixed onto moving)."""
        v = self.velocity(fixed, moving)
        return integrate_velocity(v, steps=self.steps), integrate_velocity(-v, steps=self.steps)

    def mid_space(self, fixed, moving):
        """``(to_moving, to_fixed)`` half-way fields ``exp(v/2)``, ``exp(-v/2)``.

        ``warp(moving, to_moving)`` and ``warp(fixed, to_fixed)`` meet in the mid-space,
        where SymNet's loss compares them.
        """
        v = self.velocity(fixed, moving)
        return integrate_velocity(0.5 * v, steps=self.steps), integrate_velocity(-0.5 * v, steps=self.steps)
