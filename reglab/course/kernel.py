"""Headless notebook execution that never waits a whole cell timeout for a reply that has already arrived.

The symptom: executing a lab with nbclient, the cell after a widget cell sometimes starts exactly
``timeout`` seconds (600 s) after the widget cell *started*, although the kernel answered within a second: the
widget cell's ``shell.execute_reply`` is stamped by the kernel 1 s after its start, and the next cell's
``iopub.execute_input`` 600 s after. The kernel was idle; the client was waiting. nbclient waits for the reply
with one ``await kc.shell_channel.get_msg(timeout=600)``; jupyter_client polls the shell socket once through
pyzmq's asyncio poller, which wakes up on the socket's edge-triggered file descriptor. When that wake-up is lost
(a burst of widget comm messages on the same loop, a loaded machine), the poller only looks again when the
timeout fires, finds the reply then (its final ``poll(0)``) and returns it as if nothing happened: no error,
just ten lost minutes. Reproduced on this project's 2-core machine under load: Lab 00 stalled 599 s after its
slider cell.

The remedy does not depend on the notebook: wait for the reply in short slices, each its own poll, so that a lost
wake-up costs at most one slice (:data:`POLL_INTERVAL`). :func:`patient` applies it to an nbclient
``NotebookClient`` class, on the shell channel (the reply) and the iopub channel (the outputs and the idle status,
which nbclient waits for with no timeout at all, then gives up after ``iopub_timeout``). Every headless run of a
notebook uses it: ``python -m reglab.course execute``, the grader (:mod:`reglab.course.grading.execute`) and the
student-lab test (``tests/course/test_build.py``).

nbval needs no remedy: it talks to its kernel through jupyter_client's *blocking* client, whose
``get_msg(timeout)`` is one synchronous ``zmq_poll``. libzmq's own poll reads the socket's pending events before
and after it sleeps on the descriptor, so an edge it slept through is still seen; only pyzmq's asyncio poller, which
waits on the descriptor alone, can lose it (``tests/course/test_execution_times.py`` checks that nbval's client is
the blocking one).
"""

from queue import Empty
from time import monotonic

POLL_INTERVAL = 0.25
"""Seconds between two polls of the shell channel: the longest a lost wake-up can delay a cell."""


def sliced(get_msg, interval=POLL_INTERVAL):
    """Wrap an async ``get_msg(timeout=None)`` so that it polls every ``interval`` seconds until its timeout.

    Args:
        get_msg: a channel's coroutine function ``get_msg(timeout=None)`` that raises ``queue.Empty`` on timeout.
        interval: seconds per poll (> 0).

    Returns:
        A coroutine function with the same contract: the message, or ``queue.Empty`` once ``timeout`` has passed
        (``timeout=None`` waits for ever, one slice at a time).

    Raises:
        ValueError: ``interval`` is not positive.

    Example:
        >>> import asyncio
        >>> async def never(timeout=None):
        ...     raise Empty
        >>> try:
        ...     asyncio.run(sliced(never, 0.01)(timeout=0.05))
        ... except Empty:
        ...     print("Empty after the timeout")
        Empty after the timeout
    """
    if not interval > 0:
        raise ValueError(f"sliced(): expected a positive `interval` in seconds, got {interval!r}.")

    async def get_msg_sliced(timeout=None):
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            step = interval if deadline is None else max(0.0, min(interval, deadline - monotonic()))
            try:
                return await get_msg(timeout=step)
            except Empty:
                if deadline is not None and monotonic() >= deadline:
                    raise

    return get_msg_sliced


def patient(client_class, interval=POLL_INTERVAL):
    """A subclass of nbclient's ``NotebookClient`` (or of ``client_class``) that polls its kernel in slices.

    The kernel client's shell and iopub channels get :func:`sliced` ``get_msg`` methods, whichever way the client
    starts: ``execute()`` (nbclient's async path) or ``setup_kernel()`` (its sync path, which the grader uses; nbclient
    binds that one to the base class's coroutine, so it is rebound here).

    Args:
        client_class: ``nbclient.NotebookClient`` or a subclass of it.
        interval: seconds per poll (> 0).

    Returns:
        The subclass ``Patient<name of client_class>``.

    Example:
        >>> from nbclient import NotebookClient                 # doctest: +SKIP
        >>> patient(NotebookClient)(notebook, timeout=600).execute()   # doctest: +SKIP
    """
    from nbclient.util import run_sync

    class PatientNotebookClient(client_class):
        async def async_start_new_kernel_client(self):
            kernel_client = await super().async_start_new_kernel_client()
            for channel in (kernel_client.shell_channel, kernel_client.iopub_channel):
                channel.get_msg = sliced(channel.get_msg, interval)
            return kernel_client

        start_new_kernel_client = run_sync(async_start_new_kernel_client)

    PatientNotebookClient.__name__ = PatientNotebookClient.__qualname__ = f"Patient{client_class.__name__}"
    return PatientNotebookClient
