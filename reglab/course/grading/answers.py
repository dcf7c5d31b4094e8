"""Inside the grading kernel: call the student's function on the inputs the grader sent, send the answers back.

After the student's cells, one grading cell per exercise runs :func:`answer` with the exercise's request (the
cases' inputs, no expected values; :func:`reglab.course.grading.cases.request`). It calls the student's function
on each case and displays the answers as plain data (:mod:`~reglab.course.grading.codec`) with the MIME type
:data:`MIME`; the grader reads them from the cell's output and compares them in its own process. Everything
here runs in the student's interpreter and is trusted for nothing but the student's own answers: patching it
changes only what this student is said to have answered.

While the student's function runs, the reglab functions the exercise asks to write are replaced by recording
wrappers (in reglab's modules, the student's global namespace and the notebook's namespace); a call made from the
student's code (not from inside reglab or torch) is reported in ``calls``.
"""

import contextlib
import importlib
import os
import sys
import traceback

MIME = "application/vnd.reglab.grade+json"
"""The MIME type of the answers the grading cells display."""

MAX_ANSWER = 32 * 1024 ** 2
"""Bytes of JSON one case's answer may take; a larger one is sent as ``{"object": "answer too large"}``."""


def _libraries():
    import torch

    import reglab

    return tuple(os.path.dirname(m.__file__) + os.sep for m in (torch, reglab) if getattr(m, "__file__", None))


def _resolve(path):
    module, _, qualname = path.partition(":")
    value = importlib.import_module(module)
    owner = None
    for part in qualname.split("."):
        owner, value = value, getattr(value, part)
    return owner, qualname.split(".")[-1], value


def _public(module_name, function):
    parts = module_name.split(".")
    for end in range(1, len(parts) + 1):
        owner = sys.modules.get(".".join(parts[:end]))
        if owner is not None and getattr(owner, getattr(function, "__name__", ""), None) is function:
            return f"{'.'.join(parts[:end])}.{function.__name__}"
    return f"{module_name}.{getattr(function, '__qualname__', '?')}"


@contextlib.contextmanager
def recording(paths, spaces):
    """Replace each ``"module:qualname"`` function by a recording wrapper in reglab's modules and ``spaces``."""
    calls, replaced = [], []
    libraries = _libraries()
    try:
        for path in paths:
            try:
                owner, attribute, function = _resolve(path)
            except Exception:  # a name this reglab does not have: nothing to record
                continue
            name = _public(path.partition(":")[0], function) if "." not in path.partition(":")[2] else \
                path.replace(":", ".")

            def wrapper(*args, _function=function, _name=name, **kwargs):
                caller = sys._getframe(1).f_code.co_filename
                if not caller.startswith(libraries):
                    calls.append(_name)
                return _function(*args, **kwargs)

            if isinstance(owner, type):
                setattr(owner, attribute, wrapper)
                replaced.append((vars(owner), attribute, function, owner))
            targets = [vars(m) for k, m in list(sys.modules.items())
                       if m is not None and (k == "reglab" or k.startswith("reglab."))] + list(spaces)
            for space in targets:
                for key, value in list(space.items()):
                    if value is function:
                        space[key] = wrapper
                        replaced.append((space, key, function, None))
        yield calls
    finally:
        for space, key, function, owner in reversed(replaced):
            if owner is not None:
                setattr(owner, key, function)
            else:
                space[key] = function


def weighted_gradients(function, args, kwargs, positions, seed=0):
    """``[gradient or None per position]`` of ``sum(w · function(*args))``, ``w`` fixed random (float64)."""
    import torch

    leaves, call = {}, []
    for index, value in enumerate(args):
        if index in positions and isinstance(value, torch.Tensor) and value.dtype.is_floating_point:
            leaf = value.detach().clone().requires_grad_(True)
            leaves[index] = leaf
            value = leaf.clone()
        elif isinstance(value, torch.Tensor):
            value = value.detach().clone()
        call.append(value)
    output = function(*call, **kwargs)
    if not isinstance(output, torch.Tensor) or not output.requires_grad or not leaves:
        return [None] * len(positions)
    weight = torch.randn(output.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    total = (output * weight.to(output.dtype)).sum()
    inputs = [leaves[i] for i in positions if i in leaves]
    found = iter(torch.autograd.grad(total, inputs, allow_unused=True))
    return [next(found) if i in leaves else None for i in positions]


def _is_stub(error, libraries):
    if type(error) is not NotImplementedError or error.args:
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and not frames[-1].filename.startswith(libraries)


def _spaces(student, namespace):
    spaces = [namespace]
    for candidate in (student, getattr(type(student), "forward", None), getattr(type(student), "__call__", None)):
        space = getattr(candidate, "__globals__", None)
        if isinstance(space, dict) and not any(space is s for s in spaces):
            spaces.append(space)
    return spaces


def _one(student, case, forbid, spaces, positions, seed, libraries):
    import json

    import torch

    from reglab.course.grading import codec

    args, kwargs = codec.decode(case["args"]), codec.decode(case["kwargs"])
    originals = [a.detach().clone() if isinstance(a, torch.Tensor) else None for a in args]
    entry = {}
    with recording(forbid, spaces) as calls:
        try:
            output = student(*args, **kwargs)
        except Exception as error:  # the student's code may raise anything: it is the answer
            entry["error"] = f"{type(error).__name__}: {error}"[:300]
            entry["stub"] = _is_stub(error, libraries)
        else:
            text = json.dumps(codec.encode(output), allow_nan=False)
            entry["answer"] = json.loads(text) if len(text) <= MAX_ANSWER else {"object": "answer too large"}
            entry["modified"] = [i for i, (a, o) in enumerate(zip(args, originals)) if o is not None and (
                not isinstance(a, torch.Tensor) or a.shape != o.shape or not torch.equal(a.detach(), o))]
            if case.get("grad") and positions:
                try:
                    grads = weighted_gradients(student, codec.decode(case["args"]), kwargs, positions, seed)
                    entry["gradients"] = [codec.encode(g) for g in grads]
                except Exception:  # no gradient: the grader says so
                    entry["gradients"] = [None] * len(positions)
    entry["calls"] = sorted(set(calls))
    return entry


def answer(token, key, function, argument, request):
    """Run the student's ``function`` (the expression ``argument``) on every case of ``request``; display it.

    The result, displayed as :data:`MIME`, is ``{"token", "key", "status": "answered" | "missing" | "error",
    "answers": [...]}`` (``defined``: the notebook's functions when it is missing; ``error``: why it could not be
    called).
    """
    from IPython import get_ipython
    from IPython.display import display

    namespace = get_ipython().user_ns
    result = {"token": token, "key": key}
    if not callable(namespace.get(function)):
        result["status"] = "missing"
        result["defined"] = sorted(name for name, value in namespace.items() if not name.startswith("_")
                                   and callable(value) and getattr(value, "__module__", "") == "__main__")[:200]
    else:
        try:
            student = eval(argument or function, namespace)      # the function, or e.g. SpatialTransformer()
        except Exception as error:  # e.g. a class whose constructor raises
            result["status"] = "error"
            result["error"] = f"{type(error).__name__}: {error}"[:300]
        else:
            libraries = _libraries()
            spaces = _spaces(student, namespace)
            result["answers"] = [_one(student, case, request["forbid"], spaces, request["gradient"],
                                      request.get("seed", 0), libraries) for case in request["cases"]]
            result["status"] = "answered"
    display({MIME: result}, raw=True)
