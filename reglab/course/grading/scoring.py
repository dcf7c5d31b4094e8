"""Instructor grading: a folder of submitted notebooks in, a score table and feedback out.

::

    reglab grade submissions/ --lab 01 --out grades/ --workers 2 --timeout 60
    python -m reglab.grading submissions/ --lab 01          # the same, without the ``reglab`` command

For every submitted notebook of lab ``NN`` (as students save it from JupyterLab or download it from Colab):

1. read it; invalid JSON, a file that is not a notebook, or the notebook of another lab gets a row with that
   reason and no kernel is started;
2. copy it into a scratch folder of its own and execute it there in a fresh kernel, on the CPU, with a time
   limit per cell and per notebook, a memory limit, a cap on the output, and an audit hook that blocks (and
   reports) network access, starting other programs, deleting or writing files outside the scratch folder,
   and reading the submissions folder, the output folder or the hidden tests;
3. after the student's cells, call the lab's visible checker (``reglab.checks.labNN``) and the hidden tests
   (``instructor/hidden/labNN.py``) on each exercise's function, found by the name the checker cell passes.

The exercises and their points come from the lab notebook's nbgrader metadata: a solution cell
(``grade_id``, ``solution: true``) followed by a checker cell (``grade_id``, ``grade: true``, ``points``) that
calls ``labNN.check_xxx(function)``. An exercise scores its points when every visible and hidden case passes
(``--partial-credit``: in proportion to the cases passed).

Output in ``--out``: ``scores.csv`` and ``scores.md`` (student × exercise: points, pass/fail, a one-line reason,
then a class summary: per exercise how many passed and the most common failure), ``feedback/<student>.md``
with the checker messages, and ``executed/<student>.ipynb`` (the executed copy, for a closer look).
Results do not depend on the order or the number of workers.

This is isolation by process, scratch folder and limits, **not a security sandbox**: code that is written to
escape (ctypes, reading memory, forking daemons) can. Grade on a machine and an account that hold nothing
the students should not see. See docs/instructors.md.
"""

import argparse
import ast
import csv
import difflib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

COURSE = Path(__file__).resolve().parents[3]                 # reglab/course/grading/ -> the checkout
"""The folder that holds ``labs/``, ``solutions/`` and ``instructor/`` when reglab is used from a checkout."""

MIME = "application/vnd.reglab.grade+json"
"""The MIME type of the results the grading cells display."""

ALLOWED_PROGRAMS = frozenset({"uname", "fc-list"})
"""Programs the kernel may start (``platform`` and matplotlib's font search call them); all others are blocked."""


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


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of a lab, read from the notebook's nbgrader metadata.

    Attributes:
        key: ``grade_id`` of the checker cell (``"ex1_2_check"``).
        number: the exercise's number from its banner (``"1.2"``), else the ``grade_id``.
        title: the banner's title (``"backward warping"``).
        function: the student's function the checker cell passes (``"warp"``).
        checker: the checker's name in ``reglab.checks.labNN`` (``"check_warp"``).
        points: the ``points`` of the checker cell.
        solution_id: ``grade_id`` of the solution cell (``"ex1_2"``).
        check_source: the source of the checker cell.
        argument: the expression the checker cell passes (``"warp"``, ``"SpatialTransformer()"``).
    """

    key: str
    number: str
    title: str
    function: str
    checker: str
    points: float
    solution_id: str = ""
    check_source: str = ""
    argument: str = ""


@dataclass
class Score:
    """The grade of one exercise of one submission.

    Attributes:
        points, max_points: points scored and possible.
        passed: every visible and hidden case passed.
        reason: one line (``"passed: 4 + 3 hidden cases"``, ``"timed out after 60 s: an endless loop?"``).
        kind: the failure's category for the class summary (``""`` when passed).
        messages: the checkers' lines, for the feedback file.
    """

    points: float
    max_points: float
    passed: bool
    reason: str
    kind: str = ""
    messages: list = field(default_factory=list)


@dataclass
class Report:
    """The grade of one submission.

    Attributes:
        student: the student's name (the file name, or its folder when the file has the lab's name).
        path: the submitted file, relative to the submissions folder.
        status: ``"graded"`` or why it was not (``"invalid JSON"``, ``"another lab"``, ...).
        notes: what went wrong while running it (exceptions, timeouts, blocked actions), one line each.
        scores: exercise key -> :class:`Score`.
    """

    student: str
    path: str
    status: str
    notes: list
    scores: dict

    @property
    def total(self):
        return round(sum(score.points for score in self.scores.values()), 2)


# ---------------------------------------------------------------- the lab: exercises from nbgrader metadata


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


_BANNER = re.compile(r"Exercise\s+(\d+(?:\.\d+)*)\s*[—–:-]+\s*(.+)")


def _checker_call(source):
    """``(checker, name, argument)`` of ``labNN.check_xxx(argument)`` in ``source``, else None.

    ``argument`` is the expression passed (``warp``, or ``SpatialTransformer()`` for a class), ``name`` the
    student's name it starts from.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and re.fullmatch(r"lab\d+", node.func.value.id)
                and node.args):
            names = [n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)]
            if names:
                return node.func.attr, names[0], ast.unparse(node.args[0])
    return None


