"""The course pipeline: solution notebooks → student notebooks.

``solutions/NN_topic.ipynb`` are the source, committed with their outputs.
Student versions are generated from them::

    python -m reglab.course build              # solutions/*.ipynb -> labs/*.ipynb
    python -m reglab.course build --repository OWNER/NAME   # the same, for a course published at OWNER/NAME
    python -m reglab.course check              # exit 1 when labs/ (or a badge or setup cell) is out of date
    python -m reglab.course execute solutions/01_transform_images.ipynb   # run in place, keep outputs

``build`` replaces everything between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers, so nbgrader users can take the
notebooks as they are) by a stub with the same indentation::

    # YOUR CODE HERE
    raise NotImplementedError()

It also clears outputs and execution counts, removes what only the tests of the
solutions need (nbval's ``# NBVAL_...`` comment lines and ``nbval-...`` tags, the
execution times in ``metadata.execution``: :func:`strip_test_markers`), rewrites the
Colab badge to point at the lab, writes the generic kernel spec (:data:`KERNELSPEC`)
and keeps the other cell metadata (nbgrader's ``grade_id`` and ``points``). The markers and the
functions that strip them are in :mod:`reglab.course.markers`.

The course's home, :data:`REPOSITORY`, is named in this file only. ``build`` brings
every solution's badge and setup cell into line with it before it writes the labs;
``build --repository OWNER/NAME`` first rewrites :data:`REPOSITORY` itself (in the
checkout's ``reglab/course/build.py``), so a fork is published with one command.

How a notebook is laid out (the tests check it):

1. a title cell ``# Lab NN — Topic`` with the "Open in Colab" badge (:func:`colab_url`) and the goals;
2. the setup cell :data:`SETUP_CELL`, the same in every notebook;
3. sections with one idea per cell; each exercise is a markdown banner
   ``### Exercise N.M — ...`` with its contract, a code cell that defines the
   student's function around the solution markers, and a cell that calls its
   checker from ``reglab.course.checks.labNN``. Later cells use reglab's own functions.
"""

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

from reglab.console import tolerate_any_terminal
from reglab.course.markers import _source, strip_solutions, strip_test_markers

REPOSITORY = "reglab-course/reglab"  # PLACEHOLDER: not published yet; set with `build --repository OWNER/NAME`
"""GitHub ``owner/name`` that the Colab badges and the setup cell point at: the one place that names it.

A placeholder until the course is published there: the badges and the setup cell's ``%pip install`` work
once this repository exists (``python -m reglab.course build --repository OWNER/NAME`` for a fork)."""

BRANCH = "main"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
"""The notebooks' kernel: ipykernel's own spec, so that JupyterLab and Notebook 7 open a notebook unmodified."""


def setup_cell(repository=None):
    """The first code cell of every notebook, installing reglab from ``repository`` (default :data:`REPOSITORY`).

    It installs reglab only where it is missing (Colab, a fresh JupyterHub); pip keeps what the host already has
    (reglab asks for no Jupyter front end or kernel, and its ipywidgets range takes Colab's 7.x).
    """
    repository = repository or REPOSITORY
    return f"""# Setup: works locally and in Colab. Installs reglab only when it is missing; picks the GPU when there is one.
REGLAB_SOURCE = "git+https://github.com/{repository}@{BRANCH}"  # written by `python -m reglab.course build`
try:
    import reglab
except ImportError:
    %pip install --quiet {{REGLAB_SOURCE}}
    import reglab
%matplotlib inline
import torch
import matplotlib.pyplot as plt
device = reglab.default_device()
torch.manual_seed(0)
print(f"reglab {{reglab.__version__}}")"""


SETUP_CELL = setup_cell()
"""The first code cell of every notebook, for :data:`REPOSITORY`."""

_SETUP_FIRST_LINE = "# Setup: works locally and in Colab."
_COLAB_LINK = re.compile(r"\(https://colab\.research\.google\.com/github/[^)\s]+\)")


def colab_url(folder, name, repository=None):
    """The "Open in Colab" address of ``folder/name`` on the main branch of ``repository`` (:data:`REPOSITORY`)."""
    return f"https://colab.research.google.com/github/{repository or REPOSITORY}/blob/{BRANCH}/{folder}/{name}"


