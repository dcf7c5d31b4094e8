"""Fuzz test of the public functions (issue 14): random shapes, dtypes, batch sizes, NaN/Inf, empty tensors, spacings.

Every call either returns, or raises ``ValueError``/``TypeError`` whose message starts
with the name of the function called (``fn(): expected …``). A call whose inputs are
all finite never returns NaN, and no call takes long (small sizes, a time bound per
call). Seeded and bounded: a few hundred calls, a few seconds on one thread.
``register`` is left out (its fuzzing belongs to the registration tests).
"""

import math
import random
import signal
import time

import pytest
import torch

from reglab import evaluation as ev
from reglab import fields, grid, regularization, similarity, warping

SECONDS_PER_CALL = 2.0
DTYPES = (torch.float32, torch.float64, torch.float16, torch.int64)


class _Inputs:
    """Random inputs of one call, and whether any of them holds NaN/Inf."""

    def __init__(self, rng):
        self.rng = rng
        self.non_finite = False
        self.ndim = rng.choice((2, 3))
        self.batch = rng.choice((1, 1, 2, 3))
        self.size = tuple(rng.choice((1, 2, 3, 4, 5, 5, 6, 6)) for _ in range(self.ndim))
        self.landmarks = rng.choice((0, 1, 3, 3))
        if rng.random() < 0.06:                                          # an empty axis now and then
            self.size = tuple(0 if i == 0 else n for i, n in enumerate(self.size))
        self.dtype = rng.choices(DTYPES, weights=(6, 3, 1, 1))[0]

    def _finish(self, tensor):
        """Cast to the call's dtype; sometimes plant a NaN or an Inf."""
        tensor = tensor.to(self.dtype) if self.dtype.is_floating_point else tensor.round().to(self.dtype)
        if tensor.numel() and tensor.is_floating_point() and self.rng.random() < 0.08:
            flat = tensor.reshape(-1).clone()
            flat[self.rng.randrange(flat.numel())] = self.rng.choice((math.nan, math.inf, -math.inf))
            tensor = flat.reshape(tensor.shape)
            self.non_finite = True
        return tensor

    def batch_size(self):
        return self.batch if self.rng.random() < 0.9 else self.rng.choice((1, 2, 4))

    def image(self, channels=1):
        return self._finish(torch.rand(self.batch_size(), channels, *self.size, dtype=torch.float64))

    def labels(self):
        values = torch.randint(0, 4, (self.batch, 1, *self.size))
        return values.to(self.rng.choice((torch.int64, torch.uint8, torch.float32, torch.bool)))

    def displacement(self, magnitude=2.0):
        u = magnitude * (2 * torch.rand(self.batch_size(), self.ndim, *self.size, dtype=torch.float64) - 1)
        if self.rng.random() < 0.05:                                     # a channels-last field
            u = u.movedim(1, -1)
        return self._finish(u)

    def points(self):
        n = self.landmarks if self.rng.random() < 0.95 else self.landmarks + 1
        scale = torch.tensor([max(s - 1, 0) for s in self.size], dtype=torch.float64)
        return self._finish(torch.rand(self.batch, n, self.ndim, dtype=torch.float64) * scale)

    def spacing(self):
        good = (None, None, 1.5, 2, (0.5,) * self.ndim, tuple(range(1, self.ndim + 1)))
        bad = ((1.0,) * (self.ndim + 1), "1,1", -1.0, math.nan, (0.0,) * self.ndim)
        return self.rng.choice(good if self.rng.random() < 0.8 else bad)

    def matrix(self):
        matrix = torch.eye(self.ndim, self.ndim + 1, dtype=torch.float64)[None].repeat(self.batch, 1, 1)
        return self._finish(matrix + 0.2 * torch.randn(self.batch, self.ndim, self.ndim + 1, dtype=torch.float64))

    def number(self, good):
        return good if self.rng.random() < 0.75 else self.rng.choice((-1, 0, math.nan, math.inf, "3", True))