def lab_exercises(notebook):
    """The graded exercises of a lab notebook (a dict as read from JSON), in notebook order.

    An exercise is a checker cell (nbgrader ``grade: true`` with ``points``) calling ``labNN.check_xxx(name)``;
    its solution cell is the nearest cell before it with nbgrader ``solution: true``, and its number and title
    come from the last ``Exercise N.M — title`` banner above it.

    Raises:
        ValueError: a checker cell whose call cannot be read.

    Example:
        >>> import json
        >>> lab = json.loads((COURSE / "solutions" / "01_transform_images.ipynb").read_text(encoding="utf-8"))
        >>> [(e.number, e.function, e.checker, e.points) for e in lab_exercises(lab)][:2]
        [('1.1', 'identity_grid', 'check_identity_grid', 1.0), ('1.2', 'warp', 'check_warp', 1.0)]
    """
    exercises, number, title, solution_id = [], "", "", ""
    for cell in notebook.get("cells", []):
        source, meta = _source(cell), _nbgrader(cell)
        if cell.get("cell_type") == "markdown":
            for match in _BANNER.finditer(source):
                number, title = match.group(1), match.group(2).strip().rstrip("#").strip()
            continue
        if meta.get("solution"):
            solution_id = meta.get("grade_id", "")
        if not (meta.get("grade") and "points" in meta):
            continue
        call = _checker_call(source)
        if call is None:
            raise ValueError(f"lab_exercises(): expected a checker call `labNN.check_xxx(function)` in the graded "
                             f"cell {meta.get('grade_id')!r}, got {source!r}")
        key = meta.get("grade_id") or f"exercise_{len(exercises) + 1}"
        checker, name, argument = call
        exercises.append(Exercise(key, number or key, title, name, checker, float(meta["points"]), solution_id,
                                  source.strip(), argument))
    return exercises


def notebook_lab(notebook):
    """The lab number a notebook belongs to (``"01"``), from its title or its checker calls; None if unknown.

    Example:
        >>> notebook_lab({"cells": [{"cell_type": "markdown", "source": "# Lab 02 — Models"}]})
        '02'
        >>> notebook_lab({"cells": [{"cell_type": "code", "source": "lab01.check_warp(warp)"}]})
        '01'
    """
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            match = re.search(r"^#\s*Lab\s+(\d+)", _source(cell), re.M)
            if match:
                return f"{int(match.group(1)):02d}"
    for cell in notebook.get("cells", []):
        match = re.search(r"\blab(\d+)\.check_\w+\(", _source(cell)) if cell.get("cell_type") == "code" else None
        if match:
            return f"{int(match.group(1)):02d}"
    return None


def find_lab(lab, course=COURSE):
    """The reference notebook of lab ``lab`` (``labs/NN_*.ipynb``, else ``solutions/NN_*.ipynb``).

    Raises:
        ValueError: no such lab in ``course``.

    Example:
        >>> find_lab(1).name
        '01_transform_images.ipynb'
    """
    number = f"{int(lab):02d}"
    for folder in ("labs", "solutions"):
        found = sorted((Path(course) / folder).glob(f"{number}_*.ipynb"))
        if found:
            return found[0]
    raise ValueError(f"find_lab(): expected a notebook labs/{number}_*.ipynb or solutions/{number}_*.ipynb in "
                     f"{course}, got none (pass --course to point at the course folder)")


