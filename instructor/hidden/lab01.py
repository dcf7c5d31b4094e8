"""Hidden tests for Lab 01 — How to transform images (instructors only; not shipped in labs/ or the package).

``reglab grade --lab 01`` runs each function here after the visible checker of the same name in
``reglab.course.checks.lab01``, on the same student function. They use the same framework
(:mod:`reglab.course.checks.core`) but other cases: the edges of each contract that the visible cases do not
pin down (float64 inputs, sizes of 1, several channels, fields pointing outside the image, ``torch.Size``
arguments, the identity and pure translations). Keep the names equal to the visible checkers'; a visible
checker without a hidden one is fine.
"""

import math

import torch

from reglab import fields, grid, warping
from reglab.course.checks.core import Case, run_check
from reglab.course.checks.reseeded import reseeded_checks
from reglab.io import Geometry


FORBID = {
    "check_identity_grid": ["reglab.grid:identity_grid"],
    "check_warp": ["reglab.warping:warp"],
    "check_affine_displacement": ["reglab.fields:affine_to_displacement"],
    "check_compose": ["reglab.fields:compose"],
    "check_index_to_physical": ["reglab.io:Geometry.index_to_physical"],
}
"""The reglab function each exercise asks the student to write (``module:qualname``): an answer that calls it
scores 0 ("calls reglab.warp: the exercise asks you to write it"). The grader adds the checkers' own ``forbid``."""


def _generator():
    return torch.Generator().manual_seed(2024)


def check_identity_grid(identity_grid):
    """``torch.Size`` sizes (what `image.shape[2:]` gives), axes of length 1, thin 3D grids."""
    sizes = [torch.Size([6, 4]), (1, 1), (1, 5), (9, 2, 1), (3, 1, 7)]
    cases = [Case(f"{len(s)}D, size {tuple(s)} given as {type(s).__name__}", (s,), grid.identity_grid(tuple(s)))
             for s in sizes]
    return run_check("Exercise 1.1 — identity grid (hidden tests)", identity_grid, cases)


def check_warp(warp):
    """Zero field, a shift far outside (zeros), several channels, float64, a 3D batch of 3."""
    g = _generator()
    moving = torch.rand(1, 1, 6, 5, generator=g)
    color = torch.rand(2, 3, 5, 7, generator=g)
    color_field = 1.5 * torch.randn(2, 2, 5, 7, generator=g)
    volume = torch.rand(3, 1, 4, 5, 3, generator=g, dtype=torch.float64)
    volume_field = torch.randn(3, 3, 4, 5, 3, generator=g, dtype=torch.float64)
    far = torch.full((1, 2, 6, 5), 40.0)
    cases = [
        Case("2D, zero displacement gives the image back", (moving, torch.zeros(1, 2, 6, 5)), moving),
        Case("2D, a shift of 40 voxels samples only zeros", (moving, far), torch.zeros_like(moving)),
        Case("2D, 3 channels, batch of 2", (color, color_field), warping.warp(color, color_field)),
        Case("3D, float64, batch of 3", (volume, volume_field), warping.warp(volume, volume_field), atol=1e-8),
    ]
    return run_check("Exercise 1.2 — backward warping (hidden tests)", warp, cases)


def check_affine_displacement(affine_displacement):
    """The identity matrix gives zero, a translation gives a constant field, float64 in 3D."""
    g = _generator()
    translation = torch.tensor([[[1.0, 0.0, 2.5], [0.0, 1.0, -1.0]]])
    matrix = torch.eye(3, 4, dtype=torch.float64).repeat(3, 1, 1)
    matrix[:, :, :3] += 0.1 * torch.randn(3, 3, 3, generator=g, dtype=torch.float64)
    matrix[:, :, 3] = torch.randn(3, 3, generator=g, dtype=torch.float64)
    cases = [
        Case("2D identity matrix, 4 × 6", (torch.eye(2, 3)[None], (4, 6)), torch.zeros(1, 2, 4, 6)),
        Case("2D translation (2.5, -1), 3 × 5", (translation, (3, 5)),
             torch.tensor([2.5, -1.0]).reshape(1, 2, 1, 1).expand(1, 2, 3, 5)),
        Case("3D, float64, batch of 3, 2 × 5 × 3", (matrix, (2, 5, 3)),
             fields.affine_to_displacement(matrix, (2, 5, 3)), atol=1e-8),
    ]
    return run_check("Exercise 1.3 — affine displacement (hidden tests)", affine_displacement, cases)


def check_compose(compose):
    """Composing with zero on either side, two translations, a 3D batch."""
    g = _generator()
    u = torch.randn(2, 2, 7, 6, generator=g)
    shift_u = torch.tensor([1.0, -2.0]).reshape(1, 2, 1, 1).expand(1, 2, 8, 8).clone()
    shift_v = torch.tensor([0.5, 1.0]).reshape(1, 2, 1, 1).expand(1, 2, 8, 8).clone()
    a, b = 0.8 * torch.randn(2, 3, 5, 4, 6, generator=g), 0.8 * torch.randn(2, 3, 5, 4, 6, generator=g)
    cases = [
        Case("2D, v = 0 gives u", (u, torch.zeros_like(u)), u, atol=1e-4),
        Case("2D, u = 0 gives v", (torch.zeros_like(u), u), u, atol=1e-4),
        Case("2D, two translations add up (inside the image)",
             (shift_u, shift_v), fields.compose(shift_u, shift_v), atol=1e-4),
        Case("3D, batch of 2", (a, b), fields.compose(a, b), atol=1e-3),
    ]
    return run_check("Exercise 1.4 — composing displacements (hidden tests)", compose, cases)


def check_index_to_physical(index_to_physical):
    """Index 0 is the origin; identity direction scales and reverses; a 2D rotation by 30°."""
    g = _generator()
    index = 5 * torch.rand(6, 3, generator=g, dtype=torch.float64)
    spacing, origin = (2.0, 0.5, 1.5), (10.0, -3.0, 7.0)
    identity = tuple(torch.eye(3).flatten().tolist())
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    rotation = (c, -s, s, c)
    index2 = 4 * torch.rand(5, 2, generator=g, dtype=torch.float64)
    cases = [
        Case("3D, index 0 is the origin", (torch.zeros(1, 3, dtype=torch.float64), spacing, origin, identity),
             torch.tensor([origin], dtype=torch.float64)),
        Case("3D, identity direction, 6 points", (index, spacing, origin, identity),
             Geometry(spacing, origin, identity).index_to_physical(index)),
        Case("2D, rotated by 30°, 5 points", (index2, (0.7, 1.3), (1.0, 2.0), rotation),
             Geometry((0.7, 1.3), (1.0, 2.0), rotation).index_to_physical(index2)),
    ]
    return run_check("Exercise 1.5 — index to physical (hidden tests)", index_to_physical, cases)


__getattr__ = reseeded_checks("01", 100_003, globals())
"""An exercise without hand-written hidden cases (a question added later) gets the visible kinds reseeded."""
