"""Running one submission: a fresh, isolated kernel; the student's cells, then the answers to the grader's cases.

The student's cells run first (checker cells removed, a time limit per cell and for the notebook, output capped,
a watchdog for a kernel that ignores the interrupt); then one grading cell per exercise calls
:func:`reglab.course.grading.answers.answer` with the exercise's inputs, and the kernel displays the student's
answers as plain data (:data:`MIME`). Expected values and hidden tests never enter the kernel: the grader compares
in its own process (:mod:`~reglab.course.grading.cases`).

The kernel runs inside what :mod:`~reglab.course.grading.sandbox` found working (a private user, bubblewrap,
a cgroup), talks to the grader over Unix sockets in a folder of its own, and after the notebook the kernel is
shut down, its process group, cgroup and private user are killed, children reaped and the folder removed (how the
kernel is started and stopped: :mod:`~reglab.course.grading.launch`).
"""

import json
import math
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from reglab.course.grading import sandbox
from reglab.course.grading._common import _nbgrader, _source
from reglab.course.grading.answers import MIME
from reglab.course.grading.launch import _environment, _launcher, _shutdown


@dataclass(frozen=True)
class Limits:
    """What one submission may use.

    Attributes:
        cell: seconds per cell (and per exercise's answers).
        notebook: seconds for all the student's cells together.
        memory: megabytes of memory: address space of each kernel process, and (with a cgroup) the whole tree.
        output: megabytes of output kept from the student's cells (more is cut and the cell interrupted).
        disk: megabytes the kernel may write (its tmpfs with bubblewrap, else per file).
        processes: processes and threads of the kernel together (cgroup or the private user's RLIMIT_NPROC).
        shm: megabytes of its private ``/dev/shm`` (bubblewrap).
    """

    cell: float = 60.0
    notebook: float = 600.0
    memory: int = 4096
    output: float = 10.0
    disk: int = 1024
    processes: int = 256
    shm: int = 64


MAX_ANSWERS = 256 * 1024 ** 2
"""Bytes of answers (all grading cells) the grader accepts from one kernel; more is dropped."""


def _is_check_cell(cell, exercises):
    keys = {e.key for e in exercises}
    sources = {e.check_source for e in exercises}
    return _nbgrader(cell).get("grade_id") in keys or _source(cell).strip() in sources


def _client_class():
    from nbclient import NotebookClient
    from nbclient.util import ensure_async

    from reglab.course.kernel import patient

    class Client(patient(NotebookClient)):
        """nbclient with a cap on the output and a record of the cells that timed out.

        It polls the kernel's shell and iopub channels in slices (:func:`reglab.course.kernel.patient`): a lost
        pyzmq wake-up would otherwise count as a whole cell timeout, which the grader reports as the
        student's cell timing out and interrupts.
        """

        def __init__(self, *args, max_output, student_cells, **kwargs):
            super().__init__(*args, **kwargs)
            self.max_output, self.student_cells = max_output, student_cells
            self.output_bytes, self.output_cut, self.timed_out, self.budgets = 0, None, set(), {}
            self.answer_bytes = 0
            self.current, self.interrupted = None, False

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            size = len(json.dumps(content, default=str))
            if cell_index > self.student_cells and MIME in content.get("data", {}):   # a grading cell's answers
                self.answer_bytes += size
                return super().output(outs, msg, display_id, cell_index) if self.answer_bytes <= MAX_ANSWERS \
                    else None
            self.output_bytes += size
            if self.output_bytes > self.max_output:
                if self.output_cut is None:
                    self.output_cut = cell_index
                elif cell_index == self.output_cut and not self.interrupted:   # still printing: stop the cell
                    import asyncio

                    self.interrupted = True
                    asyncio.ensure_future(ensure_async(self.km.interrupt_kernel()))
                return None
            return super().output(outs, msg, display_id, cell_index)

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out.add(self.current)
            return await super()._async_handle_timeout(timeout, cell)

    return Client


def _quiet_log():
    """nbclient logs each timeout as an error; the report says it, so keep the terminal for the progress bar."""
    import logging

    log = logging.getLogger("reglab.course.grading.kernel")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return log


def _responds(client, seconds=10):
    """True when the kernel runs a trivial cell within ``seconds`` (after an interrupt it should)."""
    import nbformat

    probe = nbformat.v4.new_code_cell("None")
    timeout, client.timeout, client.current = client.timeout, seconds, "probe"
    try:
        client.execute_cell(probe, 0)
    finally:
        client.timeout = timeout
    if "probe" in client.timed_out:
        client.timed_out.discard("probe")
        return False
    return True


