"""Running one submission: a fresh kernel in a scratch folder, with time, memory and output limits.

The student's cells run first (checker cells removed, a time limit per cell and for the notebook, output capped,
a watchdog for a kernel that ignores the interrupt); then one grading cell per exercise calls the lab's visible
checker (``reglab/course/checks/labNN.py``, loaded fresh from its file) and the hidden tests on the student's
function and displays the result as :data:`MIME` output, read back by :mod:`reglab.course.grading.scoring`.
The kernel process itself is limited and watched by :mod:`reglab.course.grading.guard`.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from reglab.course.grading._common import _nbgrader, _source


MIME = "application/vnd.reglab.grade+json"
"""The MIME type of the results the grading cells display."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use.

    Attributes:
        cell: seconds per cell (and per exercise check).
        notebook: seconds for all the student's cells together.
        memory: megabytes of address space of the kernel process.
        output: megabytes of output kept from the student's cells (more is cut and the cell interrupted).
    """

    cell: float = 60.0
    notebook: float = 600.0
    memory: int = 4096
    output: float = 10.0


_GRADER = r'''
def _reglab_grader(visible_path, hidden_source):
    """Load fresh copies of the lab's checkers and the hidden tests; return the function that grades one exercise."""
    import contextlib, importlib.util, io, types
    from IPython.display import display

    spec = importlib.util.spec_from_file_location("_reglab_visible", visible_path)
    visible = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(visible)
    hidden = None
    if hidden_source:
        hidden = types.ModuleType("_reglab_hidden")
        exec(compile(hidden_source, "<hidden tests>", "exec"), hidden.__dict__)

    class Capped(io.StringIO):
        def write(self, text):
            return super().write(text[: max(0, 20000 - self.tell())])

    def run(module, checker, student):
        check = getattr(module, checker, None) if module is not None else None
        if check is None:
            return None
        with contextlib.redirect_stdout(Capped()), contextlib.redirect_stderr(Capped()):
            result = check(student)
        return {"passed": int(result.passed), "total": int(result.total), "implemented": bool(result.implemented),
                "messages": [str(line) for line in result.messages]}

    def grade(token, key, function, checker, argument):
        result = {"token": token, "key": key}
        namespace = get_ipython().user_ns
        if not callable(namespace.get(function)):
            result["status"] = "missing"
            result["defined"] = sorted(name for name, value in namespace.items() if not name.startswith("_")
                                       and isinstance(value, (types.FunctionType, type)))
        else:
            try:
                student = eval(argument or function, namespace)      # the function, or e.g. SpatialTransformer()
                result["visible"] = run(visible, checker, student)
                result["hidden"] = run(hidden, checker, student)
                result["status"] = "checked"
            except NotImplementedError:
                result["status"] = "checked"
                result["visible"] = {"passed": 0, "total": 1, "implemented": False, "messages": []}
                result["hidden"] = None
            except Exception as error:
                result["status"] = "error"
                result["error"] = f"{type(error).__name__}: {error}"[:300]
        display({"''' + MIME + r'''": result}, raw=True)

    return grade
