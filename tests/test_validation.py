"""Tests of reglab.validation: the shared checks give `fn(): expected …, got …` messages (issue 14)."""

import math

import numpy as np
import pytest
import torch

from reglab.validation import (broadcast_batch, check_displacement, check_image, check_number, check_points,
                               check_size, check_spacing, check_tensor)


@pytest.mark.parametrize("spacing", [2.0, 2, np.float64(2.0), torch.tensor(2.0), (2.0, 2.0), [2, 2], torch.tensor([2.0, 2.0])])
def test_check_spacing_accepts_a_number_as_isotropic_spacing(spacing):
    like = torch.zeros(1, dtype=torch.float64)
    torch.testing.assert_close(check_spacing("f", spacing, 2, like), torch.tensor([2.0, 2.0], dtype=torch.float64))


def test_check_spacing_of_integer_points_is_floating():
    assert check_spacing("f", (0.5, 1.5), 2, torch.zeros(1, dtype=torch.long)).tolist() == [0.5, 1.5]


@pytest.mark.parametrize("spacing, error, match", [
    ("1,1", TypeError, r"f\(\): expected `spacing` as a number .* or 2 numbers .* got the string '1,1'"),
    (True, TypeError, r"f\(\): expected `spacing` as a number"),
    ({"a": 1}, TypeError, r"f\(\): expected `spacing` as a number"),
    ((1.0, "a"), TypeError, r"f\(\): expected `spacing` as a number"),
    ((1.0, 2.0, 3.0), ValueError, r"f\(\): expected `spacing` with 2 positive .* got \(1.0, 2.0, 3.0\)"),
    ((1.0, 0.0), ValueError, r"f\(\): expected `spacing` with 2 positive"),
    (-1.0, ValueError, r"f\(\): expected `spacing` with 2 positive"),
    (math.nan, ValueError, r"f\(\): expected `spacing` with 2 positive"),
    ((1.0, math.inf), ValueError, r"f\(\): expected `spacing` with 2 positive"),
])
def test_check_spacing_rejects_clearly(spacing, error, match):
    with pytest.raises(error, match=match):
        check_spacing("f", spacing, 2, torch.zeros(1))


def test_empty_images_and_fields_are_rejected():
    with pytest.raises(ValueError, match=r"f\(\): expected a non-empty `moving` .* got \(1, 1, 0, 5\)"):
        check_image("f", "moving", torch.zeros(1, 1, 0, 5))
    with pytest.raises(ValueError, match=r"f\(\): expected a non-empty `u` .* got \(1, 2, 4, 0\)"):
        check_displacement("f", "u", torch.zeros(1, 2, 4, 0))
    with pytest.raises(ValueError, match=r"f\(\): expected a non-empty `moving`"):
        check_image("f", "moving", torch.zeros(0, 1, 3, 5))


def test_integer_image_hint_is_true_for_tensors_and_read_images():
    with pytest.raises(TypeError, match=r"f\(\): expected a floating-point `fixed`.*fixed\.float\(\).*image\.data"):
        check_image("f", "fixed", torch.zeros(1, 1, 3, 3, dtype=torch.long))
    from reglab.io import Geometry, Image
    image = Image(torch.zeros(1, 1, 3, 3), Geometry.default(2))
    with pytest.raises(TypeError, match=r"f\(\): expected `fixed` to be a torch.Tensor, got Image\. Hint: .*image\.data"):
        check_tensor("f", "fixed", image)


def test_points_must_be_finite():
    with pytest.raises(ValueError, match=r"f\(\): `p` contains NaN or Inf"):
        check_points("f", "p", torch.tensor([[[math.nan, 1.0]]]), 2)


@pytest.mark.parametrize("value, kwargs, match", [
    (-1, {"integer": True, "minimum": 0}, r"f\(\): expected `n` to be an int >= 0, got -1"),
    (2.5, {"integer": True, "minimum": 0}, r"f\(\): expected `n` to be an int >= 0, got 2.5"),
    (True, {"integer": True, "minimum": 0}, r"f\(\): expected `n` to be an int >= 0, got True"),
    (math.nan, {"minimum": 0}, r"f\(\): expected `n` to be a finite number >= 0, got nan"),
    (math.inf, {}, r"f\(\): expected `n` to be a finite number, got inf"),
    ("1", {}, r"f\(\): expected `n` to be a finite number, got '1'"),
])
def test_check_number(value, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        check_number("f", "n", value, **kwargs)


def test_check_number_passes_good_values():
    assert check_number("f", "n", 3, integer=True, minimum=0) == 3
    assert check_number("f", "n", 0.5, minimum=0) == 0.5


@pytest.mark.parametrize("size, match", [
    ((0, 5), r"f\(\): expected `size` of 2 positive ints, got \(0, 5\)"),
    ((4.5, 5), r"f\(\): expected `size` of 2 positive ints, got \(4.5, 5\)"),
    ((4,), r"f\(\): expected `size` of 2 positive ints, got \(4,\)"),
    (4, r"f\(\): expected `size` of 2 positive ints, got 4"),
])
def test_check_size(size, match):
    with pytest.raises((ValueError, TypeError), match=match):
        check_size("f", size, 2)
    assert check_size("f", torch.Size([3, 4]), 2) == (3, 4)


def test_broadcast_batch():
    a, b = broadcast_batch("f", ("a", torch.zeros(1, 2)), ("b", torch.zeros(3, 2)))
    assert a.shape == b.shape == (3, 2)
    with pytest.raises(ValueError, match=r"f\(\): expected `a` and `b` with the same batch size \(or one of them 1\), got 2 and 3"):
        broadcast_batch("f", ("a", torch.zeros(2, 2)), ("b", torch.zeros(3, 2)))
