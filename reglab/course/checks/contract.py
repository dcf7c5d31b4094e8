"""The contract of one answer, checked by :func:`reglab.course.checks.core.run_check` on every case.

* :func:`_compare` - type, shape, dtype, device and values against the expected answer: ``(problem, lesson)``,
  the problem shown on the case's line, the lesson (what the broken contract teaches) once under the first
  failed case; :func:`same` compares values only (for the mistakes);
* :func:`recording` - which of the reglab functions the exercise asks to write the answer called
  (:func:`public_name` names them);
* :func:`_modified` - the name of an input the answer modified in place;
* :func:`_gradient_problem` - ``(problem, lesson)`` when no gradient reaches an argument that needs one, or
  when it differs from the reference's.

The grader (:mod:`reglab.course.grading.cases`) compares with the same :func:`_compare` and names functions with
the same :func:`public_name` (through :mod:`reglab.course.checks.core`).
"""

import contextlib
import sys

import torch


def _clone(value):
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def _dtype_problem(answer, expected):
    """``(problem, lesson)`` of a wrong dtype."""
    want, got = expected.dtype, answer.dtype
    problem = f"expected dtype {want}, got {got}"
    if want == torch.bool:
        return problem, "the contract asks for a bool tensor: a comparison, &, | or ~ gives one (not .long(), .float())."
    if want.is_floating_point and not got.is_floating_point:
        return problem, (f"the contract asks for a {want} tensor: torch.arange and integer tensors give int64, so "
                         f"create it with dtype={want} (or convert with .to({want})).")
    if not want.is_floating_point and got.is_floating_point:
        return problem, f"the contract asks for {want}: indices and labels are integers (convert with .long())."
    return problem, f"the contract asks for {want}: keep the input's dtype (create new tensors with dtype=x.dtype)."


def _compare(answer, expected, case):
    """``(problem, lesson)``: None when ``answer`` matches ``expected`` (type, shape, dtype, device, values), else
    what is wrong (shown on the case's line) and, for a broken contract, the lesson (shown once)."""
    if isinstance(expected, tuple):
        if not isinstance(answer, (tuple, list)) or len(answer) != len(expected):
            return (f"expected a tuple of {len(expected)} values, got {type(answer).__name__}",
                    f"return {len(expected)} values as a tuple: return a, b.")
        for a, e in zip(answer, expected):
            problem = _compare(a, e, case)
            if problem[0]:
                return problem
        return None, None
    if not isinstance(answer, torch.Tensor):
        lesson = (f"return a torch.Tensor, not a {type(answer).__name__}: .item(), float(), .tolist() and NumPy "
                  f"leave torch (and cut the gradient).")
        return f"expected a torch.Tensor, got {type(answer).__name__}", lesson
    if answer.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got {tuple(answer.shape)}", None
    if answer.dtype != expected.dtype:
        return _dtype_problem(answer, expected)
    if answer.device != expected.device:
        return (f"expected the result on {expected.device}, got {answer.device}",
                "create new tensors on the input's device (device=x.device).")
    a, e = answer.detach().to(torch.float64), expected.detach().to(torch.float64)
    if not torch.isfinite(a).all() and torch.isfinite(e).all():
        return "the answer contains NaN or Inf", None
    if not torch.allclose(a, e, atol=case.atol, rtol=case.rtol, equal_nan=True):
        return f"values differ (largest error {(a - e).abs().nan_to_num(float('inf')).max().item():.3g})", None
    return None, None


def same(answer, other, atol=1e-4, rtol=1e-4):
    """True when ``answer`` equals ``other`` in shape and values (tensors, or tuples of tensors; dtypes may differ)."""
    if isinstance(other, (tuple, list)):
        return (isinstance(answer, (tuple, list)) and len(answer) == len(other)
                and all(same(a, o, atol, rtol) for a, o in zip(answer, other)))
    return (isinstance(answer, torch.Tensor) and isinstance(other, torch.Tensor) and answer.shape == other.shape
            and torch.allclose(answer.detach().to(torch.float64), other.detach().to(torch.float64), atol=atol,
                               rtol=rtol, equal_nan=True))


def public_name(function):
    """The shortest public path of a reglab function, e.g. ``reglab.warp`` for :func:`reglab.warping.warp`."""
    module = function.__module__
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        owner = sys.modules.get(".".join(parts[:end]))
        if owner is not None and getattr(owner, function.__name__, None) is function:
            return f"{'.'.join(parts[:end])}.{function.__name__}"
    return f"{module}.{function.__name__}"


