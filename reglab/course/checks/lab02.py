"""Checkers for Lab 02 — Transformation models.

Every function takes the student's function, runs it on several cases and
compares with reglab's own implementation (:mod:`reglab.transforms`).
"""

import itertools
import math

import torch

from reglab.course.checks.core import Case, Mistake, run_check
from reglab.transforms import bspline_basis, bspline_points, quaternion_to_matrix, rotation_matrix_2d
from reglab.transforms.base import about_center


def _generator():
    return torch.Generator().manual_seed(2)


# ---------------------------------------------------------------- Exercise 2.1


def _rigid(angle, translation, center, *, sign=1.0, add_center=True, rotate_translation=False, origin=False):
    """``[R | c + t − R c]`` and its slips."""
    cos, sin = torch.cos(sign * angle), torch.sin(sign * angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)       # (B, 2, 2)
    if origin:
        offset = translation
    else:
        t = (rotation @ translation[..., None])[..., 0] if rotate_translation else translation
        offset = (center if add_center else 0) + t - (rotation @ center[:, None])[..., 0]
    return torch.cat([rotation, offset[..., None]], dim=-1)


RIGID_MISTAKES = [
    Mistake("your rotation turns the wrong way: R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]] (check the sign of sin).",
            output=lambda a, t, c: _rigid(a, t, c, sign=-1.0)),
    Mistake("this rotates about voxel (0, 0): fold the centre into the translation, t' = c + t − R c.",
            output=lambda a, t, c: _rigid(a, t, c, origin=True)),
    Mistake("you moved the centre to the origin and rotated, but did not move it back: t' = c + t − R c "
            "(the + c is missing).", output=lambda a, t, c: _rigid(a, t, c, add_center=False)),
    Mistake("the translation is applied after the rotation, as it is: y = R(x − c) + c + t, so t is not rotated.",
            output=lambda a, t, c: _rigid(a, t, c, rotate_translation=True)),
    Mistake("the angle is in radians already: do not convert it from degrees.",
            output=lambda a, t, c: _rigid(torch.deg2rad(a), t, c)),
]


def check_rigid_matrix(rigid_matrix):
    """Exercise 2.1: ``rigid_matrix(angle (B,), translation (B, 2), center (2,)) -> (B, 2, 3)`` ``[R | c + t - R c]``."""
    g = _generator()
    cases = []
    for batch, center in [(1, (0.0, 0.0)), (1, (31.5, 47.5)), (3, (10.0, 20.0)), (2, (4.0, 7.0))]:
        angle = (torch.rand(batch, generator=g) - 0.5) * 3.0
        translation = 5.0 * torch.randn(batch, 2, generator=g)
        center = torch.tensor(center)
        expected = about_center(rotation_matrix_2d(angle), translation, center)
        cases.append(Case(f"batch of {batch}, centre {tuple(center.tolist())}", (angle, translation, center), expected))
    return run_check("Exercise 2.1 — the 2D rigid matrix", rigid_matrix, cases, mistakes=RIGID_MISTAKES,
                     names=("angle", "translation", "center"), forbid=(rotation_matrix_2d, about_center))


check_rigid_matrix.mistakes = RIGID_MISTAKES


# ---------------------------------------------------------------- Exercise 2.2


def _quaternion(q, *, normalize=True, erratum=False, square=False):
    """The rotation matrix of ``q`` (scalar last); slips: not normalized, the lecture's erratum, divided by |q|²."""
    if normalize:
        q = q / (q.pow(2).sum(dim=1, keepdim=True) if square else q.norm(dim=1, keepdim=True))
    q1, q2, q3, q4 = q.unbind(1)
    rows = [[1 - 2 * (q2**2 + q3**2), 2 * (q1 * q2 - q3 * q4), 2 * (q1 * q3 + (q3 if erratum else q2) * q4)],
            [2 * (q1 * q2 + q3 * q4), 1 - 2 * (q1**2 + q3**2), 2 * (q2 * q3 - q1 * q4)],
            [2 * (q1 * q3 - (q3 if erratum else q2) * q4), 2 * (q2 * q3 + q1 * q4), 1 - 2 * (q1**2 + q2**2)]]
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def lecture_quaternion_matrix(quaternion):
    """The lecture's matrix *with its erratum* (q3 q4 in entries (1,3) and (3,1)), to recognise it."""
    return _quaternion(quaternion, erratum=True)


