"""No committed solution waited on anything between two cells, and the remedy for the lost wake-up works.

nbclient records, for every code cell, when the kernel started it (``iopub.execute_input``) and when it went
idle (``iopub.status.idle``). Between one cell's end and the next cell's start nothing runs: a gap there is time
the executing client spent waiting for a reply that had already come (issue 18: 600 s after a widget cell in
Labs 00, 01 and 04). See :mod:`reglab.course.kernel`.
"""

import asyncio
import json
from datetime import datetime
from pathlib import Path
from queue import Empty
from time import monotonic

import pytest

from reglab.course.kernel import patient, sliced

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
MAX_GAP_S = 5.0
"""Seconds allowed between one cell's idle and the next cell's start (the client's own work is milliseconds)."""


def _time(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def gaps(notebook):
    """``[(cell index, seconds waited before it)]`` for every executed code cell after the first."""
    found, previous = [], None
    for index, cell in enumerate(notebook["cells"]):
        execution = cell.get("metadata", {}).get("execution")
        if cell["cell_type"] != "code" or not execution or "iopub.execute_input" not in execution:
            continue
        if previous is not None:
            found.append((index, (_time(execution["iopub.execute_input"]) - previous).total_seconds()))
        previous = _time(execution["iopub.status.idle"])
    return found


def test_the_solutions_carry_execution_times():
    assert SOLUTIONS
    for path in SOLUTIONS:
        assert gaps(json.loads(path.read_text(encoding="utf-8"))), f"{path.name} has no execution metadata"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_no_cell_waited_before_it_started(path):
    waits = [(i, round(s, 1)) for i, s in gaps(json.loads(path.read_text(encoding="utf-8"))) if s > MAX_GAP_S]
    assert not waits, f"{path.name}: (cell, seconds waited before it) {waits}; re-execute it with `python -m reglab.course execute`"


def test_gaps_finds_a_stall():
    cell = lambda start, end: {"cell_type": "code", "metadata": {"execution": {
        "iopub.execute_input": f"2026-01-01T00:{start}Z", "iopub.status.idle": f"2026-01-01T00:{end}Z"}}}
    notebook = {"cells": [cell("00:00.0", "00:01.0"), {"cell_type": "markdown", "metadata": {}},
                          cell("10:01.0", "10:02.0")]}
    assert gaps(notebook) == [(2, 600.0)]


class LostWakeUp:
    """A channel that loses the wake-up, like pyzmq's poller: a message that arrives while a poll waits is only seen
    when that poll's timeout fires (its final ``poll(0)``); a poll that starts after it arrived sees it at once."""

    def __init__(self, arrives_after):
        self.arrival = monotonic() + arrives_after

    async def get_msg(self, timeout=None):
        if monotonic() >= self.arrival:
            return {"msg_type": "execute_reply"}
        await asyncio.sleep(timeout)
        if monotonic() >= self.arrival:
            return {"msg_type": "execute_reply"}
        raise Empty


def test_a_lost_wake_up_waits_the_whole_timeout_without_slices():
    start = monotonic()
    reply = asyncio.run(LostWakeUp(0.05).get_msg(timeout=1.0))
    assert reply["msg_type"] == "execute_reply" and monotonic() - start >= 1.0


def test_sliced_polling_gets_the_reply_within_one_slice():
    start = monotonic()
    reply = asyncio.run(sliced(LostWakeUp(0.05).get_msg, 0.1)(timeout=600))
    assert reply["msg_type"] == "execute_reply" and monotonic() - start < 0.5


def test_sliced_polling_still_times_out():
    start = monotonic()
    with pytest.raises(Empty):
        asyncio.run(sliced(LostWakeUp(60).get_msg, 0.05)(timeout=0.2))
    assert 0.2 <= monotonic() - start < 0.5
    with pytest.raises(ValueError, match=r"sliced\(\): expected a positive `interval`"):
        sliced(LostWakeUp(0).get_msg, 0)


def test_patient_client_slices_its_shell_and_iopub_channels_on_both_paths():
    """nbclient's async path (``execute``) and its sync path (``setup_kernel``, bound to the base class's coroutine)."""
    nbclient = pytest.importorskip("nbclient")
    from nbclient.util import run_sync

    class Channel:
        async def get_msg(self, timeout=None):
            raise Empty

    class KernelClient:
        def __init__(self):
            self.shell_channel, self.iopub_channel, self.stdin_channel = Channel(), Channel(), Channel()

    class Base:                                         # nbclient's layout: the sync method wraps the base coroutine
        async def async_start_new_kernel_client(self):
            return KernelClient()

        start_new_kernel_client = run_sync(async_start_new_kernel_client)

    for kernel_client in (asyncio.run(patient(Base)().async_start_new_kernel_client()),
                          patient(Base)().start_new_kernel_client()):
        assert kernel_client.shell_channel.get_msg.__name__ == "get_msg_sliced"
        assert kernel_client.iopub_channel.get_msg.__name__ == "get_msg_sliced"
        assert kernel_client.stdin_channel.get_msg.__name__ == "get_msg"
    assert issubclass(patient(nbclient.NotebookClient), nbclient.NotebookClient)


def test_a_patient_client_runs_a_notebook_with_sliced_channels_through_setup_kernel(tmp_path):
    """The grader's way (``setup_kernel`` then ``execute_cell``) with a real kernel: sliced, and the outputs arrive."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(0.3); print(6 * 7)")])
    client = patient(nbclient.NotebookClient, 0.05)(notebook, timeout=60, kernel_name="python3",
                                                    resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        assert client.kc.shell_channel.get_msg.__name__ == "get_msg_sliced"
        assert client.kc.iopub_channel.get_msg.__name__ == "get_msg_sliced"
        client.execute_cell(notebook.cells[0], 0)
    assert [o.get("text") for o in notebook.cells[0].outputs] == ["42\n"]


def test_nbval_waits_with_jupyter_clients_blocking_poll():
    """nbval's kernel client is jupyter_client's blocking one: ``get_msg`` is a synchronous ``zmq_poll`` (libzmq reads
    the pending events itself, no asyncio reader on the edge-triggered descriptor), so it cannot lose the wake-up
    and needs no :func:`patient`. Should nbval move to an async client, this fails and the remedy must follow."""
    pytest.importorskip("nbval")
    zmq = pytest.importorskip("zmq")
    import zmq.asyncio
    from jupyter_client.blocking.client import BlockingKernelClient
    from jupyter_client.channels import AsyncZMQSocketChannel, ZMQSocketChannel
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel

    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME)          # as nbval starts it under --nbval-current-env
    try:
        assert isinstance(kernel.kc, BlockingKernelClient)
        for channel in (kernel.kc.shell_channel, kernel.kc.iopub_channel):
            assert type(channel) is ZMQSocketChannel and not isinstance(channel, AsyncZMQSocketChannel)
            assert not isinstance(channel.socket, zmq.asyncio.Socket)
    finally:
        kernel.stop()


def test_a_blocking_poll_sees_a_message_that_arrives_while_it_waits():
    """The property nbval relies on: a synchronous poll returns as soon as a message arrives, not at its timeout."""
    zmq = pytest.importorskip("zmq")
    import threading

    context = zmq.Context()
    receiver, sender = context.socket(zmq.PAIR), context.socket(zmq.PAIR)
    try:
        receiver.bind("inproc://reply")
        sender.connect("inproc://reply")
        for _ in range(5):                                  # several rounds: each message comes while poll sleeps
            timer = threading.Timer(0.05, sender.send, args=(b"execute_reply",))
            start = monotonic()
            timer.start()
            assert receiver.poll(10_000) and receiver.recv() == b"execute_reply"
            assert monotonic() - start < 1.0
            timer.join()
    finally:
        receiver.close(linger=0)
        sender.close(linger=0)
        context.term()