def _student_globals(student):
    """The global namespaces the student's code looks names up in (a function's, or a layer's forward's)."""
    spaces = []
    for candidate in (student, getattr(type(student), "forward", None), getattr(type(student), "__call__", None)):
        space = getattr(candidate, "__globals__", None)
        if isinstance(space, dict) and not any(space is s for s in spaces):
            spaces.append(space)
    return spaces


@contextlib.contextmanager
def recording(functions, student):
    """Replace each of ``functions`` by a recording wrapper wherever the student's code can reach it, then restore.

    The wrapper calls the original and appends its public name to the list this context yields. It is put in
    every loaded ``reglab`` module that holds the function and in the student's global namespace (so
    ``reglab.warp``, ``warping.warp`` and a name imported with ``from reglab import warp`` are all seen).

    Example:
        >>> import reglab, torch
        >>> from reglab import warping
        >>> with recording([warping.warp], None) as calls:
        ...     _ = reglab.warp(torch.zeros(1, 1, 3, 3), torch.zeros(1, 2, 3, 3))
        >>> calls, reglab.warp is warping.warp
        (['reglab.warp'], True)
    """
    calls = []
    replaced = []
    try:
        for function in functions:
            name = public_name(function)

            def wrapper(*args, _function=function, _name=name, **kwargs):
                calls.append(_name)
                return _function(*args, **kwargs)

            spaces = [vars(module) for key, module in list(sys.modules.items())
                      if module is not None and (key == "reglab" or key.startswith("reglab."))]
            spaces += _student_globals(student)
            for space in spaces:
                for key, value in list(space.items()):
                    if value is function:
                        space[key] = wrapper
                        replaced.append((space, key, function))
        yield calls
    finally:
        for space, key, function in reversed(replaced):
            space[key] = function


def _modified(args, originals, names):
    for index, (a, c) in enumerate(zip(args, originals)):
        if isinstance(a, torch.Tensor) and (a.shape != c.shape or not torch.equal(a.detach(), c)):
            return names[index] if index < len(names) else f"argument {index + 1}"
    return None


def _gradients(function, case, positions, *, seed=0):
    """``(output, [gradient or None per position])`` of ``sum(w · function(*args))`` for a fixed random ``w``."""
    leaves = {}
    args = []
    for index, value in enumerate(case.args):
        value = _clone(value)
        if index in positions and isinstance(value, torch.Tensor) and value.dtype.is_floating_point:
            leaves[index] = value.requires_grad_(True)
            value = value.clone()                                  # not a leaf: in-place edits stay legal
        args.append(value)
    output = function(*args, **case.kwargs)
    if not isinstance(output, torch.Tensor) or not output.requires_grad:
        return output, [None] * len(positions)
    weight = torch.randn(output.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    total = (output * weight.to(output.dtype)).sum()
    inputs = [leaves[i] for i in positions if i in leaves]
    found = iter(torch.autograd.grad(total, inputs, allow_unused=True))
    return output, [next(found) if i in leaves else None for i in positions]


def _gradient_problem(student, reference, case, positions, names):
    try:
        output, grads = _gradients(student, case, positions)
    except Exception as error:  # the student's code may raise anything
        return (f"raised {type(error).__name__} when its inputs require a gradient: {error}",
                "the result must be differentiable: it is used in a gradient descent.")
    _, expected = _gradients(reference, case, positions)
    for index, got, want in zip(positions, grads, expected):
        name = names[index] if index < len(names) else f"argument {index + 1}"
        if want is None:
            continue
        if got is None:
            return (f"no gradient reaches `{name}`",
                    f"no gradient reaches `{name}`: the result must be differentiable in it (no .item(), .detach(), "
                    f".numpy(), torch.no_grad() or torch.tensor(...) of computed values).")
        scale = want.abs().max().item()
        if not torch.allclose(got.to(torch.float64), want.to(torch.float64), rtol=1e-3, atol=1e-4 * (1 + scale)):
            error = (got.to(torch.float64) - want.to(torch.float64)).abs().max().item()
            return (f"the gradient with respect to `{name}` differs from reglab's (largest error {error:.3g})",
                    f"the values are right but the gradient with respect to `{name}` is not: a hard threshold, "
                    f"rounding or a detached part of the computation changes it.")
    return None, None