QUATERNION_MISTAKES = [
    Mistake("this is the lecture's matrix, which has two wrong entries: (1,3) must be 2(q1 q3 + q2 q4) and "
            "(3,1) 2(q1 q3 − q2 q4). Check R Rᵀ = I to see it.", output=lecture_quaternion_matrix),
    Mistake("you took q1 as the scalar part; here q = (q1, q2, q3, q4) has the scalar part LAST (q4).",
            output=lambda q: _quaternion(torch.cat([q[:, 1:], q[:, :1]], dim=1))),
    Mistake("normalize q to unit length first (q / |q|): only unit quaternions give rotations.",
            output=lambda q: _quaternion(q, normalize=False)),
    Mistake("divide q by its length |q| = sqrt(Σ q²), not by Σ q².", output=lambda q: _quaternion(q, square=True)),
    Mistake("your matrix is the transpose (the inverse rotation): check the signs of the q_c q4 terms, "
            "2(q1 q2 − q3 q4) is entry (1,2).", derive=lambda e: e.transpose(1, 2)),
]


def check_quaternion_matrix(quaternion_matrix):
    """Exercise 2.2: ``quaternion_matrix(q (B, 4)) -> (B, 3, 3)``, q4 the scalar part, q normalized first."""
    g = _generator()
    first = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    cases = [Case("90° about axis 2, |q| = √2", (first,), quaternion_to_matrix(first))]
    for batch in (1, 4):
        unit = torch.randn(batch, 4, generator=g)
        unit = unit / unit.norm(dim=1, keepdim=True)
        cases.append(Case(f"{batch} unit quaternion(s)", (unit,), quaternion_to_matrix(unit)))
    other = 3.0 * torch.randn(2, 4, generator=g)
    cases.append(Case("2 quaternions of length ≠ 1 (normalize first)", (other,), quaternion_to_matrix(other)))
    return run_check("Exercise 2.2 — the quaternion rotation matrix", quaternion_matrix, cases,
                     mistakes=QUATERNION_MISTAKES, names=("q",), forbid=(quaternion_to_matrix,))


check_quaternion_matrix.mistakes = QUATERNION_MISTAKES


# ---------------------------------------------------------------- Exercise 2.3


BASIS_MISTAKES = [
    Mistake("the four values are in reverse order: B0(u) = (1 − u)³/6 comes first and B3(u) = u³/6 last.",
            derive=lambda e: e.flip(-1)),
    Mistake("stack the four values on the LAST axis: torch.stack([...], dim=-1).", derive=lambda e: e.movedim(-1, 0)),
    Mistake("divide every polynomial by 6: the four weights must sum to 1 for every u (partition of unity).",
            derive=lambda e: e * 6),
    Mistake("B0(u) = (1 − u)³/6, the cube of (1 − u), not (1 − u³)/6.",
            output=lambda u: torch.stack([(1 - u**3) / 6, (3 * u**3 - 6 * u**2 + 4) / 6,
                                          (-3 * u**3 + 3 * u**2 + 3 * u + 1) / 6, u**3 / 6], dim=-1)),
]


