"""Analytic fields shared by the regularization tests: grids, linear and quadratic maps, rotations."""

import math

import torch

from reglab.grid import identity_grid

SIZES = {2: (9, 11), 3: (7, 8, 9)}


def _grid(device, ndim, size=None):
    """Voxel coordinates ``(1, ndim, *size)`` in float64, centred on the grid's middle."""
    size = size or SIZES[ndim]
    x = identity_grid(size, device=device, dtype=torch.float64)
    centre = torch.tensor([(n - 1) / 2 for n in size], device=device, dtype=torch.float64)
    return x - centre.reshape(1, ndim, *([1] * ndim))


def _linear(x, matrix, shift=None):
    """``u(x) = A x + t`` on the grid ``x``: ``(1, ndim, *size)``."""
    u = torch.einsum("jk,bk...->bj...", matrix, x)
    if shift is not None:
        u = u + shift.reshape(1, -1, *([1] * (x.dim() - 2)))
    return u


def _quadratic(x, hessians):
    """``u_j(x) = ½ xᵀ H_j x``: ``(1, ndim, *size)``."""
    return 0.5 * torch.einsum("jkl,bk...,bl...->bj...", hessians, x, x)


def _rotation(ndim, device, seed=0):
    generator = torch.Generator().manual_seed(seed)
    if ndim == 2:
        angle = 0.7
        return torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64).to(device)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return (q * torch.det(q)).to(device)                                  # a proper rotation


def _random(ndim, device, shape, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64).to(device)
