"""What one grading run prepares before the first kernel: a private copy of reglab, the cases, the isolation.

* :func:`private_reglab` copies the ``reglab`` package (its Python files only: no solutions, no hidden tests, no
  checkout around it) into the run's scratch folder, read-only for the kernels;
* :func:`digest` hashes the course files the scores depend on (the checkers and the hidden tests) so that the run
  can check at the end that no submission changed them;
* :class:`Run` holds all of it, with the cases and requests of every exercise
  (:mod:`~reglab.course.grading.cases`) and the private uid of each submission.
"""

import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from reglab.course.grading import cases as _cases
from reglab.course.grading import sandbox

PACKAGE = Path(__file__).resolve().parents[2]
"""This reglab's package folder (``.../reglab``)."""


def private_reglab(target):
    """Copy the ``reglab`` package (its files, no caches) into ``target/reglab``; return ``target``.

    Folders and files are made readable by everyone and writable by nobody but the grader.
    """
    target = Path(target)
    for source in PACKAGE.rglob("*"):
        relative = source.relative_to(PACKAGE)
        if (not source.is_file() or source.is_symlink() or source.suffix == ".pyc" or "__pycache__" in relative.parts
                or any(part.startswith(".") for part in relative.parts)):
            continue
        destination = target / "reglab" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        os.chmod(destination, 0o444)
    for folder in [target, *[p for p in target.rglob("*") if p.is_dir()]]:
        os.chmod(folder, 0o555)
    return target


def digest(paths):
    """``{path: sha256}`` of the files under ``paths`` (folders recursively; Python files only)."""
    found = {}
    for path in paths:
        path = Path(path)
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            if "__pycache__" in file.parts:
                continue
            found[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def _warm_matplotlib(folder):
    """Build matplotlib's font cache once, so that each kernel copies it instead of searching fonts."""
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MPLCONFIGDIR=str(folder), MPLBACKEND="agg")
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    for file in folder.glob("*.json"):
        os.chmod(file, 0o444)
    return folder


@dataclass
class Run:
    """Everything one grading run shares between its submissions.

    Attributes:
        lab: ``"01"``.
        scratch: the run's private scratch folder (0711; each submission gets a 0700 folder inside).
        lib: the private read-only copy of reglab the kernels import.
        warm: matplotlib's font cache.
        isolation: :class:`reglab.course.grading.sandbox.Isolation`.
        checks: exercise key -> ``[visible Check, hidden Check or None]``.
        requests: exercise key -> the plain-data request sent to the kernel.
    """

    lab: str
    scratch: Path
    lib: Path
    warm: Path
    isolation: sandbox.Isolation
    checks: dict
    requests: dict
    _uids: object = field(default=None, repr=False)
    _lock: object = field(default_factory=threading.Lock, repr=False)

    def next_uid(self):
        """A private uid no other submission of this run gets."""
        with self._lock:
            return self.isolation.base_uid + next(self._uids)

    def close(self):
        shutil.rmtree(self.scratch, ignore_errors=True)


def prepare(lab, exercises, *, hidden_source="", checks_folder=None, isolation=None):
    """A :class:`Run` for ``exercises`` of lab ``lab``: scratch, private reglab, cases and requests, isolation.

    Raises:
        ValueError: a checker the lab's notebook names that does not exist or does not call ``run_check``.
    """
    recorder, extra = _cases.checks(lab, checks_folder=checks_folder, hidden_source=hidden_source)
    checks, requests = {}, {}
    for exercise in exercises:
        found = recorder(exercise.checker)
        checks[exercise.key] = found
        requests[exercise.key] = _cases.request(found, _cases.forbid_paths(found, extra.get(exercise.checker, [])))
    isolation = isolation if isolation is not None else sandbox.detect()
    scratch = Path(tempfile.mkdtemp(prefix="reglab-grade-"))
    os.chmod(scratch, 0o711)
    lib = private_reglab(scratch / "lib")
    warm = _warm_matplotlib(scratch / "matplotlib")
    os.chmod(warm, 0o755)
    return Run(lab, scratch, lib, warm, isolation, checks, requests, itertools.count())
