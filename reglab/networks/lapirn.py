"""LapIRN: a Laplacian pyramid of networks, coarse to fine, each adding a residual field.

Large deformations are easy to see at a coarse scale and fine detail at a fine
one. LapIRN (Mok & Chung 2020) registers the images at 1/4, 1/2 and full size
with three small networks. Level ``k`` sees the fixed image, the moving image
warped by the field of the level below (upsampled), and that field; it predicts
a *residual* that is added to it::

    u_1 = g_1(F/4, M/4)
    u_k = up(u_{k-1}) + g_k(F_k, M_k ∘ (id + up(u_{k-1})), up(u_{k-1}))     k = 2, 3

and the features of the level below are upsampled and added into the next
level's embedding. :func:`upsample_displacement` does ``up``: it interpolates the
field *and* doubles its vectors, because a voxel of the finer grid is half as long.
Images and fields share one geometry, the cell-centred one of average pooling: a
coarse voxel is the block of ``f`` fine voxels it averages (its centre at fine
coordinate ``f·i + (f - 1)/2``), so the field is interpolated with
``align_corners=False`` and a displacement of 1 coarse voxel is exactly ``f`` fine
voxels. (:func:`reglab.fields.resize_displacement` keeps the first and last voxel
centres instead, the geometry of the classical pyramid; it would scale the vectors
by ``(n - 1)/(n/f - 1)``, +10.7 % on a 32-voxel axis.)

Lab 07 uses it.
"""

import torch
import torch.nn.functional as F
from torch import nn

from reglab.networks.blocks import ConvBlock, FlowHead, RegistrationNetwork, ResidualBlock, conv, upsample_to
from reglab.warping import warp


def downsample(image, factor):
    """Average-pool ``(B, C, *spatial)`` by ``factor`` (sizes must be multiples of it)."""
    if factor == 1:
        return image
    return (F.avg_pool2d if image.dim() == 4 else F.avg_pool3d)(image, factor)


def upsample_displacement(displacement, size):
    """A field ``(B, ndim, *spatial)`` on the grid ``size``, in the cell-centred geometry of :func:`downsample`.

    The field is interpolated linearly with ``align_corners=False`` (a coarse voxel covers the ``f`` fine voxels
    it averages) and component ``i`` is multiplied by ``size[i] / spatial[i]`` (``f``): a displacement of 1
    coarse voxel is ``f`` fine voxels.

    Args:
        displacement: ``(B, ndim, *spatial)`` in voxels of the coarse grid.
        size: the fine spatial shape, ``ndim`` ints.

    Returns:
        Tensor ``(B, ndim, *size)`` in voxels of the fine grid.

    Example:
        >>> upsample_displacement(torch.ones(1, 2, 4, 3), (8, 6))[0, :, 0, 0]
        tensor([2., 2.])
    """
    ndim = displacement.dim() - 2
    mode = "bilinear" if ndim == 2 else "trilinear"
    resized = F.interpolate(displacement, size=tuple(size), mode=mode, align_corners=False)
    scale = torch.tensor([new / old for new, old in zip(size, displacement.shape[2:])],
                         device=displacement.device, dtype=displacement.dtype)
    return resized * scale.reshape(1, ndim, *([1] * ndim))


class LevelNetwork(nn.Module):
    """One pyramid level: encoder (one stride-2 step), residual blocks, decoder, flow head.

    Shapes: ``(B, in_channels, *size) → field (B, ndim, *size), features (B, width, *size/2)``.
    """

    def __init__(self, ndim, in_channels, width, blocks):
        super().__init__()
        self.encoder = nn.Sequential(ConvBlock(ndim, in_channels, width), ConvBlock(ndim, width, width))
        self.down = ConvBlock(ndim, width, width, stride=2)
        self.residual = nn.Sequential(*[ResidualBlock(ndim, width, width) for _ in range(blocks)])
        self.decoder = nn.Sequential(ConvBlock(ndim, 2 * width, width), conv(ndim, width, width))
        self.head = FlowHead(ndim, width)

    def forward(self, x, coarser_features=None):
        skip = self.encoder(x)                                           # (B, width, *size)
        features = self.down(skip)                                       # (B, width, *size/2)
        if coarser_features is not None:                                 # the level below's features, upsampled
            features = features + upsample_to(coarser_features, features.shape[2:])
        features = self.residual(features)
        x = torch.cat([upsample_to(features, skip.shape[2:]), skip], dim=1)
        return self.head(F.leaky_relu(self.decoder(x), 0.2)), features


