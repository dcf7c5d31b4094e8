"""Lab 02's checkers: right answers and other right formulations pass; at least five realistic wrong answers per
exercise fail with the one hint that names their mistake."""

import itertools

import torch

from reglab.course.checks import lab02
from reglab.transforms import bspline_basis, bspline_points, quaternion_to_matrix, rotation_matrix_2d
from reglab.transforms.base import about_center
from tests.course.checks.helpers import noisy, own, run, table_tests

CHECKS = [lab02.check_rigid_matrix, lab02.check_quaternion_matrix, lab02.check_bspline_basis,
          lab02.check_ffd_at_point]
basis = own(bspline_basis)


def rigid_by_hand(angle, translation, center):
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    return torch.cat([rotation, (center + translation - rotation @ center)[..., None]], dim=-1)


def rigid_homogeneous(angle, translation, center):
    """Another right answer: T(c + t) · R · T(−c) as 3 × 3 homogeneous matrices, top two rows."""
    batch = angle.shape[0]
    shift = torch.eye(3).repeat(batch, 1, 1)
    shift[:, :2, 2] = center + translation
    rotate = torch.eye(3).repeat(batch, 1, 1)
    rotate[:, 0, 0], rotate[:, 0, 1], rotate[:, 1, 0], rotate[:, 1, 1] = (angle.cos(), -angle.sin(), angle.sin(),
                                                                          angle.cos())
    back = torch.eye(3).repeat(batch, 1, 1)
    back[:, :2, 2] = -center
    return (shift @ rotate @ back)[:, :2]


def quaternion_by_outer(q):
    """Another right answer: R = (q4² − v·v) I + 2 v vᵀ + 2 q4 [v]×."""
    q = q / q.norm(dim=1, keepdim=True)
    v, w = q[:, :3], q[:, 3]
    cross = torch.zeros(q.shape[0], 3, 3)
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    cross = cross - cross.transpose(1, 2)
    eye = torch.eye(3).expand(q.shape[0], 3, 3)
    return (w**2 - (v * v).sum(1))[:, None, None] * eye + 2 * v[:, :, None] * v[:, None, :] + 2 * w[:, None, None] * cross


def basis_horner(u):
    return torch.stack([(1 - u) ** 3, ((3 * u - 6) * u) * u + 4, ((-3 * u + 3) * u + 3) * u + 1, u**3], dim=-1) / 6


def ffd_loop(control, x, spacing):
    ndim = x.shape[0]
    cell = torch.floor(x / spacing).long()
    weights = basis(x / spacing - cell)
    total = torch.zeros(ndim, dtype=control.dtype)
    for offsets in itertools.product(range(4), repeat=ndim):
        weight = torch.prod(torch.stack([weights[a, offsets[a]] for a in range(ndim)]))
        total = total + weight * control[(slice(None), *[int(cell[a]) + offsets[a] for a in range(ndim)])]
    return total


def ffd_tensor_product(control, x, spacing):
    """Another right answer: slice the 4^d block and contract it with the outer product of the weights."""
    ndim = x.shape[0]
    cell = torch.floor(x / spacing).long()
    weights = basis(x / spacing - cell)
    block = control[(slice(None), *[slice(int(c), int(c) + 4) for c in cell])]
    for a in range(ndim):
        block = torch.tensordot(block, weights[a], dims=([1], [0]))
    return block


RIGHT = [(lab02.check_rigid_matrix, rigid_by_hand), (lab02.check_rigid_matrix, rigid_homogeneous),
         (lab02.check_quaternion_matrix, lambda q: lab02._quaternion(q)),
         (lab02.check_quaternion_matrix, quaternion_by_outer),
         (lab02.check_bspline_basis, basis), (lab02.check_bspline_basis, basis_horner),
         (lab02.check_ffd_at_point, ffd_loop), (lab02.check_ffd_at_point, ffd_tensor_product)]


def _ffd_2d_only(control, x, spacing):
    i, j = torch.floor(x / spacing).long().tolist()                               # 2D only
    wu, wv = basis(x / spacing - torch.floor(x / spacing))
    return sum(wu[l] * wv[m] * control[:, i + l, j + m] for l in range(4) for m in range(4))


