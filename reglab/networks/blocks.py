"""Building blocks shared by the registration networks of :mod:`reglab.networks`.

Every network is dimension-generic: the same code builds a 2D or a 3D model,
because the layers are picked by ``ndim`` (``Conv2d`` or ``Conv3d``, ...).
Every network takes a ``(fixed, moving)`` pair and returns a displacement
``(B, ndim, *spatial)`` in voxels (reglab's convention, :mod:`reglab.grid`), so
``warp(moving, network(fixed, moving)) ≈ fixed``.

The pieces:

* :class:`RegistrationNetwork` - the base class: input checks, padding to the
  size the downsampling needs, cropping back, parameter count;
* :class:`ConvBlock` (conv + LeakyReLU, VoxelMorph's unit), :class:`DoubleConv`
  (UNet's unit), :class:`ResidualBlock` (ResUNet's unit);
* :class:`UNetBackbone` - encoder/decoder with skip connections, any block;
* :class:`FlowHead` - the last convolution, initialised near zero so that an
  untrained network predicts (almost) the identity transformation.

Labs 06 and 07 use this module.
"""

import torch
import torch.nn.functional as F
from torch import nn

from reglab.validation import check_image


def conv(ndim, in_channels, out_channels, *, kernel=3, stride=1):
    """A ``Conv2d``/``Conv3d`` that keeps the size (``padding = kernel // 2``) when ``stride`` is 1."""
    layer = nn.Conv2d if ndim == 2 else nn.Conv3d
    return layer(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2)


def max_pool(ndim):
    """Halve every spatial axis (floor) by max pooling."""
    return nn.MaxPool2d(2) if ndim == 2 else nn.MaxPool3d(2)


def channels_last(ndim):
    """The channels-last memory layout of a ``(B, C, *spatial)`` tensor (``torch.channels_last[_3d]``).

    Same shape and values, but the ``C`` values of a voxel lie next to each other in
    memory. oneDNN's CPU convolutions (and cuDNN's tensor-core ones) work in that
    layout, so a network that keeps its features in it skips a reordering per layer.
    """
    return torch.channels_last if ndim == 2 else torch.channels_last_3d


def upsample_to(x, size):
    """Resize features ``(B, C, *spatial)`` to ``size`` (nearest neighbour, like VoxelMorph's decoder).

    Interpolating to the skip connection's size, instead of doubling, lets odd
    sizes through the network: 13 → 6 → 13 works.
    """
    return F.interpolate(x, size=tuple(size), mode="nearest")


class ConvBlock(nn.Module):
    """``conv 3×3(×3)`` then ``LeakyReLU(0.2)``: VoxelMorph's unit."""

    def __init__(self, ndim, in_channels, out_channels, *, stride=1):
        super().__init__()
        self.conv = conv(ndim, in_channels, out_channels, stride=stride)
        self.activation = nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.activation(self.conv(x))


class DoubleConv(nn.Module):
    """Two :class:`ConvBlock` s: the unit of each UNet level (Ronneberger et al. 2015)."""

    def __init__(self, ndim, in_channels, out_channels):
        super().__init__()
        self.first = ConvBlock(ndim, in_channels, out_channels)
        self.second = ConvBlock(ndim, out_channels, out_channels)

    def forward(self, x):
        return self.second(self.first(x))


class ResidualBlock(nn.Module):
    """``act(x' + conv(act(conv(x))))`` with ``x'`` = x, or a 1×1 projection when the channels change (He et al. 2016)."""

    def __init__(self, ndim, in_channels, out_channels):
        super().__init__()
        self.first = conv(ndim, in_channels, out_channels)
        self.second = conv(ndim, out_channels, out_channels)
        self.skip = nn.Identity() if in_channels == out_channels else conv(ndim, in_channels, out_channels, kernel=1)
        self.activation = nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.activation(self.skip(x) + self.second(self.activation(self.first(x))))


class FlowHead(nn.Module):
    """The last layer: features → ``ndim`` channels (a displacement or velocity in voxels).

    Its weights are drawn from ``N(0, 1e-5²)`` and its bias is zero, as in
    VoxelMorph, so an untrained network predicts ``u ≈ 0``: the identity
    transformation, a sensible start that keeps the first gradients meaningful.
    """

    def __init__(self, ndim, in_channels):
        super().__init__()
        self.conv = conv(ndim, in_channels, ndim)
        nn.init.normal_(self.conv.weight, mean=0.0, std=1e-5)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        return self.conv(x)


