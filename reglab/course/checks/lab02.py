"""Checkers for Lab 02 — Transformation models.

Every function takes the student's function, runs it on several cases and
compares with reglab's own implementation (:mod:`reglab.transforms`).
"""

import torch

from reglab.course.checks.core import Case, run_check, same
from reglab.transforms import bspline_basis, bspline_points, quaternion_to_matrix, rotation_matrix_2d
from reglab.transforms.base import about_center


def _generator():
    return torch.Generator().manual_seed(2)


# ---------------------------------------------------------------- Exercise 2.1


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

    def transposed(answer, case):
        angle, translation, center = case.args
        if same(answer, about_center(rotation_matrix_2d(-angle), translation, center)):
            return "your rotation turns the wrong way: R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]] (check the sign of sin)."

    def no_center(answer, case):
        angle, translation, center = case.args
        linear = rotation_matrix_2d(angle)
        if isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape and same(answer[..., :2], linear) \
                and same(answer[..., 2], translation):
            return "this rotates about voxel (0, 0): fold the centre into the translation, t' = c + t − R c."

    def degrees(answer, case):
        angle, translation, center = case.args
        if same(answer, about_center(rotation_matrix_2d(torch.deg2rad(angle)), translation, center)):
            return "the angle is in radians already: do not convert it from degrees."

    return run_check("Exercise 2.1 — the 2D rigid matrix", rigid_matrix, cases,
                     diagnose=[transposed, no_center, degrees])


# ---------------------------------------------------------------- Exercise 2.2


def lecture_quaternion_matrix(quaternion):
    """The lecture's matrix *with its erratum* (q3 q4 in entries (1,3) and (3,1)), to recognise it."""
    q1, q2, q3, q4 = (quaternion / quaternion.norm(dim=1, keepdim=True)).unbind(1)
    matrix = quaternion_to_matrix(quaternion).clone()
    matrix[:, 0, 2] = 2 * (q1 * q3 + q3 * q4)
    matrix[:, 2, 0] = 2 * (q1 * q3 - q3 * q4)
    return matrix


def check_quaternion_matrix(quaternion_matrix):
    """Exercise 2.2: ``quaternion_matrix(q (B, 4)) -> (B, 3, 3)``, q4 the scalar part, q normalized first."""
    g = _generator()
    cases = [Case("90° about axis 2", (torch.tensor([[0.0, 0.0, 1.0, 1.0]]),), quaternion_to_matrix(torch.tensor([[0.0, 0.0, 1.0, 1.0]])))]
    for batch in (1, 4):
        unit = torch.randn(batch, 4, generator=g)
        unit = unit / unit.norm(dim=1, keepdim=True)
        cases.append(Case(f"{batch} unit quaternion(s)", (unit,), quaternion_to_matrix(unit)))
    other = 3.0 * torch.randn(2, 4, generator=g)
    cases.append(Case("2 quaternions of length ≠ 1 (normalize first)", (other,), quaternion_to_matrix(other)))

    def erratum(answer, case):
        if same(answer, lecture_quaternion_matrix(case.args[0])):
            return ("this is the lecture's matrix, which has two wrong entries: (1,3) must be 2(q1 q3 + q2 q4) and "
                    "(3,1) 2(q1 q3 − q2 q4). Check R Rᵀ = I to see it.")

    def scalar_first(answer, case):
        q = case.args[0]
        if same(answer, quaternion_to_matrix(torch.cat([q[:, 1:], q[:, :1]], dim=1))):
            return "you took q1 as the scalar part; here q = (q1, q2, q3, q4) has the scalar part LAST (q4)."

    def not_normalized(answer, case):
        q = case.args[0]
        if isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape and not same(q.norm(dim=1), torch.ones(len(q))):
            return "normalize q to unit length first (q / |q|): only unit quaternions give rotations."

    return run_check("Exercise 2.2 — the quaternion rotation matrix", quaternion_matrix, cases,
                     diagnose=[erratum, scalar_first, not_normalized])


# ---------------------------------------------------------------- Exercise 2.3


def check_bspline_basis(basis):
    """Exercise 2.3: ``basis(u) -> (*u.shape, 4)`` = ``(B0(u), B1(u), B2(u), B3(u))``."""
    g = _generator()
    cases = [
        Case("u = 0", (torch.zeros(1),), bspline_basis(torch.zeros(1))),
        Case("u = 0, 0.25, 0.5, 0.75", (torch.arange(4) / 4,), bspline_basis(torch.arange(4) / 4)),
        Case("random u, shape (3, 5)", (torch.rand(3, 5, generator=g),), None),
        Case("float64 u, shape (7,)", (torch.rand(7, generator=g, dtype=torch.float64),), None),
    ]
    for case in cases[2:]:
        case.expected = bspline_basis(case.args[0])

    def reversed_order(answer, case):
        if same(answer, case.expected.flip(-1)):
            return "the four values are in reverse order: B0(u) = (1 − u)³/6 comes first and B3(u) = u³/6 last."

    def stacked_first(answer, case):
        if same(answer, case.expected.movedim(-1, 0)):
            return "stack the four values on the LAST axis: torch.stack([...], dim=-1)."

    def partition(answer, case):
        if isinstance(answer, torch.Tensor) and answer.shape == case.expected.shape and not same(answer.sum(-1), torch.ones(answer.shape[:-1])):
            return "the four weights must sum to 1 for every u (partition of unity): check the coefficients against the lecture."

    return run_check("Exercise 2.3 — the cubic B-spline basis", basis, cases,
                     diagnose=[reversed_order, stacked_first, partition])


# ---------------------------------------------------------------- Exercise 2.4


def check_ffd_at_point(ffd_at_point):
    """Exercise 2.4: ``ffd_at_point(control (ndim, *K), x (ndim,), spacing) -> u(x) (ndim,)``.

    Control point ``c`` sits at voxel ``c·δ`` and is stored at index ``c + 1``; the
    neighbourhood of ``x`` is ``i-1 … i+2`` with ``i = ⌊x/δ⌋``.
    """
    g = _generator()
    cases = []
    for shape, spacing, x in [((2, 7, 8), 4, (9.0, 13.0)), ((2, 9, 6), 3, (10.5, 2.25)),
                              ((2, 8, 8), 5, (0.0, 19.9)), ((3, 6, 7, 6), 4, (5.5, 12.0, 3.75))]:
        control = torch.randn(*shape, generator=g, dtype=torch.float64)
        point = torch.tensor(x, dtype=torch.float64)
        expected = bspline_points(control[None], point[None, None], spacing)[0, 0]
        cases.append(Case(f"{len(x)}D, δ = {spacing}, x = {x}", (control, point, spacing), expected))

    def off_by_one(answer, case):
        control, point, spacing = case.args
        for shift in (1, -1):
            dims = tuple(range(1, control.dim()))
            moved = control.roll((-shift,) * len(dims), dims=dims)
            if same(answer, bspline_points(moved[None], point[None, None], spacing)[0, 0]):
                return ("your neighbourhood is shifted by one control point: with i = ⌊x/δ⌋ the four points are "
                        "i−1 … i+2, stored at indices i … i+3 (point c is stored at index c + 1).")

    def unnormalized_u(answer, case):
        control, point, spacing = case.args
        if same(answer, (control.flatten(1) * 0).sum(1)):
            return "the answer is zero: did you compute u = x/δ − ⌊x/δ⌋ and use all 4^d neighbours?"

    return run_check("Exercise 2.4 — the free-form deformation at one point", ffd_at_point, cases,
                     diagnose=[off_by_one, unnormalized_u])
