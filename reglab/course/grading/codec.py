"""Plain data between the grader and the kernel: tensors, arrays, numbers, strings, tuples as JSON (no pickle).

A tensor or NumPy array becomes ``{"tensor": {"dtype": "float32", "shape": [2, 3], "data": "<base64>"}}``
(little-endian bytes, so NaN and Inf survive), a tuple ``{"tuple": [...]}``, a ``torch.Size``
``{"size": [...]}``, anything else the kernel cannot turn into data ``{"object": "TypeName"}``. Decoding gives
CPU tensors, tuples and plain Python values, never a live object of the student's: a patched ``torch`` or a
lying Tensor subclass in the kernel can only change the student's own answer, never how it is compared.

Both sides use this file: the grader (:mod:`~reglab.course.grading.cases`) to send inputs and read answers, the
kernel (:mod:`~reglab.course.grading.answers`) to read inputs and send answers.

Example:
    >>> import torch
    >>> value = (torch.arange(6.0).reshape(2, 3), torch.Size([4, 5]), 2.5, "ok")
    >>> back = decode(json.loads(json.dumps(encode(value))))
    >>> torch.equal(back[0], value[0]), back[1:]
    (True, (torch.Size([4, 5]), 2.5, 'ok'))
"""

import base64
import json
import math

MAX_DEPTH = 8
"""Nesting deeper than this is not data: it becomes ``{"object": ...}``."""


def encode(value, depth=0):
    """``value`` as JSON-ready plain data (see the module docstring)."""
    import numpy as np
    import torch

    if depth > MAX_DEPTH:
        return {"object": "too deeply nested"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int or isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float) and type(value) is float or isinstance(value, np.floating):
        number = float(value)
        return number if math.isfinite(number) else {"float": repr(number)}
    if isinstance(value, torch.Size):
        return {"size": [int(n) for n in value]}
    if isinstance(value, torch.Tensor):
        tensor = torch.Tensor.detach(value).cpu().contiguous()
        if tensor.dtype == torch.bfloat16 or tensor.dtype == torch.float16:
            dtype = str(tensor.dtype).replace("torch.", "")
            tensor = tensor.to(torch.float32)
        else:
            dtype = None
        return _array(tensor.numpy(), dtype)
    if isinstance(value, np.ndarray):
        return _array(value, None)
    if isinstance(value, tuple):
        return {"tuple": [encode(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v, depth + 1) for k, v in value.items()}}
    return {"object": type(value).__name__[:60]}


def _array(array, dtype):
    import numpy as np

    if array.dtype == object or array.dtype.kind not in "biufc":
        return {"object": f"array of {array.dtype}"}
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return {"tensor": {"dtype": dtype or str(array.dtype), "stored": str(array.dtype), "shape": list(array.shape),
                       "data": base64.b64encode(little.tobytes()).decode("ascii")}}


def decode(data, depth=0):
    """Plain data from :func:`encode` back to tensors, tuples and Python values.

    Raises:
        ValueError: data that :func:`encode` does not make (a wrong size, an unknown dtype, too deep).
    """
    import numpy as np
    import torch

    if depth > MAX_DEPTH + 1:
        raise ValueError("decode(): expected at most 8 levels of nesting, got more")
    if data is None or isinstance(data, (bool, str, int, float)):
        return data
    if isinstance(data, list):
        return [decode(v, depth + 1) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"decode(): expected encoded data, got {type(data).__name__}")
    (kind, body), = data.items()
    if kind == "tuple":
        return tuple(decode(v, depth + 1) for v in body)
    if kind == "size":
        return torch.Size([int(n) for n in body])
    if kind == "float":
        return float(body)
    if kind == "dict":
        return {str(k): decode(v, depth + 1) for k, v in body.items()}
    if kind == "object":
        return Opaque(str(body))
    if kind == "tensor":
        stored = np.dtype(str(body["stored"])).newbyteorder("<")
        if stored.kind not in "biufc":
            raise ValueError(f"decode(): expected a numeric dtype, got {stored}")
        shape = tuple(int(n) for n in body["shape"])
        raw = base64.b64decode(body["data"], validate=True)
        if len(raw) != stored.itemsize * math.prod(shape):
            raise ValueError(f"decode(): expected {stored.itemsize * math.prod(shape)} bytes, got {len(raw)}")
        array = np.frombuffer(raw, dtype=stored).reshape(shape).astype(stored.newbyteorder("="))
        tensor = torch.from_numpy(array.copy())
        if body["dtype"] in ("float16", "bfloat16"):
            tensor = tensor.to(getattr(torch, body["dtype"]))
        return tensor
    raise ValueError(f"decode(): expected tensor, tuple, size, float, dict or object, got {kind!r}")


class Opaque:
    """What the kernel could not send as data (a module, a generator, ...): only its type name."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


def dumps(value):
    """:func:`encode` then ``json.dumps``, strict JSON (no NaN literals)."""
    return json.dumps(encode(value), allow_nan=False, separators=(",", ":"))
