"""Input checks shared by every reglab function.

Every public function validates its tensors here, so that a mistake gets the
same kind of message everywhere::

    warp(): expected `displacement` of shape (B, 2, H, W) for a 2D image, got (1, 64, 64, 2).
    Hint: this looks like a channels-last field; use displacement.movedim(-1, 1).

Errors are ``TypeError`` (wrong kind of object or dtype) or ``ValueError``
(right kind, wrong shape or values). They never use ``assert``, which Python
drops under ``-O``.
"""

import math
import numbers
import operator

import torch


def all_finite(tensor):
    """True when no value is NaN or ±Inf.

    Checks the sum first (one cheap reduction: any NaN or Inf makes it non-finite)
    and looks at every value only when the sum is not finite, which also happens
    when finite values overflow the sum.
    """
    with torch.no_grad():
        return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def check_tensor(fn, name, value):
    """Raise ``TypeError`` unless ``value`` is a ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        hint = ""
        if type(value).__name__ == "ndarray":
            hint = " Hint: convert a NumPy array with torch.from_numpy(array)."
        elif hasattr(value, "data") and hasattr(value, "geometry"):                # a reglab.io.Image
            hint = " Hint: pass the tensor of a reglab.io.Image, image.data."
        raise TypeError(f"{fn}(): expected `{name}` to be a torch.Tensor, got {type(value).__name__}.{hint}")


def _check_not_empty(fn, name, tensor):
    """Raise ``ValueError`` when any axis of ``tensor`` has length 0."""
    if tensor.numel() == 0:
        raise ValueError(
            f"{fn}(): expected a non-empty `{name}` (at least one sample, channel and voxel along every axis), "
            f"got {tuple(tensor.shape)}."
        )


def check_image(fn, name, image, *, allow_integer=False):
    """Check an image of shape ``(B, C, H, W)`` or ``(B, C, D, H, W)``; return its number of spatial axes.

    Raises:
        TypeError: not a tensor, or an integer/bool tensor where floating point is needed.
        ValueError: fewer than 4 or more than 5 axes (with a hint about the batch axis), or NaN/Inf values.
    """
    check_tensor(fn, name, image)
    if image.dim() not in (4, 5):
        hint = ""
        if image.dim() in (2, 3):
            hint = " Hint: add the batch and channel axes, e.g. image[None, None]."
        raise ValueError(
            f"{fn}(): expected `{name}` of shape (B, C, H, W) or (B, C, D, H, W), "
            f"got {tuple(image.shape)}.{hint}"
        )
    _check_not_empty(fn, name, image)
    if not allow_integer and not image.is_floating_point():
        raise TypeError(
            f"{fn}(): expected a floating-point `{name}`, got dtype {image.dtype}. "
            f"Hint: convert intensities with {name}.float() (a tensor; reglab.io.read_image gives scans as "
            "floating point in image.data); warp label maps with mode='nearest' or mode='label'."
        )
    if image.is_floating_point() and not all_finite(image):
        raise ValueError(f"{fn}(): `{name}` contains NaN or Inf values.")
    return image.dim() - 2


def check_displacement(fn, name, displacement, *, ndim=None, spatial=None):
    """Check a displacement field ``(B, ndim, *spatial)`` in voxels; return ``ndim``.

    Args:
        ndim: expected number of spatial axes (2 or 3), or None to infer it from the field.
        spatial: expected spatial shape, or None.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: wrong layout (with a hint for a channels-last field), mismatched
            spatial shape, or NaN/Inf values.
    """
    check_tensor(fn, name, displacement)
    if not displacement.is_floating_point():
        raise TypeError(f"{fn}(): expected a floating-point `{name}`, got dtype {displacement.dtype}.")
    d = displacement.dim() - 2
    if displacement.dim() not in (4, 5) or displacement.shape[1] != d or (ndim is not None and d != ndim):
        want = ndim if ndim is not None else (d if d in (2, 3) else 2)
        layout = "(B, 2, H, W)" if want == 2 else "(B, 3, D, H, W)"
        hint = ""
        if displacement.dim() >= 3 and displacement.shape[-1] in (2, 3) and displacement.shape[1] not in (2, 3):
            hint = " Hint: this looks like a channels-last field; use displacement.movedim(-1, 1)."
        elif displacement.dim() in (3, 4) and displacement.shape[0] == displacement.dim() - 1:
            hint = " Hint: add the batch axis, e.g. displacement[None]."
        raise ValueError(
            f"{fn}(): expected `{name}` of shape {layout} for a {want}D image "
            f"(channel i = displacement along spatial axis i, in voxels), got {tuple(displacement.shape)}.{hint}"
        )
    _check_not_empty(fn, name, displacement)
    if spatial is not None and tuple(displacement.shape[2:]) != tuple(spatial):
        raise ValueError(
            f"{fn}(): expected `{name}` on the spatial grid {tuple(spatial)}, "
            f"got {tuple(displacement.shape[2:])}. Hint: resize it with reglab.fields.resize_displacement."
        )
    if not all_finite(displacement):
        raise ValueError(f"{fn}(): `{name}` contains NaN or Inf values.")
    return d


def check_points(fn, name, points, ndim):
    """Check points of shape ``(B, N, ndim)`` in voxel coordinates (axis order)."""
    check_tensor(fn, name, points)
    if points.dim() != 3 or points.shape[-1] != ndim:
        hint = " Hint: add the batch axis, e.g. points[None]." if points.dim() == 2 else ""
        raise ValueError(
            f"{fn}(): expected `{name}` of shape (B, N, {ndim}) in voxel coordinates, got {tuple(points.shape)}.{hint}"
        )
    if not points.is_floating_point():
        raise TypeError(f"{fn}(): expected floating-point `{name}`, got dtype {points.dtype}.")
    if not all_finite(points):
        raise ValueError(f"{fn}(): `{name}` contains NaN or Inf values.")


def check_choice(fn, name, value, choices):
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{fn}(): expected `{name}` to be one of {', '.join(map(repr, choices))}, got {value!r}.")


def check_number(fn, name, value, *, minimum=None, integer=False):
    """``value`` if it is a finite real number (an int when ``integer``) ``>= minimum``.

    Raises ``TypeError`` for another kind of object, ``ValueError`` for NaN, ±Inf or a value below ``minimum``.

    bool is not a number here (``True`` is an ``int`` in Python, never a sensible count).

    Example:
        >>> check_number("invert", "iterations", 100, integer=True, minimum=0)
        100
    """
    kind = "an int" if integer else "a finite number"
    bound = "" if minimum is None else f" >= {minimum}"
    allowed = numbers.Integral if integer else numbers.Real
    message = f"{fn}(): expected `{name}` to be {kind}{bound}, got {value!r}."
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise TypeError(message)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise ValueError(message)
    return value


def check_size(fn, size, ndim):
    """``size`` as a tuple of ``ndim`` positive ints (``ndim`` an int, or a tuple of allowed values, e.g. ``(2, 3)``).

    Raises:
        ValueError: not a sequence of ``ndim`` ints >= 1 (a float such as 4.5 is not truncated silently).
    """
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    try:
        values = tuple(operator.index(n) for n in size)
    except TypeError:
        values = None
    if values is None or len(values) not in allowed or any(n < 1 for n in values):
        wanted = " or ".join(map(str, allowed))
        raise ValueError(f"{fn}(): expected `size` of {wanted} positive ints, got {size!r} (a spatial shape).")
    return values


def broadcast_batch(fn, first, second):
    """Two ``(name, tensor)`` pairs expanded to one batch size; a batch of 1 is broadcast (as in ``warp``).

    Raises:
        ValueError: the batch sizes differ and neither is 1.
    """
    (name_a, a), (name_b, b) = first, second
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(
            f"{fn}(): expected `{name_a}` and `{name_b}` with the same batch size (or one of them 1), "
            f"got {a.shape[0]} and {b.shape[0]}."
        )
    batch = max(a.shape[0], b.shape[0])
    return a.expand(batch, *a.shape[1:]), b.expand(batch, *b.shape[1:])


def check_same_dtype(fn, first, second):
    """Raise ``TypeError`` unless the two ``(name, tensor)`` pairs share a dtype (no silent loss of precision)."""
    (name_a, a), (name_b, b) = first, second
    if a.dtype != b.dtype:
        raise TypeError(
            f"{fn}(): expected `{name_a}` and `{name_b}` of the same dtype, got {a.dtype} and {b.dtype}. "
            f"Hint: convert one of them, e.g. {name_b}.to({name_a}.dtype)."
        )


def check_spacing(fn, spacing, ndim, like):
    """``spacing`` (mm per voxel, tensor axis order) as a float tensor ``(ndim,)`` on ``like``'s device; ones when None.

    One number means the same spacing along every axis (isotropic voxels). The
    tensor has ``like``'s dtype when that is floating point, torch's default
    dtype otherwise (so integer points never truncate a spacing of 0.5 mm).

    Raises:
        TypeError: a string, a bool, or a sequence holding something that is not a number.
        ValueError: not ``ndim`` positive finite numbers (with a hint about SimpleITK's reversed order).

    Example:
        >>> check_spacing("tre", 2.0, 3, torch.zeros(1))
        tensor([2., 2., 2.])
    """
    dtype = like.dtype if like.is_floating_point() else torch.get_default_dtype()
    if spacing is None:
        return torch.ones(ndim, device=like.device, dtype=dtype)
    expected = f"`spacing` as a number (isotropic voxels) or {ndim} numbers in mm (tensor axis order)"
    if isinstance(spacing, (str, bytes)):
        raise TypeError(f"{fn}(): expected {expected}, got the string {spacing!r}.")
    if isinstance(spacing, torch.Tensor):
        spacing_list = spacing.tolist()
        values = spacing_list if isinstance(spacing_list, list) else [spacing_list] * ndim
    elif isinstance(spacing, numbers.Real) or (hasattr(spacing, "ndim") and getattr(spacing, "ndim") == 0):
        values = [spacing] * ndim
    else:
        try:
            values = list(spacing)
        except TypeError:
            raise TypeError(f"{fn}(): expected {expected}, got {type(spacing).__name__} {spacing!r}.") from None
    if any(isinstance(s, (bool, str, bytes)) or not isinstance(s, numbers.Real) for s in values):
        raise TypeError(f"{fn}(): expected {expected}, got {spacing!r}.")
    values = [float(s) for s in values]
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        hint = "" if isinstance(spacing, numbers.Real) else (
            " Hint: SimpleITK's GetSpacing() is in reversed (x, y, z) order; use spacing[::-1].")
        raise ValueError(
            f"{fn}(): expected `spacing` with {ndim} positive voxel sizes in mm in the tensor's axis order, "
            f"got {spacing!r}.{hint}"
        )
    return torch.tensor(values, device=like.device, dtype=dtype)