def check_bspline_basis(basis):
    """Exercise 2.3: ``basis(u) -> (*u.shape, 4)`` = ``(B0(u), B1(u), B2(u), B3(u))``, the dtype of u."""
    g = _generator()
    inputs = [("u = 0", torch.zeros(1)), ("u = 0, 0.25, 0.5, 0.75", torch.arange(4) / 4),
              ("random u, shape (3, 5)", torch.rand(3, 5, generator=g)),
              ("float64 u, shape (7,)", torch.rand(7, generator=g, dtype=torch.float64))]
    cases = [Case(text, (u,), bspline_basis(u)) for text, u in inputs]
    return run_check("Exercise 2.3 — the cubic B-spline basis", basis, cases, mistakes=BASIS_MISTAKES, names=("u",),
                     forbid=(bspline_basis,))


check_bspline_basis.mistakes = BASIS_MISTAKES


# ---------------------------------------------------------------- Exercise 2.4


def _ffd(control, x, spacing, *, shift=0, fractional=True, swap=False, nearest=False):
    """u(x) by the 4^d loop, and its slips: neighbourhood shifted, u not fractional, weights of the axes swapped."""
    ndim = x.shape[0]
    cell = torch.floor(x / spacing).long()
    if nearest:
        return control[(slice(None), *[int(c) + 1 for c in cell])]
    weights = bspline_basis(x / spacing - cell if fractional else x / spacing)      # (ndim, 4)
    if swap:
        weights = weights.flip(0)
    total = torch.zeros(ndim, dtype=control.dtype)
    for offsets in itertools.product(range(4), repeat=ndim):
        index = tuple(int(cell[a]) + offsets[a] + shift for a in range(ndim))
        weight = math.prod(weights[a, offsets[a]] for a in range(ndim))
        total = total + weight * control[(slice(None), *index)]
    return total


FFD_MISTAKES = [
    Mistake("your neighbourhood is shifted by one control point: with i = ⌊x/δ⌋ the four points are i−1 … i+2, "
            "stored at indices i … i+3 (point c is stored at index c + 1).",
            output=lambda control, x, spacing: _ffd(control, x, spacing, shift=1)),
    Mistake("your neighbourhood is shifted by one control point the other way: the four points i−1 … i+2 are stored "
            "at indices i … i+3, not i−1 … i+2.", output=lambda control, x, spacing: _ffd(control, x, spacing, shift=-1)),
    Mistake("the basis takes the position inside the cell, u = x/δ − ⌊x/δ⌋ in [0, 1), not x/δ.",
            output=lambda control, x, spacing: _ffd(control, x, spacing, fractional=False)),
    Mistake("the weights of the axes are swapped: B_l of axis 0's u goes with the first index, B_m of axis 1's v "
            "with the second.", output=lambda control, x, spacing: _ffd(control, x, spacing, swap=True)),
    Mistake("this is one control point's displacement: blend all 4^d neighbours with the weights B_l(u) B_m(v).",
            output=lambda control, x, spacing: _ffd(control, x, spacing, nearest=True)),
]


def check_ffd_at_point(ffd_at_point):
    """Exercise 2.4: ``ffd_at_point(control (ndim, *K), x (ndim,), spacing) -> u(x) (ndim,)``.

    Control point ``c`` sits at voxel ``c·δ`` and is stored at index ``c + 1``; the
    neighbourhood of ``x`` is ``i-1 … i+2`` with ``i = ⌊x/δ⌋``.
    """
    g = _generator()
    cases = []
    for shape, spacing, x in [((2, 7, 8), 4, (9.0, 13.0)), ((2, 9, 6), 3, (10.5, 2.25)),
                              ((2, 8, 8), 5, (7.0, 19.9)), ((3, 6, 7, 6), 4, (5.5, 12.0, 3.75)),
                              ((3, 7, 6, 8), 3, (7.5, 4.0, 11.0))]:
        control = torch.randn(*shape, generator=g, dtype=torch.float64)
        point = torch.tensor(x, dtype=torch.float64)
        expected = bspline_points(control[None], point[None, None], spacing)[0, 0]
        cases.append(Case(f"{len(x)}D, δ = {spacing}, x = {x}", (control, point, spacing), expected))
    return run_check("Exercise 2.4 — the free-form deformation at one point", ffd_at_point, cases,
                     mistakes=FFD_MISTAKES, names=("control", "x", "spacing"), forbid=(bspline_points,))