def _execute(notebook, exercises, requests, *, folder, lib, warm, limits, isolation, uid, token):
    """Execute the student's cells, then one grading cell per exercise; return what happened.

    Args:
        notebook: the nbformat notebook (its cells are replaced by the ones run).
        exercises: the lab's exercises.
        requests: exercise key -> the request dict (:func:`reglab.course.grading.cases.request`).
        folder: this submission's private scratch folder (removed by the caller).
        lib: the private read-only copy of reglab.
        warm: matplotlib's font cache to copy in.
        isolation: :class:`reglab.course.grading.sandbox.Isolation`.
        uid: the private uid of this submission (when running as root).
        token: a random token the grading cells put in their results.
    """
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import DeadKernelError

    channel = folder / "ch"                                   # the connection file, the sockets, the audit log
    channel.mkdir(mode=0o700)
    home = Path("/grading") if isolation.bwrap else folder / "home"
    if not isolation.bwrap:
        home.mkdir(mode=0o700)
        (home / ".matplotlib").mkdir()
        for cache in Path(warm).glob("*.json"):
            shutil.copy(cache, home / ".matplotlib" / cache.name)
    if isolation.root:
        os.chmod(folder, 0o711)
        for path in [channel] + ([home, home / ".matplotlib", *(home / ".matplotlib").iterdir()]
                                 if not isolation.bwrap else []):
            os.chown(path, uid, uid)
    log = channel / "guard.log"
    grading_time = limits.cell * len(exercises) + max(limits.cell, 120)
    config = {"home": str(home), "work": str(home), "protected": [], "neighbours": [], "memory": limits.memory,
              "log": str(log), "readable": [], "cpu": int(limits.notebook + grading_time + 60)}
    cgroup = None
    if isolation.cgroup:
        try:
            cgroup = sandbox.Cgroup(isolation.cgroup, f"reglab-{folder.name}",
                                    memory=(limits.memory + limits.disk + limits.shm) * 1024 ** 2,
                                    pids=limits.processes)
        except OSError:
            cgroup = None
    env = _environment(home, lib, config)
    argv = _launcher(isolation, uid=uid, channel=channel, lib=lib, home=home, env=env, warm=warm, limits=limits,
                     cgroup=cgroup)
    specs = folder / "kernels"
    (specs / "reglab-grade").mkdir(parents=True)
    spec = {"argv": argv, "display_name": "reglab grade", "language": "python", "interrupt_mode": "message",
            "env": {}}
    (specs / "reglab-grade" / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    km = AsyncKernelManager(kernel_name="reglab-grade", transport="ipc", ip=str(channel / "k"),
                            connection_file=str(channel / "kernel.json"),
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)]))

    kept = [(number, cell) for number, cell in enumerate(notebook.cells, 1)
            if not (cell.cell_type == "code" and _is_check_cell(cell, exercises))]
    student_cells = [cell for _, cell in kept]
    for cell in student_cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    cells = list(student_cells) + [nbformat.v4.new_code_cell(
        "import json as _reglab_json\nfrom reglab.course.grading.answers import answer as _reglab_answer")]
    for exercise in exercises:
        text = json.dumps(requests[exercise.key], allow_nan=False)
        cells.append(nbformat.v4.new_code_cell(
            f"_reglab_answer({token!r}, {exercise.key!r}, {exercise.function!r}, {exercise.argument!r}, "
            f"_reglab_json.loads({text!r}))"))
    notebook.cells = cells
    first_grading = len(student_cells)

    client = _client_class()(notebook, km=km, timeout=int(limits.cell), allow_errors=True, interrupt_on_timeout=True,
                             error_on_timeout={"ename": "TimeoutError", "evalue": "cell timed out", "traceback": []},
                             record_timing=False, max_output=int(limits.output * 1024 ** 2),
                             student_cells=first_grading,
                             resources={"metadata": {"path": str(home if home.exists() else folder)}},
                             startup_timeout=120, log=_quiet_log())
    state = {"dead": None, "skipped": None, "killed": False, "numbers": [number for number, _ in kept],
             "left": 0, "limits": {}}
    deadline = None

    def kill():
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is not None and process.poll() is None:
            state["killed"] = True
            process.kill()

    try:
        with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            if isolation.root:                             # the sockets exist: the kernel may not add files here
                os.chown(channel, 0, 0)
                os.chmod(channel, 0o711)
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                budget = limits.cell if index != first_grading else max(limits.cell, 120)   # the prelude imports
                if index < first_grading:
                    deadline = deadline or time.monotonic() + limits.notebook    # the kernel has started: clock runs
                    budget = min(limits.cell, deadline - time.monotonic())
                    if budget <= 0:
                        state["skipped"] = state["skipped"] if state["skipped"] is not None else index
                        continue
                client.timeout = max(1, math.ceil(budget))
                client.current = index
                client.budgets[index] = client.timeout
                watchdog = threading.Timer(budget + 15, kill)   # a kernel that ignores the interrupt is stopped
                watchdog.start()
                try:
                    client.execute_cell(cell, index)
                    if index in client.timed_out and not _responds(client):
                        kill()                                   # it ignored the interrupt: stop it
                        state["dead"] = index
                        break
                except DeadKernelError:
                    state["dead"] = index
                    break
                finally:
                    watchdog.cancel()
    finally:
        state["left"], state["limits"] = _shutdown(client, km, cgroup, uid, isolation)
    try:
        with open(log, "rb") as stream:
            guard = stream.read(64 * 1024).decode("utf-8", "replace").splitlines()
    except OSError:
        guard = []
    return client, state, first_grading, guard
