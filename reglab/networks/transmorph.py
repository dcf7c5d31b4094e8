"""TransMorph: a Swin-transformer encoder with a convolutional decoder.

Convolutions see a few voxels at a time; attention lets every position look at
every other one, which helps with large deformations. TransMorph (Chen et al.
2022) cuts the pair into patches, embeds them as tokens and runs *Swin*
blocks (Liu et al. 2021): self-attention inside small windows, with the windows
shifted by half a window every other block so information crosses window
borders; patch merging halves the resolution between stages. A convolutional
decoder with skip connections (also from two small convolutional stems at
full and half resolution) turns the tokens back into a displacement.

Windows are dimension-generic here: a window is ``w × w`` in 2D and
``w × w × w`` in 3D, partitioned by reshaping (shape comments below).

Lab 07 uses it.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from reglab.networks.blocks import ConvBlock, FlowHead, RegistrationNetwork, upsample_to

PAPER = dict(embed=96, depths=(2, 2, 4, 2), heads=(4, 4, 8, 8), window=7, patch=4)
"""The paper's TransMorph configuration (3D, window 5 × 6 × 7 there; one size for all axes here)."""


def window_partition(x, window):
    """``(B, *S, C) → (B · nW, prod(window), C)`` with ``S`` divisible by ``window`` (a tuple)."""
    batch, *size, channels = x.shape
    d = len(size)
    split = [batch] + [v for n, w in zip(size, window) for v in (n // w, w)] + [channels]
    x = x.reshape(split)                                                   # (B, n1/w, w, n2/w, w, ..., C)
    order = [0] + [1 + 2 * i for i in range(d)] + [2 + 2 * i for i in range(d)] + [2 * d + 1]
    return x.permute(order).reshape(-1, math.prod(window), channels)       # (B·nW, w^d, C)


def window_reverse(windows, window, size, batch):
    """Inverse of :func:`window_partition`: ``(B · nW, prod(window), C) → (B, *size, C)``."""
    d, channels = len(size), windows.shape[-1]
    x = windows.reshape([batch] + [n // w for n, w in zip(size, window)] + list(window) + [channels])
    order = [0] + [v for i in range(d) for v in (1 + i, 1 + d + i)] + [2 * d + 1]
    return x.permute(order).reshape(batch, *size, channels)


def relative_position_index(window):
    """``(N, N)`` index into the bias table for every pair of positions of a window, ``N = prod(window)``."""
    coordinates = torch.stack(torch.meshgrid(*[torch.arange(w) for w in window], indexing="ij")).flatten(1)
    relative = coordinates[:, :, None] - coordinates[:, None, :]           # (d, N, N), in [-(w-1), w-1]
    index = torch.zeros(relative.shape[1:], dtype=torch.long)
    for axis, w in enumerate(window):
        index = index * (2 * w - 1) + relative[axis] + w - 1
    return index


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, with a learned relative position bias."""

    def __init__(self, dim, heads, window):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.projection = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros(math.prod(2 * w - 1 for w in window), heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self.register_buffer("index", relative_position_index(window), persistent=False)

    def forward(self, x, mask=None):
        windows, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(windows, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                                   # each (B·nW, heads, N, dim/heads)
        attention = (q * self.scale) @ k.transpose(-2, -1)                # (B·nW, heads, N, N)
        attention = attention + self.bias_table[self.index].permute(2, 0, 1)[None]
        if mask is not None:                                               # (nW, N, N): -100 across shifted regions
            attention = attention.reshape(-1, mask.shape[0], self.heads, tokens, tokens) + mask[None, :, None]
            attention = attention.reshape(windows, self.heads, tokens, tokens)
        out = (attention.softmax(dim=-1) @ v).transpose(1, 2).reshape(windows, tokens, dim)
        return self.projection(out)


def shift_mask(size, window, shift, device):
    """``(nW, N, N)`` attention mask of a cyclically shifted window: 0 within a region, -100 across."""
    regions = torch.zeros(1, *size, 1, device=device)
    bounds = [((0, n - w), (n - w, n - s), (n - s, n)) if s else ((0, n),) for n, w, s in zip(size, window, shift)]
    for label, box in enumerate(_product(bounds)):
        regions[(0, *[slice(a, b) for a, b in box], 0)] = label
    labels = window_partition(regions, window)[..., 0]                    # (nW, N)
    return (labels[:, None, :] != labels[:, :, None]).float() * -100.0


def _product(lists):
    """The Cartesian product of lists (like itertools.product, kept local and explicit)."""
    result = [()]
    for options in lists:
        result = [r + (o,) for r in result for o in options]
    return result


class SwinBlock(nn.Module):
    """``x + W-MSA(LN(x))`` then ``x + MLP(LN(x))``, on ``(B, *S, C)`` tokens; ``shifted`` rolls by half a window."""

    def __init__(self, ndim, dim, heads, window, shifted):
        super().__init__()
        self.window, self.shifted = (window,) * ndim, shifted
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = WindowAttention(dim, heads, self.window)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        batch, *size, dim = x.shape
        window = self.window                                               # stages smaller than a window: no shift
        shift = tuple(w // 2 if self.shifted and n > w else 0 for w, n in zip(window, size))
        y = self.norm1(x)
        extra = [(-n) % w for n, w in zip(size, window)]                   # pad up to whole windows
        y = F.pad(y, [0, 0] + [p for e in reversed(extra) for p in (0, e)])
        padded = y.shape[1:-1]
        axes = tuple(range(1, len(size) + 1))
        if any(shift):
            y = torch.roll(y, tuple(-s for s in shift), dims=axes)
        mask = shift_mask(padded, window, shift, x.device) if any(shift) else None
        windows = self.attention(window_partition(y, window), mask)        # (B·nW, w^d, C)
        y = window_reverse(windows, window, padded, batch)
        if any(shift):
            y = torch.roll(y, shift, dims=axes)
        x = x + y[(slice(None), *[slice(0, n) for n in size])]
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """Halve every axis: concatenate the ``2^d`` neighbours of each token, ``LN``, ``Linear(2^d·C → 2C)``."""

    def __init__(self, ndim, dim):
        super().__init__()
        self.norm = nn.LayerNorm(2 ** ndim * dim)
        self.reduction = nn.Linear(2 ** ndim * dim, 2 * dim, bias=False)

    def forward(self, x):
        batch, *size, dim = x.shape
        x = F.pad(x, [0, 0] + [p for n in reversed(size) for p in (0, n % 2)])   # even sizes
        x = window_partition(x, (2,) * len(size))                          # (B·n/2^d, 2^d, C)
        half = [(n + 1) // 2 for n in size]
        x = x.reshape(batch, *half, -1)                                    # (B, *size/2, 2^d·C)
        return self.reduction(self.norm(x))


class TransMorph(RegistrationNetwork):
    """TransMorph: Swin encoder on the concatenated pair, convolutional decoder, displacement out.

    Args:
        ndim: 2 or 3.
        embed: token dimension of the first stage (doubles at every merging).
        depths: Swin blocks per stage (alternately regular and shifted windows).
        heads: attention heads per stage.
        window: window size (voxels of the token grid, every axis).
        patch: patch size of the embedding (the first stage works at ``1/patch``).

    ``TransMorph(3, **PAPER)`` is the paper's configuration (42 M parameters here, 47 M in the paper).

    Shapes: ``fixed, moving (B, 1, *spatial) → displacement (B, ndim, *spatial)`` in voxels;
    sizes are padded to a multiple of ``patch · 2**(len(depths) - 1)``.

    Example:
        >>> net = TransMorph(2)
        >>> net(torch.rand(1, 1, 40, 27), torch.rand(1, 1, 40, 27)).shape, net.num_parameters()
        (torch.Size([1, 2, 40, 27]), 181210)

    Lab 07. Reference: J. Chen, E. C. Frey, Y. He, W. P. Segars, Y. Li, Y. Du, "TransMorph:
    transformer for unsupervised medical image registration", Medical Image Analysis 82, 2022;
    Z. Liu et al., "Swin transformer", ICCV 2021. Structure checked against
    junyuchen245/TransMorph_Transformer_for_Medical_Image_Registration models/TransMorph.py
    (patch embedding, Swin stages with patch merging, skip connections from the stages and from
    two convolutional stems at full and 1/2 resolution, ``DecoderBlock`` s, ``RegistrationHead``).
    Simplified: no absolute position embedding, no drop path.
    """

    def __init__(self, ndim, *, embed=16, depths=(2, 2, 2), heads=(2, 2, 4), window=4, patch=4):
        super().__init__(ndim)
        if len(depths) != len(heads):
            raise ValueError(f"TransMorph(): expected `depths` and `heads` of the same length, got {depths} and {heads}.")
        self.multiple = self.min_size = patch * 2 ** (len(depths) - 1)
        layer = nn.Conv2d if ndim == 2 else nn.Conv3d
        self.embedding = layer(2, embed, patch, stride=patch)              # (B, 2, *S) → (B, C, *S/patch)
        self.embedding_norm = nn.LayerNorm(embed)
        self.stages, self.merges, self.norms = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        dims = [embed * 2 ** k for k in range(len(depths))]
        for k, (depth, head) in enumerate(zip(depths, heads)):
            self.stages.append(nn.Sequential(*[SwinBlock(ndim, dims[k], head, window, shifted=i % 2 == 1)
                                               for i in range(depth)]))
            self.norms.append(nn.LayerNorm(dims[k]))
            if k < len(depths) - 1:
                self.merges.append(PatchMerging(ndim, dims[k]))
        stem = max(embed // 2, 8)
        self.stem_full = ConvBlock(ndim, 2, stem // 2)                     # skip at full resolution
        self.stem_half = ConvBlock(ndim, 2, stem)                          # skip at 1/2 resolution
        self.decoder = nn.ModuleList()
        previous = dims[-1]
        for skip in reversed(dims[:-1]):                                   # token stages, coarse to fine
            self.decoder.append(ConvBlock(ndim, previous + skip, skip))
            previous = skip
        self.up_half = ConvBlock(ndim, previous + stem, stem)
        self.up_full = ConvBlock(ndim, stem + stem // 2, stem // 2)
        self.head = FlowHead(ndim, stem // 2)

    def predict(self, fixed, moving):
        pair = torch.cat([fixed, moving], dim=1)                           # (B, 2, *S)
        x = self.embedding(pair).movedim(1, -1)                            # (B, *S/patch, C): channels-last tokens
        x = self.embedding_norm(x)
        features = []
        for k, stage in enumerate(self.stages):
            x = stage(x)
            features.append(self.norms[k](x).movedim(-1, 1))               # (B, C_k, *S/(patch·2^k))
            if k < len(self.merges):
                x = self.merges[k](x)
        x = features.pop()
        for block in self.decoder:
            skip = features.pop()
            x = block(torch.cat([upsample_to(x, skip.shape[2:]), skip], dim=1))
        half = self.stem_half(F.avg_pool2d(pair, 2) if self.ndim == 2 else F.avg_pool3d(pair, 2))
        x = self.up_half(torch.cat([upsample_to(x, half.shape[2:]), half], dim=1))
        full = self.stem_full(pair)
        x = self.up_full(torch.cat([upsample_to(x, full.shape[2:]), full], dim=1))
        return self.head(x)