def _cases():
    """``(function name, call(inputs))`` for every public function under test."""
    cases = [
        ("warp", lambda x: warping.warp(x.image(), x.displacement(),
                                        mode=x.rng.choice(("linear", "nearest", "cubic", "label")),
                                        padding=x.rng.choice(("zeros", "border", "reflection")))),
        ("warp_points", lambda x: warping.warp_points(x.points(), x.displacement())),
        ("compose", lambda x: fields.compose(x.displacement(), x.displacement())),
        ("invert", lambda x: fields.invert(x.displacement(0.3), iterations=x.number(5), tolerance=x.number(1e-3))),
        ("integrate_velocity", lambda x: fields.integrate_velocity(x.displacement(), steps=x.number(4))),
        ("resize_displacement", lambda x: fields.resize_displacement(
            x.displacement(), tuple(x.rng.choice((0, 1, 2, 5)) for _ in range(x.ndim)))),
        ("affine_to_displacement", lambda x: fields.affine_to_displacement(x.matrix(), x.size)),
        ("splat", lambda x: grid.splat(x.image(), x.displacement(), normalize=x.rng.random() < 0.5)),
        ("gaussian_smoothing", lambda x: regularization.gaussian_smoothing(
            x.displacement(), x.number(1.0), spacing=x.spacing())),
        ("jacobian_matrix", lambda x: ev.jacobian_matrix(x.displacement(), spacing=x.spacing())),
        ("jacobian_determinant", lambda x: ev.jacobian_determinant(x.displacement(), spacing=x.spacing())),
        ("folding_fraction", lambda x: ev.folding_fraction(x.displacement())),
        ("sdlogj", lambda x: ev.sdlogj(x.displacement())),
        ("curl", lambda x: ev.curl(x.displacement(), spacing=x.spacing())),
        ("rmse", lambda x: ev.rmse(x.displacement(), x.displacement(), spacing=x.spacing())),
        ("inverse_consistency", lambda x: ev.inverse_consistency(x.displacement(), x.displacement(),
                                                                 spacing=x.spacing())),
        ("tre", lambda x: ev.tre(x.points(), x.points(), x.displacement() if x.rng.random() < 0.7 else None,
                                 spacing=x.spacing())),
        ("dice", lambda x: ev.dice(x.labels(), x.labels())),
        ("iou", lambda x: ev.iou(x.labels(), x.labels())),
        ("hausdorff", lambda x: ev.hausdorff(x.labels(), x.labels(), spacing=x.spacing())),
        ("hd95", lambda x: ev.hd95(x.labels(), x.labels(), spacing=x.spacing())),
        ("assd", lambda x: ev.assd(x.labels(), x.labels(), spacing=x.spacing())),
        ("surface_voxels", lambda x: ev.surface_voxels(x.labels())),
    ]
    for name in similarity.MEASURES:
        cases.append((name, lambda x, name=name: similarity.MEASURES[name](
            x.image(), x.image(), reduction=x.rng.choice(("mean", "sum", "none")))))
    for name in regularization.REGULARIZERS:
        cases.append((name, lambda x, name=name: regularization.REGULARIZERS[name](
            x.displacement(), **({} if name == "folding_penalty" else {"spacing": x.spacing()}))))
    return cases


CASES = _cases()
CALLS_PER_CASE = 16


class _TooSlow(Exception):
    pass


def _alarm(signum, frame):
    raise _TooSlow()


def _outputs(result):
    """The tensors in a result (a tensor, a tuple/NamedTuple of them)."""
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, tuple):
        return [r for r in result if isinstance(r, torch.Tensor)]
    return []


@pytest.mark.parametrize("name, call", CASES, ids=[name for name, _ in CASES])
def test_fuzz(name, call):
    rng = random.Random(f"issue-14-{name}")
    torch.manual_seed(rng.randrange(2**31))
    alarm = hasattr(signal, "setitimer")
    if alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for attempt in range(CALLS_PER_CASE):
            inputs = _Inputs(rng)
            start = time.perf_counter()
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_CALL)
            try:
                result = call(inputs)
            except (ValueError, TypeError) as error:
                assert str(error).startswith(f"{name}(): "), f"call {attempt}: {type(error).__name__}: {error}"
                continue
            except _TooSlow:
                pytest.fail(f"{name}(): call {attempt} took more than {SECONDS_PER_CALL} s")
            finally:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            assert time.perf_counter() - start < SECONDS_PER_CALL, f"{name}(): call {attempt} too slow"
            if not inputs.non_finite:
                for output in _outputs(result):
                    if output.is_floating_point():
                        assert not output.isnan().any(), f"{name}(): NaN from finite inputs (call {attempt})"
    finally:
        if alarm:
            signal.signal(signal.SIGALRM, previous)