class UNetBackbone(nn.Module):
    """Encoder-decoder with skip connections (Ronneberger et al. 2015), any block.

    ``features = (f0, f1, ..., fL)``: level ``k`` works at ``1/2^k`` of the size
    with ``fk`` channels; the decoder mirrors the encoder and concatenates the
    encoder's features of the same level (the skip connections).

    Args:
        ndim: 2 or 3.
        in_channels: input channels (2 for a fixed/moving pair).
        features: channels per level, finest first.
        block: a class ``block(ndim, in_channels, out_channels)``, e.g. :class:`DoubleConv`.

    Shapes: ``(B, in_channels, *spatial) → (B, features[0], *spatial)``.
    """

    def __init__(self, ndim, in_channels, features, block):
        super().__init__()
        self.levels = len(features) - 1
        channels = [in_channels] + list(features)
        self.encoder = nn.ModuleList(block(ndim, channels[k], channels[k + 1]) for k in range(len(features)))
        self.pool = max_pool(ndim)
        self.decoder = nn.ModuleList(block(ndim, features[k + 1] + features[k], features[k])
                                     for k in reversed(range(self.levels)))

    def forward(self, x):
        skips = []
        for k, block in enumerate(self.encoder):
            x = block(x)
            if k < self.levels:
                skips.append(x)
                x = self.pool(x)
        for block in self.decoder:
            skip = skips.pop()
            x = block(torch.cat([upsample_to(x, skip.shape[2:]), skip], dim=1))   # (B, f_{k+1} + f_k, *size_k)
        return x


class RegistrationNetwork(nn.Module):
    """Base class: ``forward(fixed, moving) -> displacement (B, ndim, *spatial)`` in voxels.

    Subclasses implement ``predict(fixed, moving)`` on inputs whose sizes are
    multiples of ``self.multiple``; :meth:`forward` checks the inputs, pads them
    with zeros up to that multiple and crops the field back, so any size its
    downsampling allows works (at least ``self.min_size`` voxels per axis).

    Attributes:
        ndim: 2 or 3.
        multiple: the factor every padded size is a multiple of.
        min_size: the smallest size per axis the network accepts.
    """

    multiple = 1
    min_size = 1

    def __init__(self, ndim):
        super().__init__()
        if ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}(): expected `ndim` 2 or 3, got {ndim!r}.")
        self.ndim = ndim

    def check_pair(self, fixed, moving):
        """Validate a pair; raise ``ValueError``/``TypeError`` with the network's name."""
        name = type(self).__name__
        for label, image in (("fixed", fixed), ("moving", moving)):
            if check_image(name, label, image) != self.ndim:
                raise ValueError(f"{name}(): expected a {self.ndim}D `{label}` image "
                                 f"(B, 1, {', '.join('HW' if self.ndim == 2 else 'DHW')}), got {tuple(image.shape)}.")
        if fixed.shape != moving.shape:
            raise ValueError(f"{name}(): expected `fixed` and `moving` of the same shape, "
                             f"got {tuple(fixed.shape)} and {tuple(moving.shape)}. Hint: resample both onto one grid first.")
        if min(fixed.shape[2:]) < self.min_size:
            raise ValueError(f"{name}(): expected at least {self.min_size} voxels per axis "
                             f"(the network downsamples that much), got {tuple(fixed.shape[2:])}.")

    def pad(self, image):
        """Zero-pad the spatial axes at the end up to a multiple of ``self.multiple``."""
        size = image.shape[2:]
        extra = [(-n) % self.multiple for n in size]
        padding = [p for e in reversed(extra) for p in (0, e)]                  # F.pad wants the last axis first
        return F.pad(image, padding) if any(extra) else image

    def crop(self, field, size):
        """Undo :meth:`pad`: keep the first ``size`` voxels of every spatial axis."""
        return field[(..., *[slice(0, n) for n in size])]

    def forward(self, fixed, moving):
        self.check_pair(fixed, moving)
        size = fixed.shape[2:]
        return self.crop(self.predict(self.pad(fixed), self.pad(moving)), size)

    def num_parameters(self):
        """The number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self):
        return f"ndim={self.ndim}, parameters={self.num_parameters():,}"
