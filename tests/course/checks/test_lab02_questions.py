"""Lab 02's questions (issue 18): the tuned magnitude is checked against the field itself; the SVF answer key holds."""

import torch

from reglab import evaluation
from reglab.course.checks import lab02
from reglab.transforms import Dense, StationaryVelocity


def stub():
    raise NotImplementedError()


def test_fold_threshold_is_where_the_jacobian_changes_sign():
    threshold = lab02.fold_threshold()
    assert lab02.bspline_min_jacobian(threshold) > 0 > lab02.bspline_min_jacobian(threshold + 0.05)
    assert lab02.bspline_min_jacobian(0.0) == 1.0


def test_fold_magnitude_accepts_half_a_voxel_below_the_threshold_only(capsys):
    threshold = lab02.fold_threshold()
    assert lab02.check_fold_magnitude(lambda: threshold - 0.25).ok
    too_far = lab02.check_fold_magnitude(lambda: threshold + 0.5)
    too_shy = lab02.check_fold_magnitude(lambda: threshold - 2.0)
    assert not too_far.ok and "folds" in too_far.hints[0]
    assert not too_shy.ok and "higher" in too_shy.hints[0]
    assert not lab02.check_fold_magnitude(stub).implemented


def test_svf_question(capsys):
    assert lab02.check_svf_never_folds(lambda: "a").ok
    hints = {lab02.check_svf_never_folds(lambda: k).hints[0] for k in "bcd"}
    assert len(hints) == 3


def test_the_same_numbers_fold_as_a_displacement_and_not_as_a_velocity():
    """The key of Exercise 2.6, on a small field: same tensor, same parameter count, folds only as Dense."""
    g = torch.Generator().manual_seed(3)
    field = torch.nn.functional.interpolate(8.0 * torch.randn(1, 2, 4, 4, generator=g), size=(40, 40),
                                            mode="bicubic", align_corners=True)
    dense, svf = Dense((40, 40), field=field), StationaryVelocity((40, 40), velocity=field)
    assert dense.num_parameters == svf.num_parameters
    with torch.no_grad():
        assert evaluation.folding_fraction(dense()).item() > 0
        assert evaluation.folding_fraction(svf()).item() == 0