'''


def _is_check_cell(cell, exercises):
    keys = {e.key for e in exercises}
    sources = {e.check_source for e in exercises}
    return _nbgrader(cell).get("grade_id") in keys or _source(cell).strip() in sources


def _client_class():
    from nbclient import NotebookClient
    from nbclient.util import ensure_async

    class Client(NotebookClient):
        """nbclient with a cap on the output and a record of the cells that timed out."""

        def __init__(self, *args, max_output, student_cells, **kwargs):
            super().__init__(*args, **kwargs)
            self.max_output, self.student_cells = max_output, student_cells
            self.output_bytes, self.output_cut, self.timed_out, self.budgets = 0, None, set(), {}
            self.current, self.interrupted = None, False

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            if MIME in content.get("data", {}):
                return super().output(outs, msg, display_id, cell_index)
            self.output_bytes += len(json.dumps(content, default=str))
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


def _environment(home, config):
    """The kernel's environment: CPU only, one thread, fixed hashing, caches and temporary files in ``home``."""
    package_parent = str(Path(__file__).resolve().parents[3])         # reglab importable from a plain checkout too
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)
    return {
        "REGLAB_GRADE": json.dumps(config), "CUDA_VISIBLE_DEVICES": "", "REGLAB_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
        "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": path, "MPLBACKEND": "agg",
        "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / "cache"), "MPLCONFIGDIR": str(home / "matplotlib"),
        "IPYTHONDIR": str(home / "ipython"),
    }


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


def _execute(notebook, exercises, *, home, work, limits, protected, neighbours, visible_path, hidden_source, token):
    """Execute the student's cells, then one grading cell per exercise; return what happened."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import DeadKernelError

    for folder in ("tmp", "cache", "matplotlib", "ipython", "kernels/reglab-grade"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    warm = home.parent / "matplotlib"
    for cache in warm.glob("*.json"):
        shutil.copy(cache, home / "matplotlib" / cache.name)
    log = home.parent / f"{home.name}.log"
    grading_time = limits.cell * len(exercises) + max(limits.cell, 120)
    config = {"home": str(home), "work": str(work), "protected": [str(p) for p in protected],
              "neighbours": sorted(neighbours), "memory": limits.memory, "log": str(log),
              "readable": sorted({str(Path(__file__).resolve().parents[2]), sys.prefix, sys.base_prefix,
                                  *[p for p in sys.path if p and Path(p).is_dir() and "site-packages" in p]}),
              "cpu": int(limits.notebook + grading_time + 60)}
    spec = {"argv": [sys.executable, "-c", "from reglab.course.grading.guard import _kernel_main; _kernel_main()",
                     "-f", "{connection_file}"],
            "display_name": "reglab grade", "language": "python", "env": _environment(home, config)}
    (home / "kernels" / "reglab-grade" / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    km = AsyncKernelManager(kernel_name="reglab-grade",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(home / "kernels")]))

    kept = [(number, cell) for number, cell in enumerate(notebook.cells, 1)
            if not (cell.cell_type == "code" and _is_check_cell(cell, exercises))]
    student_cells = [cell for _, cell in kept]
    for cell in student_cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    prelude = f"{_GRADER}\n_reglab_grade = _reglab_grader({str(visible_path)!r}, {hidden_source!r})"
    cells = list(student_cells) + [nbformat.v4.new_code_cell(prelude)]
    for exercise in exercises:
        call = (f"_reglab_grade({token!r}, {exercise.key!r}, {exercise.function!r}, {exercise.checker!r}, "
                f"{exercise.argument!r})")
        cells.append(nbformat.v4.new_code_cell(call))
    notebook.cells = cells
    first_grading = len(student_cells)

    client = _client_class()(notebook, km=km, timeout=int(limits.cell), allow_errors=True, interrupt_on_timeout=True,
                             error_on_timeout={"ename": "TimeoutError", "evalue": "cell timed out", "traceback": []},
                             record_timing=False, max_output=int(limits.output * 1024 ** 2),
                             student_cells=first_grading, resources={"metadata": {"path": str(work)}},
                             startup_timeout=120, log=_quiet_log())
    state = {"dead": None, "skipped": None, "killed": False, "numbers": [number for number, _ in kept]}
    deadline = None

    def kill():
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is not None and process.poll() is None:
            state["killed"] = True
            process.kill()

    with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            budget = limits.cell if index != first_grading else max(limits.cell, 120)   # the prelude imports
            if index < first_grading:
                deadline = deadline or time.monotonic() + limits.notebook    # the kernel has started: the clock runs
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
                    kill()                                   # it ignored the interrupt: stop it, grade what we have
                    state["dead"] = index
                    break
            except DeadKernelError:
                state["dead"] = index
                break
            finally:
                watchdog.cancel()
    guard = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    return client, state, first_grading, guard