check_ffd_at_point.mistakes = FFD_MISTAKES


# ---------------------------------------------------------------- Questions: tune and interpret

import functools  # noqa: E402

from reglab.course.checks import questions  # noqa: E402  (kept with the question checkers it serves)


def bspline_min_jacobian(magnitude, *, size=(196, 160), spacing=24, seed=0):
    """Smallest Jacobian determinant of Lab 02's random B-spline: control points ``magnitude · N(0, 1)`` (seeded).

    Example:
        >>> bspline_min_jacobian(0.0)
        1.0
    """
    from reglab.evaluation import jacobian_determinant
    from reglab.transforms import BSpline

    model = BSpline(size, spacing=spacing)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.control.copy_(magnitude * torch.randn(model.control.shape, generator=generator))
        return round(jacobian_determinant(model()).min().item(), 6)


@functools.lru_cache(maxsize=None)
def fold_threshold(*, size=(196, 160), spacing=24, seed=0):
    """The magnitude (voxels) at which :func:`bspline_min_jacobian` reaches 0, by bisection to 1/64 voxel."""
    low, high = 0.0, 32.0
    while high - low > 1 / 64:
        middle = (low + high) / 2
        low, high = (middle, high) if bspline_min_jacobian(middle, size=size, spacing=spacing, seed=seed) > 0 else (low, middle)
    return low


def check_fold_magnitude(student):
    """Exercise 2.5 (tune to a target): the largest B-spline magnitude that does not fold yet, to within 0.5 voxel."""
    threshold = fold_threshold()

    def evaluate(magnitude):
        j = bspline_min_jacobian(magnitude)
        return magnitude, f"magnitude {magnitude:g} voxels (smallest J = {j:.3f})"

    return questions.check_number(
        "Exercise 2.5 — tune: the largest magnitude that does not fold", student, threshold - 0.5, threshold,
        evaluate=evaluate,
        hints=[(threshold, float("inf"), "at this magnitude J ≤ 0 somewhere: the field folds. Go lower."),
               (float("-inf"), threshold - 0.5, "no fold yet, and there is room: J stays positive a little further. "
                                                "Go higher (in steps of 0.5 voxel or less).")],
        why=f"the field first folds at about {threshold:.2f} voxels (the standard deviation of the control "
            "displacements). Every control displacement below about 0.40 δ is enough to rule folding out (Choi & Lee "
            "2000); random ones fold later, because neighbouring control points seldom all push the same way.")


SVF_NEVER_FOLDS = {"a": "the SVF follows the field in many small steps (scaling and squaring), each too small to fold, "
                        "and composes them",
                   "b": "the SVF smooths the field more than the dense model does",
                   "c": "the SVF has fewer parameters than the dense model",
                   "d": "scaling and squaring clips displacements larger than a voxel"}
"""Exercise 2.6's choices: why the same numbers fold as a dense field and not as a velocity."""


def check_svf_never_folds(student):
    """Exercise 2.6 (interpret a figure): ``student()`` returns the key of :data:`SVF_NEVER_FOLDS`; the answer is "a"."""
    return questions.check_choice(
        "Exercise 2.6 — interpret: why does the SVF not fold?", student, "a", options=SVF_NEVER_FOLDS,
        hints={"b": "both models used the very same `field` tensor, no extra smoothing: the difference is what they do with it.",
               "c": "count them: Dense and StationaryVelocity both hold 2 numbers per pixel (62,720 here).",
               "d": "nothing is clipped: the SVF's largest displacement is of the same size as the dense one's."},
        why="exp(v) = (x + v/2ᴺ) composed 2ᴺ times: a small smooth step never folds, and a composition of "
            "invertible maps is invertible.")