def colab_badge(folder, name, repository=None):
    """The Markdown of the "Open in Colab" badge for ``folder/name``."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(folder, name, repository)})")


def course_frame(notebook, folder, name, repository=None):
    """A copy of ``notebook`` whose Colab badge and setup cell point at ``repository`` (default :data:`REPOSITORY`).

    The badge is every Colab link in the title cell (it must point at ``folder/name``); the setup cell is the first
    code cell when it starts like :func:`setup_cell`. Nothing else changes, outputs included.
    """
    notebook = json.loads(json.dumps(notebook))                        # deep copy: never modify the input
    cells = notebook["cells"]
    if cells and cells[0]["cell_type"] == "markdown":
        title = _COLAB_LINK.sub(f"({colab_url(folder, name, repository)})", _source(cells[0]))
        cells[0]["source"] = title.splitlines(keepends=True)
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    if code and _source(code[0]).startswith(_SETUP_FIRST_LINE):
        code[0]["source"] = setup_cell(repository).splitlines(keepends=True)
    return notebook


def student_notebook(solution, name, repository=None):
    """The student version (a notebook dict) of a solution notebook dict named ``name``."""
    notebook = course_frame(solution, "labs", name, repository)        # a copy: never modify the input
    notebook["cells"] = [strip_test_markers(cell) for cell in notebook["cells"]]
    for cell in notebook["cells"]:
        source = _source(cell)
        if cell["cell_type"] == "code":
            source = strip_solutions(source)
            cell["outputs"] = []
            cell["execution_count"] = None
        cell["source"] = source.splitlines(keepends=True)
    notebook["metadata"].pop("widgets", None)
    notebook["metadata"]["kernelspec"] = dict(KERNELSPEC)
    return notebook


def _write_json(path, notebook, *, sort_keys=False):
    text = json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=sort_keys) + "\n"   # nbformat's layout
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _text(notebook):
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def set_repository(root, repository):
    """Rewrite :data:`REPOSITORY` in ``root/reglab/course/build.py`` (the checkout's copy) and in this process.

    Raises:
        ValueError: ``repository`` is not GitHub's ``OWNER/NAME``.
    """
    global REPOSITORY, SETUP_CELL
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository or ""):
        raise ValueError(f"set_repository(): expected GitHub's OWNER/NAME, got {repository!r}")
    source = Path(root) / "reglab" / "course" / "build.py"
    if source.exists():
        text = source.read_text(encoding="utf-8")
        line = re.compile(r'^REPOSITORY = "[^"]*"[^\n]*$', re.M)
        if len(line.findall(text)) != 1:
            raise ValueError(f"set_repository(): expected one `REPOSITORY = ...` line in {source}, got "
                             f"{len(line.findall(text))}")
        source.write_text(line.sub(lambda _: f'REPOSITORY = "{repository}"  # set by `build --repository`', text),
                          encoding="utf-8")
    REPOSITORY, SETUP_CELL = repository, setup_cell(repository)


def build(root=Path("."), *, check=False, repository=None):
    """Write (or, with ``check``, compare) ``labs/NN.ipynb`` for every ``solutions/NN.ipynb``.

    Each solution's badge and setup cell are first brought into line with ``repository`` (default
    :data:`REPOSITORY`; see :func:`course_frame`), in place and keeping its outputs; then its lab is written.

    Returns:
        The list of paths (solutions and labs) that were (or would be) changed.
    """
    root = Path(root)
    (root / "labs").mkdir(exist_ok=True)
    changed = []
    for path in sorted((root / "solutions").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        solution = course_frame(json.loads(text), "solutions", path.name, repository)
        if json.loads(text) != solution:
            changed.append(path)
            if not check:
                _write_json(path, solution, sort_keys=True)
        lab = student_notebook(solution, path.name, repository)
        target = root / "labs" / path.name
        if not target.exists() or target.read_text(encoding="utf-8") != _text(lab):
            changed.append(target)
            if not check:
                _write_json(target, lab)
    return changed


GRADE_EXTRA = ("nbclient", "nbformat", "ipykernel")
"""The modules of the ``grade`` extra: what executing notebooks (``execute``, ``reglab grade``) needs."""


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):                  # a finder that refuses it, a module without a spec
        return False


def require_grade_extra(caller):
    """Check that the ``grade`` extra (:data:`GRADE_EXTRA`) is installed; say how to install it when it is not.

    Raises:
        ModuleNotFoundError: one line naming ``caller``, the missing modules and ``pip install "reglab[grade]"``.
    """
    missing = [name for name in GRADE_EXTRA if not _importable(name)]
    if missing:
        raise ModuleNotFoundError(f"{caller}(): expected nbclient, nbformat and ipykernel (instructors' tools), got "
                                  f"no {', '.join(missing)}; install them with: pip install \"reglab[grade]\"",
                                  name=missing[0])


def _grade_extra(caller):
    """nbformat and nbclient, which only instructors need (the ``grade`` extra)."""
    require_grade_extra(caller)
    import nbformat
    from nbclient import NotebookClient

    return nbformat, NotebookClient


def execute(path, *, timeout=600):
    """Execute a notebook in place with a fresh kernel (from the notebook's folder) and keep its outputs."""
    nbformat, NotebookClient = _grade_extra("execute")
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    from reglab.course.kernel import patient                        # polls for replies in slices

    patient(NotebookClient)(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    temporary = path.with_name(f".{path.name}.tmp")
    nbformat.write(notebook, temporary)
    temporary.replace(path)


def main(argv=None):
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(prog="python -m reglab.course", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="write labs/ from solutions/ (and align badges and setup cells)")
    build_parser.add_argument("--repository", metavar="OWNER/NAME",
                              help=f"the course's GitHub home for badges and setup cells (now {REPOSITORY})")
    sub.add_parser("check", help="exit 1 when labs/, a badge or a setup cell is out of date")
    run = sub.add_parser("execute", help="execute notebooks in place, keeping outputs")
    run.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "execute":
        for notebook in args.notebooks:
            execute(notebook)
            print(f"executed {notebook}")
        return 0
    if getattr(args, "repository", None):
        try:
            set_repository(Path("."), args.repository)
        except ValueError as error:
            parser.error(str(error))
        print(f"REPOSITORY = {REPOSITORY!r} (reglab/course/build.py)")
    changed = build(check=args.command == "check")
    for path in changed:
        print(("out of date: " if args.command == "check" else "wrote ") + str(path))
    return 1 if changed and args.command == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