class LapIRN(RegistrationNetwork):
    """Laplacian pyramid image registration network: three levels, coarse-to-fine residual displacements.

    Args:
        ndim: 2 or 3.
        width: channels of each level network (the paper: 28, here 16).
        blocks: residual blocks per level (the paper: 5, here 2).
        levels: pyramid levels (the paper: 3).

    Shapes: ``fixed, moving (B, 1, *spatial) → displacement (B, ndim, *spatial)`` in voxels;
    sizes are padded to a multiple of ``2**levels``.

    Example:
        >>> net = LapIRN(2)
        >>> fields = net.pyramid(torch.rand(1, 1, 32, 24), torch.rand(1, 1, 32, 24))
        >>> [tuple(u.shape[2:]) for u in fields], net.num_parameters()
        ([(8, 6), (16, 12), (32, 24)], 64950)

    Lab 07. Reference: T. C. W. Mok, A. C. S. Chung, "Large deformation diffeomorphic image
    registration with Laplacian pyramid networks", MICCAI 2020. Structure checked against
    cwmok/LapIRN Code/miccai2020_model_stage.py (``Miccai2020_LDR_laplacian_unit_disp_add_lvl1/2/3``):
    input encoder, one stride-2 convolution, a chain of residual blocks, feature maps of the
    coarser level upsampled and added, transposed/upsampled decoder with a skip, residual
    fields *added* to the upsampled coarser field. Simplified: no softsign range limit,
    trained end to end rather than level by level.
    """

    def __init__(self, ndim, *, width=16, blocks=2, levels=3):
        super().__init__(ndim)
        self.levels = levels
        self.multiple = self.min_size = 2 ** levels
        self.nets = nn.ModuleList([LevelNetwork(ndim, 2, width, blocks)] +
                                  [LevelNetwork(ndim, 2 + ndim, width, blocks) for _ in range(levels - 1)])

    def pyramid(self, fixed, moving):
        """The field of every level, coarsest first, in voxels of its own level.

        The images are first zero-padded at the end of every axis to ``padded``, the
        next multiple of ``2**levels`` (:meth:`pad`). Level ``k < levels - 1`` returns
        its field on that padded grid, ``(B, ndim, *padded / 2**(levels-1-k))``; only
        the last (finest) field is cropped back to the input's ``(B, ndim, *spatial)``.
        Crop a coarse field yourself (its first ``ceil(n / 2**(levels-1-k))`` voxels per
        axis) before comparing it with a downsampled image of the original size.
        """
        self.check_pair(fixed, moving)
        size = fixed.shape[2:]
        fields = self._pyramid(self.pad(fixed), self.pad(moving))
        final = self.crop(fields[-1], size)
        return fields[:-1] + [final]

    def _pyramid(self, fixed, moving):
        fields, features, field = [], None, None
        for k, net in enumerate(self.nets):
            factor = 2 ** (self.levels - 1 - k)
            fixed_k, moving_k = downsample(fixed, factor), downsample(moving, factor)
            if field is None:
                field, features = net(torch.cat([fixed_k, moving_k], dim=1))
            else:
                coarse = upsample_displacement(field, fixed_k.shape[2:])  # interpolate and rescale the vectors
                residual, features = net(torch.cat([fixed_k, warp(moving_k, coarse), coarse], dim=1), features)
                field = coarse + residual
            fields.append(field)
        return fields

    def predict(self, fixed, moving):
        return self._pyramid(fixed, moving)[-1]
