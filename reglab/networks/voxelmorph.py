"""VoxelMorph: a UNet that predicts a dense displacement (or a velocity, then integrated).

The network (Balakrishnan et al. 2019) is a UNet of single ``conv + LeakyReLU``
units: the encoder halves the size four times, the decoder upsamples and
concatenates the skip connections, and a few full-resolution convolutions
refine the field before the flow head. Its diffeomorphic variant (Dalca et al.
2019) reads the output as a stationary velocity ``v`` and integrates it by
scaling and squaring (:func:`reglab.fields.integrate_velocity`), which keeps
the transformation invertible and free of folding.

Lab 06 trains it; Lab 07 compares it with the other architectures.
"""

import torch
from torch import nn

from reglab.fields import integrate_velocity
from reglab.networks.blocks import ConvBlock, FlowHead, RegistrationNetwork, channels_last, max_pool, upsample_to

SIZES = {
    "vm1": ((16, 32, 32, 32), (32, 32, 32, 32, 8, 8)),
    "vm2": ((16, 32, 32, 32), (32, 32, 32, 32, 32, 16, 16)),
}
"""The paper's two sizes: (encoder channels, decoder channels). The first
``len(encoder)`` decoder entries are the upsampling levels, the rest run at full resolution."""


class VoxelMorph(RegistrationNetwork):
    """VoxelMorph: ``u = g_θ(F, M)`` with a UNet ``g_θ`` (VM-1 or VM-2), optionally diffeomorphic.

    Args:
        ndim: 2 or 3.
        size: ``"vm1"`` or ``"vm2"`` (the paper's channel sizes, :data:`SIZES`).
        features: ``(encoder, decoder)`` channels to replace ``size`` (e.g. a smaller model).
        diffeomorphic: predict a velocity and integrate it (VoxelMorph-diff).
        steps: scaling-and-squaring steps of the integration.

    Shapes: ``fixed, moving (B, 1, *spatial) → displacement (B, ndim, *spatial)`` in voxels;
    any size with at least ``2**len(encoder)`` voxels per axis (odd sizes too).

    Example:
        >>> VoxelMorph(2).num_parameters(), VoxelMorph(3, size="vm1").num_parameters()
        (109170, 276523)
        >>> net = VoxelMorph(2, diffeomorphic=True)
        >>> net(torch.rand(1, 1, 33, 40), torch.rand(1, 1, 33, 40)).abs().max() < 1e-2    # starts at the identity
        tensor(True)

    Labs 06 and 07. References: G. Balakrishnan, A. Zhao, M. R. Sabuncu, J. Guttag, A. V. Dalca,
    "VoxelMorph: a learning framework for deformable medical image registration", IEEE TMI 2019;
    A. V. Dalca et al., "Unsupervised learning of probabilistic diffeomorphic registration for
    images and surfaces", MedIA 2019. Structure checked against voxelmorph/torch/networks.py
    (``Unet``, ``VxmDense``): max pooling, nearest upsampling, flow head ~ N(0, 1e-5).
    """

    def __init__(self, ndim, *, size="vm2", features=None, diffeomorphic=False, steps=7):
        super().__init__(ndim)
        if features is None and size not in SIZES:
            raise ValueError(f"VoxelMorph(): expected `size` 'vm1' or 'vm2', got {size!r}.")
        encoder, decoder = features if features is not None else SIZES[size]
        if len(decoder) < len(encoder):
            raise ValueError(f"VoxelMorph(): expected at least {len(encoder)} decoder channels, got {decoder}.")
        self.diffeomorphic, self.steps = diffeomorphic, steps
        self.min_size = 2 ** len(encoder)
        channels = [2] + list(encoder)
        self.encoder = nn.ModuleList(ConvBlock(ndim, channels[k], channels[k + 1]) for k in range(len(encoder)))
        self.pool = max_pool(ndim)
        skips = list(reversed(encoder))
        self.decoder = nn.ModuleList()
        previous = encoder[-1]
        for k, out in enumerate(decoder[:len(encoder)]):                 # upsampling levels
            self.decoder.append(ConvBlock(ndim, previous, out))
            previous = out + skips[k]
        self.refine = nn.ModuleList()
        for out in decoder[len(encoder):]:                               # full-resolution convolutions
            self.refine.append(ConvBlock(ndim, previous, out))
            previous = out
        self.head = FlowHead(ndim, previous)

    def velocity(self, fixed, moving):
        """The raw output of the flow head ``(B, ndim, *spatial)``: a velocity when diffeomorphic."""
        self.check_pair(fixed, moving)
        size = fixed.shape[2:]
        return self.crop(self._field(self.pad(fixed), self.pad(moving)), size)

    def _field(self, fixed, moving):
        x = torch.cat([fixed, moving], dim=1)                            # (B, 2, *spatial)
        x = x.contiguous(memory_format=channels_last(self.ndim))        # same values, faster convolutions
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)                                             # halve every axis
        for block in self.decoder:
            skip = skips.pop()
            x = torch.cat([upsample_to(block(x), skip.shape[2:]), skip], dim=1)
        for block in self.refine:
            x = block(x)
        return self.head(x).contiguous()                                # (B, ndim, *spatial), the usual layout

    def predict(self, fixed, moving):
        field = self._field(fixed, moving)
        return integrate_velocity(field, steps=self.steps) if self.diffeomorphic else field

    def extra_repr(self):
        return f"{super().extra_repr()}, diffeomorphic={self.diffeomorphic}"