WRONG = [
    (lab02.check_rigid_matrix, lambda a, t, c: lab02._rigid(a, t, c, sign=-1.0), "wrong way"),
    (lab02.check_rigid_matrix, lambda a, t, c: lab02._rigid(a, t, c, origin=True), "about voxel (0, 0)"),
    (lab02.check_rigid_matrix, lambda a, t, c: lab02._rigid(a, t, c, add_center=False), "the + c is missing"),
    (lab02.check_rigid_matrix, lambda a, t, c: lab02._rigid(a, t, c, rotate_translation=True), "t is not rotated"),
    (lab02.check_rigid_matrix, lambda a, t, c: rigid_by_hand(torch.deg2rad(a), t, c), "radians already"),
    (lab02.check_rigid_matrix, lambda a, t, c: about_center(rotation_matrix_2d(a), t, c),
     "this calls reglab.transforms.rotation_matrix_2d"),
    (lab02.check_quaternion_matrix, lab02.lecture_quaternion_matrix, "lecture's matrix"),
    (lab02.check_quaternion_matrix, lambda q: lab02._quaternion(torch.cat([q[:, 1:], q[:, :1]], dim=1)),
     "scalar part LAST"),
    (lab02.check_quaternion_matrix, lambda q: lab02._quaternion(q, normalize=False), "normalize q"),
    (lab02.check_quaternion_matrix, lambda q: lab02._quaternion(q, square=True), "not by Σ q²"),
    (lab02.check_quaternion_matrix, lambda q: lab02._quaternion(q).transpose(1, 2), "the transpose"),
    (lab02.check_quaternion_matrix, lambda q: quaternion_to_matrix(q), "this calls reglab"),
    (lab02.check_bspline_basis, lambda u: basis(u).flip(-1), "reverse order"),
    (lab02.check_bspline_basis, lambda u: basis(u).movedim(-1, 0), "LAST axis"),
    (lab02.check_bspline_basis, lambda u: basis(u) * 6, "divide every polynomial by 6"),
    (lab02.check_bspline_basis, lambda u: torch.stack([(1 - u**3) / 6, *basis(u).unbind(-1)[1:]], -1), "(1 − u³)/6"),
    (lab02.check_bspline_basis, noisy(basis, dtype=torch.float32), "keep the input's dtype"),
    (lab02.check_bspline_basis, lambda u: bspline_basis(u), "this calls reglab"),
    (lab02.check_ffd_at_point, lambda c, x, d: lab02._ffd(c, x, d, shift=1), "shifted by one control point:"),
    (lab02.check_ffd_at_point, lambda c, x, d: lab02._ffd(c, x, d, shift=-1), "the other way"),
    (lab02.check_ffd_at_point, lambda c, x, d: lab02._ffd(c, x, d, fractional=False), "not x/δ"),
    (lab02.check_ffd_at_point, lambda c, x, d: lab02._ffd(c, x, d, swap=True), "weights of the axes are swapped"),
    (lab02.check_ffd_at_point, lambda c, x, d: lab02._ffd(c, x, d, nearest=True), "blend all 4^d"),
    (lab02.check_ffd_at_point, _ffd_2d_only, "works in 2D but raised ValueError on a 3D case"),
    (lab02.check_ffd_at_point, lambda c, x, d: bspline_points(c[None], x[None, None], d)[0, 0], "this calls reglab"),
]


(test_right_answers_pass, test_wrong_answers_fail_with_their_hint,
 test_every_hint_is_triggered_and_every_exercise_has_five_wrong_answers,
 test_an_untouched_stub_is_not_implemented) = table_tests(CHECKS, RIGHT, WRONG)


def test_a_wrong_matrix_of_a_long_quaternion_gets_no_normalize_hint():
    """The first case has |q| = √2; a wrong matrix that is not the unnormalized one must not be told to normalize."""
    result, out = run(lab02.check_quaternion_matrix, lambda q: lab02._quaternion(q) + 0.1)
    assert not result.ok and "→" not in out


def test_the_lecture_matrix_is_not_a_rotation():
    r = lab02.lecture_quaternion_matrix(torch.tensor([[0.2, -0.4, 0.3, 0.8]]))
    assert (r @ r.transpose(1, 2) - torch.eye(3)).abs().max() > 0.1