def collect_submissions(submissions, lab_name=""):
    """``[(student, path)]`` of the notebooks in a folder (searched recursively), sorted by student.

    The student is the file's path without ``.ipynb``; a file named like the lab (``01_transform_images.ipynb``,
    nbgrader's ``submitted/<student>/<lab>/``) takes its folder's name instead. Checkpoints are skipped.
    """
    root = Path(submissions)
    if root.is_file():
        return [(root.stem, root)]
    if not root.is_dir():
        raise ValueError(f"collect_submissions(): expected a folder of notebooks or one notebook, got {root}")
    stem = Path(lab_name).stem
    found = []
    for path in sorted(root.rglob("*.ipynb")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        parts = list(relative.with_suffix("").parts)
        if len(parts) > 1 and parts[-1] == stem:
            parts.pop()
        found.append(("/".join(parts), path))
    names = Counter(student for student, _ in found)
    return sorted((student if names[student] == 1 else relative_name(path, root), path) for student, path in found)


def relative_name(path, root):
    """``path`` relative to ``root`` without ``.ipynb``, with ``/`` separators."""
    return Path(path).relative_to(root).with_suffix("").as_posix()


# ---------------------------------------------------------------- in the kernel: limits and the audit hook


class _Guard:
    """An audit hook (PEP 578) that blocks what a graded notebook must not do, and logs it.

    Not a sandbox: it sees the Python-level operations only.
    """

    def __init__(self, config, log):
        self.home = os.path.realpath(config["home"])
        self.work = os.path.realpath(config["work"])
        self.protected = [os.path.realpath(p) for p in config["protected"]]
        self.readable = [os.path.realpath(p) for p in config.get("readable", ())]   # Python and reglab itself
        self.neighbours = set(config["neighbours"])
        self.log = log
        self.busy = False
        self.handlers = {
            "open": self.open, "os.remove": self.delete, "os.rmdir": self.delete, "shutil.rmtree": self.delete,
            "os.rename": self.rename, "os.truncate": self.delete, "socket.connect": self.connect,
            "socket.sendto": self.connect, "socket.sendmsg": self.connect, "socket.getaddrinfo": self.lookup,
            "socket.gethostbyname": self.lookup, "socket.gethostbyaddr": self.lookup, "subprocess.Popen": self.popen,
            "os.posix_spawn": self.spawn, "os.system": self.program, "os.exec": self.program,
            "os.spawn": self.program, "pty.spawn": self.program,
        }

    def __call__(self, event, args):
        handler = self.handlers.get(event)
        if handler is None or self.busy:
            return
        self.busy = True
        try:
            problem = handler(args)
        finally:
            self.busy = False
        if problem:
            os.write(self.log, (problem.replace("\n", " ") + "\n").encode("utf-8", "replace"))
            raise PermissionError(f"reglab grade: {problem} (blocked while grading)")

    def _inside(self, path, folder):
        return path == folder or path.startswith(folder + os.sep)

    def _path(self, path):
        if isinstance(path, int) or path is None:
            return None
        return os.path.realpath(os.fsdecode(path))

    def open(self, args):
        path, mode, flags = (tuple(args) + (None, None))[:3]
        resolved = self._path(path)
        if resolved is None:
            return None
        if (any(self._inside(resolved, folder) for folder in self.protected)
                and not any(self._inside(resolved, folder) for folder in self.readable)):
            return f"reading {os.path.basename(resolved)} from the submissions or instructor's folders"
        writing = (any(c in mode for c in "wax+") if isinstance(mode, str)
                   else bool((flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)))
        if writing and not self._inside(resolved, self.home) and not resolved.startswith("/dev/"):
            return f"writing {resolved} outside its scratch folder"
        if (not writing and self._inside(resolved, self.work) and not os.path.exists(resolved)
                and os.path.basename(resolved) in self.neighbours):
            os.write(self.log, f"note: tried to read {os.path.basename(resolved)} from its folder\n".encode())
        return None

    def delete(self, args):
        resolved = self._path(args[0])
        if resolved is not None and not self._inside(resolved, self.home):
            return f"deleting {resolved}"
        return None

    def rename(self, args):
        return self.delete(args[:1]) or self.delete(args[1:2])

    def connect(self, args):
        return f"network access ({args[-1]})"

    def lookup(self, args):
        return f"network access ({args[0]})"

    def program(self, args):
        return f"running another program ({str(args[0])[:60]})"

    def popen(self, args):
        executable, argv = args[0], args[1]
        if not executable:
            executable = argv[0] if isinstance(argv, (list, tuple)) and argv else str(argv).split(" ")[0]
        return self.spawn((executable,))

    def spawn(self, args):
        name = os.path.basename(os.fsdecode(args[0]))
        return None if name in ALLOWED_PROGRAMS else f"running another program ({name[:60]})"


def _kernel_main():
    """Start an IPython kernel with the limits and the audit hook (the grading kernelspec runs this)."""
    import resource

    config = json.loads(os.environ.pop("REGLAB_GRADE"))
    memory, cpu = int(config["memory"]) * 1024 ** 2, int(config["cpu"])
    for limit, value in ((resource.RLIMIT_AS, (memory, memory)), (resource.RLIMIT_CPU, (cpu, cpu + 5)),
                         (resource.RLIMIT_FSIZE, (1024 ** 3, 1024 ** 3))):
        try:
            resource.setrlimit(limit, value)
        except (ValueError, OSError):     # macOS does not enforce RLIMIT_AS; the other limits still hold
            pass
    log = os.open(config["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    sys.addaudithook(_Guard(config, log))
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


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


# ---------------------------------------------------------------- executing one submission


def _sanitize(text, scratch):
    text = text.replace(str(scratch), "<scratch>")
    text = re.sub(r"0x[0-9a-fA-F]{6,}", "0x…", text)
    return re.sub(r"\s+", " ", text).strip()


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

    log = logging.getLogger("reglab.grading.kernel")
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
    spec = {"argv": [sys.executable, "-c", "from reglab.course.grading.scoring import _kernel_main; _kernel_main()",
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


# ---------------------------------------------------------------- turning results into scores


def _first_failure(messages):
    """``(reason, kind)`` of the first ✗ line of a check and its hint."""
    for i, line in enumerate(messages):
        if line.strip().startswith("✗"):
            problem = line.strip()[1:].strip()
            following = messages[i + 1].strip() if i + 1 < len(messages) else ""
            hint = following[1:].strip() if following.startswith("→") else ""
            kind = hint or re.sub(r"[-+]?\d[\d.eE+-]*", "N", problem.split(": ", 1)[-1])
            return (f"{problem} → {hint}" if hint else problem), kind
    return "", "wrong answer"


def _score(exercise, result, *, partial):
    """A :class:`Score` from the grading cell's result dict."""
    points = exercise.points
    status = result.get("status")
    if status == "missing":
        close = difflib.get_close_matches(exercise.function, result.get("defined", []), n=1, cutoff=0.5)
        found = f"; found `{close[0]}`" if close else ""
        return Score(0.0, points, False, f"function `{exercise.function}` is missing (renamed or deleted?{found})",
                     "function missing or renamed")
    if status == "error":
        return Score(0.0, points, False, f"the checker raised {result['error']}", "the checker raised an error")
    visible, hidden = result["visible"], result.get("hidden")
    if visible is None:                                  # the lab and its checker module disagree: tell the instructor
        return Score(0.0, points, False, f"not graded: the checker `{exercise.checker}` was not found",
                     "not graded")
    messages = list(visible["messages"])
    if hidden:
        messages += ["Hidden tests:"] + hidden["messages"][1:]
    if not visible["implemented"] or hidden and not hidden["implemented"]:
        return Score(0.0, points, False, "not implemented (the stub is still there)", "not implemented", messages)
    parts = [visible, hidden] if hidden else [visible]
    passed = sum(part["passed"] for part in parts)
    total = sum(part["total"] for part in parts)
    if passed == total:
        cases = f"{visible['total']} cases" + (f" + {hidden['total']} hidden" if hidden else "")
        return Score(points, points, True, f"passed: {cases}", "", messages)
    earned = round(points * passed / total, 2) if partial and total else 0.0
    where = visible if visible["passed"] < visible["total"] else hidden
    label = "" if where is visible else "hidden tests: "
    reason, kind = _first_failure(where["messages"])
    return Score(earned, points, False, f"{passed} of {total} cases passed; {label}{reason}", kind, messages)


def _grade_results(exercises, notebook, client, state, first_grading, guard, work, limits, *, token, partial):
    notes = []

    def where(index):
        if index >= first_grading:
            return "a grading cell"
        lines = notebook.cells[index].source.strip().splitlines() or [""]
        return f"cell {state['numbers'][index]} (`{_short(lines[0].strip(), 30)}`)"

    for index, cell in enumerate(notebook.cells[:first_grading]):
        if cell.cell_type != "code":
            continue
        if index in client.timed_out:
            notes.append(f"{where(index)} timed out after {client.budgets.get(index)} s (an endless loop?)")
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename, evalue = output.get("ename", ""), _sanitize(str(output.get("evalue", "")), work)
                if ename in ("MemoryError",) or "can't allocate memory" in evalue:
                    notes.append(f"{where(index)} ran out of memory (limit {limits.memory} MB)")
                else:
                    notes.append(_short(f"{where(index)} raised {ename}: {evalue}", 200))
                break
    if client.output_cut is not None:
        notes.append(f"output over {limits.output:g} MB, cut from {where(client.output_cut)} (huge output)")
    if state["skipped"] is not None:
        notes.append(f"notebook time limit ({limits.notebook:g} s) reached: cells from "
                     f"{state['numbers'][state['skipped']]} on were not run")
    blocked = [line for line in guard if not line.startswith("note: ")]
    for line in sorted(set(blocked), key=blocked.index)[:5]:
        notes.append("blocked: " + _sanitize(line, work))
    for line in sorted({line[len("note: "):] for line in guard if line.startswith("note: ")}):
        notes.append(line + " (not available while grading: only the notebook is copied)")
    if state["dead"] is not None:
        why = "stopped after ignoring the time limit" if state["killed"] else "died (memory limit or a crash?)"
        notes.append(f"the kernel {why} in {where(state['dead'])}")

    scores = {}
    for offset, exercise in enumerate(exercises):
        index = first_grading + 1 + offset
        cell = notebook.cells[index]
        result = None
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get(MIME)
            if data and data.get("token") == token and data.get("key") == exercise.key:
                result = data
        if result is not None:
            scores[exercise.key] = _score(exercise, result, partial=partial)
        elif index in client.timed_out:
            scores[exercise.key] = Score(0.0, exercise.points, False,
                                         f"timed out after {int(limits.cell)} s (an endless loop?)", "timed out")
        elif state["dead"] is not None and state["dead"] <= index:
            scores[exercise.key] = Score(0.0, exercise.points, False, "not graded: the kernel stopped",
                                         "the kernel stopped")
        else:
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            why = (f"{errors[0].get('ename')}: {_sanitize(str(errors[0].get('evalue', '')), work)}"[:150]
                   if errors else "no result")
            scores[exercise.key] = Score(0.0, exercise.points, False, f"not graded: {why}", "not graded")
    return notes, scores


def _failed_report(student, path, status, exercises, reason):
    scores = {e.key: Score(0.0, e.points, False, reason, status) for e in exercises}
    return Report(student, path, status, [reason], scores)


def grade_submission(path, exercises, *, lab, student=None, scratch=None, limits=Limits(), protected=(),
                     visible_path=None, hidden_source="", partial=False, executed=None, relative=None):
    """Grade one submitted notebook: read it, execute it in a scratch copy, check each exercise.

    Args:
        path: the submitted ``.ipynb``.
        exercises: the lab's :class:`Exercise` list (:func:`lab_exercises`).
        lab: the lab's number (``"01"``); a notebook of another lab is not run.
        student: the name in the table (default: the file's stem).
        scratch: a folder for the scratch copy (default: a temporary folder, removed afterwards).
        limits: :class:`Limits`.
        protected: folders the notebook may not read (the submissions, the output, the hidden tests).
        visible_path: the checker module (default: ``reglab/checks/labNN.py``).
        hidden_source: the source of the hidden tests module ("" for none).
        partial: score in proportion to the cases passed.
        executed: a path to save the executed notebook to (optional).

    Returns:
        A :class:`Report`; never raises for a bad submission.

    Example:
        >>> import tempfile
        >>> lab = json.loads(find_lab(1).read_text(encoding="utf-8"))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     bad = Path(folder) / "bob.ipynb"
        ...     _ = bad.write_text('{"cells": [', encoding="utf-8")
        ...     report = grade_submission(bad, lab_exercises(lab), lab="01")
        >>> report.status, report.total, report.notes
        ('invalid JSON', 0.0, ['invalid JSON: Expecting value: line 1 column 12 (char 11)'])
    """
    import nbformat

    path = Path(path)
    student = student or path.stem
    relative = relative or path.name
    lab = f"{int(lab):02d}"
    try:
        data = path.read_bytes()
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return _failed_report(student, relative, "invalid JSON", exercises, f"invalid JSON: {error}")
    except OSError as error:
        return _failed_report(student, relative, "unreadable", exercises, f"unreadable: {error.strerror}")
    try:
        with warnings.catch_warnings():                    # old notebooks have no cell ids: fine for grading
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
            raise ValueError("no list of cells")
    except Exception as error:  # nbformat raises several kinds for a JSON file that is not a notebook
        reason = _sanitize(str(error), "")[:120]
        return _failed_report(student, relative, "not a notebook", exercises, f"not a Jupyter notebook: {reason}")
    found = notebook_lab(notebook)
    if found is not None and found != lab:
        return _failed_report(student, relative, "another lab", exercises,
                              f"another lab's notebook: this is Lab {found}, expected Lab {lab}")

    visible_path = visible_path or Path(__file__).resolve().parents[1] / "checks" / f"lab{lab}.py"
    owned = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="reglab-grade-")) if owned else Path(scratch)
    home = Path(tempfile.mkdtemp(prefix=re.sub(r"[^\w.-]", "_", student)[:40] + "-", dir=scratch))
    work = home / "work"
    work.mkdir(parents=True, exist_ok=True)
    (work / path.name).write_bytes(data)
    neighbours = {p.name for p in path.parent.iterdir() if p.name != path.name} if path.parent.is_dir() else set()
    token = uuid.uuid4().hex                                  # results are read only from our grading cells
    try:
        client, state, first_grading, guard = _execute(
            notebook, exercises, home=home, work=work, limits=limits,
            protected=[*protected, path.parent] if path.parent.resolve() != work.resolve() else list(protected),
            neighbours=neighbours, visible_path=visible_path, hidden_source=hidden_source, token=token)
        notes, scores = _grade_results(exercises, notebook, client, state, first_grading, guard, home, limits,
                                       token=token, partial=partial)
        if executed is not None:
            Path(executed).parent.mkdir(parents=True, exist_ok=True)
            notebook.cells = notebook.cells[:first_grading]
            nbformat.write(notebook, str(executed))
        return Report(student, relative, "graded", notes, scores)
    except Exception as error:  # the grader must go on with the next submission whatever happened here
        reason = _sanitize(f"could not run the notebook: {type(error).__name__}: {error}", home)[:200]
        return _failed_report(student, relative, "not run", exercises, reason)
    finally:
        if owned:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------- the class: parallel grading and the tables


def _warm_matplotlib(scratch):
    """Build matplotlib's font cache once, so that each kernel copies it instead of searching fonts."""
    env = dict(os.environ, MPLCONFIGDIR=str(scratch / "matplotlib"), MPLBACKEND="agg")
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)


def _grade_one(job):
    return grade_submission(**job)


def grade(submissions, *, lab, out, workers=1, limits=Limits(), course=COURSE, hidden=None, partial=False,
          progress=True):
    """Grade every notebook in ``submissions`` and write the tables and the feedback to ``out``.

    Args:
        submissions: a folder of ``.ipynb`` (searched recursively) or one notebook.
        lab: the lab's number.
        out: the output folder (created).
        workers: submissions graded at the same time (each uses one kernel process).
        limits: :class:`Limits`.
        course: the folder with ``labs/`` or ``solutions/``.
        hidden: the folder of hidden tests (default ``course/instructor/hidden``); ``labNN.py`` in it.
        partial: score in proportion to the cases passed.
        progress: show a tqdm progress bar.

    Returns:
        The list of :class:`Report`, sorted by student.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    lab = f"{int(lab):02d}"
    reference = find_lab(lab, course)
    exercises = lab_exercises(json.loads(reference.read_text(encoding="utf-8")))
    if not exercises:
        raise ValueError(f"grade(): expected graded exercises (nbgrader `points`) in {reference}, got none")
    hidden = Path(hidden) if hidden is not None else Path(course) / "instructor" / "hidden"
    hidden_file = hidden / f"lab{lab}.py"
    hidden_source = hidden_file.read_text(encoding="utf-8") if hidden_file.exists() else ""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(submissions)
    found = [(student, path) for student, path in collect_submissions(root, reference.name)
             if out.resolve() not in path.resolve().parents]           # an --out inside the folder is not graded
    protected = [p for p in (root if root.is_dir() else root.parent, out, hidden) if p.exists()]
    scratch = Path(tempfile.mkdtemp(prefix="reglab-grade-"))
    try:
        _warm_matplotlib(scratch)
        jobs = [dict(path=path, exercises=exercises, lab=lab, student=student, scratch=scratch, limits=limits,
                     protected=[str(p.resolve()) for p in protected], hidden_source=hidden_source, partial=partial,
                     executed=out / "executed" / f"{_file_name(student)}.ipynb",
                     relative=relative_name(path, root) + ".ipynb" if root.is_dir() else path.name)
                for student, path in found]
        reports = []
        bar = tqdm(total=len(jobs), desc=f"grading lab {lab}", unit="notebook", disable=not progress)
        if workers <= 1:
            for job in jobs:
                reports.append(_grade_one(job))
                bar.update()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:     # the kernels are the processes
                for future in as_completed([pool.submit(_grade_one, job) for job in jobs]):
                    reports.append(future.result())
                    bar.update()
        bar.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    reports.sort(key=lambda report: report.student)
    write_tables(reports, exercises, out, lab=lab)
    return reports


def _file_name(student):
    return re.sub(r"[^\w.-]", "_", student.replace("/", "__"))


def _short(text, width=60):
    return text if len(text) <= width else text[: width - 1] + "…"


def class_summary(reports, exercises):
    """Per exercise: ``(exercise, passed, submissions, most common failure or "")``, deterministic.

    Example:
        >>> e = Exercise("ex1_1_check", "1.1", "grid", "identity_grid", "check_identity_grid", 1.0)
        >>> fail = lambda kind: Report("s", "s.ipynb", "graded", [], {e.key: Score(0, 1, False, kind, kind)})
        >>> [row[1:] for row in class_summary([fail("not implemented"), fail("timed out"), fail("timed out")], [e])]
        [(0, 3, 'timed out (2)')]
    """
    rows = []
    for exercise in exercises:
        scores = [report.scores[exercise.key] for report in reports]
        kinds = Counter(report.scores[exercise.key].kind for report in reports
                        if report.status == "graded" and not report.scores[exercise.key].passed)
        common = ""
        if kinds:
            kind, count = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))[0]
            common = f"{kind} ({count})"
        rows.append((exercise, sum(score.passed for score in scores), len(scores), common))
    return rows


def write_tables(reports, exercises, out, *, lab):
    """Write ``scores.csv``, ``scores.md`` and ``feedback/<student>.md`` in ``out``."""
    out = Path(out)
    maximum = sum(e.points for e in exercises)
    with open(out / "scores.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        header = ["student", "file", "status", "total", "max"]
        for e in exercises:
            header += [f"{e.number} points", f"{e.number} passed", f"{e.number} reason"]
        writer.writerow(header + ["notes"])
        for report in reports:
            row = [report.student, report.path, report.status, f"{report.total:g}", f"{maximum:g}"]
            for e in exercises:
                score = report.scores[e.key]
                row += [f"{score.points:g}", "yes" if score.passed else "no", score.reason]
            writer.writerow(row + ["; ".join(report.notes)])

    lines = [f"# Lab {lab} — scores", "", f"{len(reports)} submissions, {len(exercises)} exercises, "
             f"{maximum:g} points.", ""]
    lines.append("| student | total | " + " | ".join(f"{e.number} `{e.function}` ({e.points:g})" for e in exercises)
                 + " | notes |")
    lines.append("|---|---:|" + "---|" * len(exercises) + "---|")
    for report in reports:
        cells = []
        for e in exercises:
            score = report.scores[e.key]
            mark = "✓" if score.passed else "✗"
            if report.status != "graded":
                cells.append("–")
                continue
            cells.append(f"{score.points:g} {mark}" + ("" if score.passed else f" {_short(score.reason)}"))
        notes = _short("; ".join(report.notes), 80) if report.notes else ""
        lines.append(f"| {report.student} | {report.total:g} | " + " | ".join(c.replace("|", "\\|") for c in cells)
                     + " | " + notes.replace("|", "\\|") + " |")
    lines += ["", "## Class summary", "", "| exercise | passed | most common failure |", "|---|---:|---|"]
    for exercise, passed, total, common in class_summary(reports, exercises):
        common = common.replace("|", "\\|")
        lines.append(f"| {exercise.number} {exercise.title} | {passed} of {total} | {common} |")
    (out / "scores.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for report in reports:
        (feedback / f"{_file_name(report.student)}.md").write_text(feedback_text(report, exercises, lab=lab),
                                                                   encoding="utf-8")


def feedback_text(report, exercises, *, lab):
    """The Markdown feedback of one student: total, what went wrong while running, each exercise's messages.

    Example:
        >>> e = Exercise("ex1_1_check", "1.1", "the identity grid", "identity_grid", "check_identity_grid", 1.0)
        >>> score = Score(1.0, 1.0, True, "passed: 5 cases", "", ["  ✓ 2D"])
        >>> r = Report("ana", "ana.ipynb", "graded", [], {e.key: score})
        >>> print(feedback_text(r, [e], lab="01"))
        # Lab 01 — feedback for ana
        <BLANKLINE>
        **1 of 1 points.**
        <BLANKLINE>
        ## Exercise 1.1 — the identity grid: 1 of 1 ✓
        <BLANKLINE>
        passed: 5 cases
        <BLANKLINE>
        ```
          ✓ 2D
        ```
        <BLANKLINE>
    """
    maximum = sum(e.points for e in exercises)
    lines = [f"# Lab {lab} — feedback for {report.student}", "", f"**{report.total:g} of {maximum:g} points.**", ""]
    if report.notes:
        lines += ["While running your notebook:", ""] + [f"- {note}" for note in report.notes] + [""]
    for e in exercises:
        score = report.scores[e.key]
        lines += [f"## Exercise {e.number} — {e.title}: {score.points:g} of {score.max_points:g} "
                  f"{'✓' if score.passed else '✗'}", "", score.reason, ""]
        if score.messages:
            lines += ["```"] + [str(line) for line in score.messages] + ["```", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def add_grade_parser(subparsers):
    """Add the ``grade`` subcommand to an argparse ``subparsers`` object; it sets ``handler`` to run it (the convention of :mod:`reglab.cli`).

    Example:
        >>> parser = argparse.ArgumentParser(prog="reglab")
        >>> _ = add_grade_parser(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["grade", "submitted/", "--lab", "1", "--workers", "2"])
        >>> args.lab, args.workers, args.timeout, args.handler.__name__
        ('01', 2, 60.0, 'run_grade')
    """
    parser = subparsers.add_parser(
        "grade", help="grade a folder of submitted notebooks of one lab",
        description="Execute each submitted notebook in a fresh kernel (a scratch copy, time and memory limits), "
                    "score it with the lab's checkers and hidden tests, write scores.csv, scores.md and "
                    "feedback/. Isolation by process and limits, not a security sandbox.")
    add_grade_arguments(parser)
    return parser


def add_grade_arguments(parser):
    """The ``grade`` options, on any argparse parser."""
    parser.add_argument("submissions", help="folder of submitted .ipynb (searched recursively), or one notebook")
    parser.add_argument("--lab", required=True, type=lambda text: f"{int(text):02d}", help="lab number, e.g. 01")
    parser.add_argument("--out", default=None, help="output folder (default: grades-labNN)")
    parser.add_argument("--workers", type=int, default=1, help="notebooks graded in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per cell and per check (default 60)")
    parser.add_argument("--notebook-timeout", type=float, default=None,
                        help="seconds for all the student's cells (default 10 × --timeout)")
    parser.add_argument("--memory", type=int, default=4096, help="memory limit of a kernel in MB (default 4096)")
    parser.add_argument("--max-output", type=float, default=10.0, help="MB of output kept per notebook (default 10)")
    parser.add_argument("--course", default=str(COURSE), help="folder holding labs/ and solutions/")
    parser.add_argument("--hidden", default=None, help="folder of hidden tests (default COURSE/instructor/hidden)")
    parser.add_argument("--partial-credit", action="store_true", help="points in proportion to the cases passed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_grade)


def run_grade(args):
    """Run the ``grade`` subcommand from parsed arguments; returns the exit status."""
    limits = Limits(cell=args.timeout, notebook=args.notebook_timeout or 10 * args.timeout, memory=args.memory,
                    output=args.max_output)
    out = Path(args.out or f"grades-lab{args.lab}")
    try:
        reports = grade(args.submissions, lab=args.lab, out=out, workers=args.workers, limits=limits,
                        course=Path(args.course), hidden=args.hidden, partial=args.partial_credit,
                        progress=not args.quiet)
    except ValueError as error:
        print(f"reglab grade: {error}", file=sys.stderr)
        return 2
    graded = sum(report.status == "graded" for report in reports)
    print(f"graded {graded} of {len(reports)} submissions of lab {args.lab}; wrote {out / 'scores.csv'}, "
          f"{out / 'scores.md'} and {out / 'feedback'}/")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m reglab.grading", description=__doc__.split("\n\n")[0])
    add_grade_arguments(parser)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
