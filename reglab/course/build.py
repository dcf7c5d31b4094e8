"""The course pipeline: solution notebooks → student notebooks.

``solutions/NN_topic.ipynb`` are the source, committed with their outputs.
Student versions are generated from them::

    python -m reglab.course build              # solutions/*.ipynb -> labs/*.ipynb
    python -m reglab.course check              # exit 1 when labs/ is out of date
    python -m reglab.course execute solutions/01_transform_images.ipynb   # run in place, keep outputs

``build`` replaces everything between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers, so nbgrader users can take the
notebooks as they are) by a stub with the same indentation::

    # YOUR CODE HERE
    raise NotImplementedError()

It also clears outputs and execution counts, rewrites the Colab badge to point
at the lab, and keeps the cell metadata (nbgrader's ``grade_id`` and ``points``).

How a notebook is laid out (the tests check it):

1. a title cell ``# Lab NN — Topic`` with the "Open in Colab" badge (:func:`colab_url`) and the goals;
2. the setup cell :data:`SETUP_CELL`, the same in every notebook;
3. sections with one idea per cell; each exercise is a markdown banner
   ``### Exercise N.M — ...`` with its contract, a code cell that defines the
   student's function around the solution markers, and a cell that calls its
   checker from ``reglab.course.checks.labNN``. Later cells use reglab's own functions.
"""

import argparse
import json
import re
import sys
from pathlib import Path

REPOSITORY = "reglab-course/reglab"
"""GitHub ``owner/name`` that the Colab badges and the setup cell point at: the one place to change."""

BRANCH = "main"

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]

SETUP_CELL = f"""# Setup: works locally and in Colab. Installs reglab when it is missing and picks the GPU when there is one.
REGLAB_SOURCE = "git+https://github.com/{REPOSITORY}@{BRANCH}"  # the one place to change where reglab comes from
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
"""The first code cell of every notebook."""


def colab_url(folder, name):
    """The "Open in Colab" address of ``folder/name`` on the project's main branch."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{folder}/{name}"


def colab_badge(folder, name):
    """The Markdown of the "Open in Colab" badge for ``folder/name``."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(folder, name)})")


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def strip_solutions(source):
    """Replace each ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region by the indented stub.

    Raises:
        ValueError: unbalanced or nested markers.

    Example:
        >>> print(strip_solutions("def f(x):\\n    ### BEGIN SOLUTION\\n    return x\\n    ### END SOLUTION"))
        def f(x):
            # YOUR CODE HERE
            raise NotImplementedError()
    """
    lines, out, inside = source.split("\n"), [], False
    for number, line in enumerate(lines, 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"strip_solutions(): nested `{BEGIN}` on line {number}.")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in STUB)
        elif marker == END:
            if not inside:
                raise ValueError(f"strip_solutions(): `{END}` without `{BEGIN}` on line {number}.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"strip_solutions(): `{BEGIN}` is never closed by `{END}`.")
    return "\n".join(out)


def solution_regions(source):
    """The text of every solution region in ``source`` (markers excluded), for leak checks."""
    pattern = re.compile(rf"^[ \t]*{BEGIN}[ \t]*\n(.*?)^[ \t]*{END}", re.S | re.M)
    return pattern.findall(source)


def student_notebook(solution, name):
    """The student version (a notebook dict) of a solution notebook dict named ``name``."""
    notebook = json.loads(json.dumps(solution))                        # deep copy: never modify the input
    for cell in notebook["cells"]:
        source = _source(cell)
        if cell["cell_type"] == "code":
            source = strip_solutions(source)
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            source = source.replace(colab_url("solutions", name), colab_url("labs", name))
        cell["source"] = source.splitlines(keepends=True)
    notebook["metadata"].pop("widgets", None)
    return notebook


def _write_json(path, notebook):
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def build(root=Path("."), *, check=False):
    """Write (or, with ``check``, compare) ``labs/NN.ipynb`` for every ``solutions/NN.ipynb``.

    Returns:
        The list of lab paths that were (or would be) changed.
    """
    root = Path(root)
    (root / "labs").mkdir(exist_ok=True)
    changed = []
    for path in sorted((root / "solutions").glob("*.ipynb")):
        solution = json.loads(path.read_text(encoding="utf-8"))
        lab = student_notebook(solution, path.name)
        target = root / "labs" / path.name
        text = json.dumps(lab, indent=1, ensure_ascii=False) + "\n"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(target)
            if not check:
                _write_json(target, lab)
    return changed


def execute(path, *, timeout=600):
    """Execute a notebook in place with a fresh kernel (from the notebook's folder) and keep its outputs."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    temporary = path.with_name(f".{path.name}.tmp")
    nbformat.write(notebook, temporary)
    temporary.replace(path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m reglab.course", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="write labs/ from solutions/")
    sub.add_parser("check", help="exit 1 when labs/ is out of date")
    run = sub.add_parser("execute", help="execute notebooks in place, keeping outputs")
    run.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "execute":
        for notebook in args.notebooks:
            execute(notebook)
            print(f"executed {notebook}")
        return 0
    changed = build(check=args.command == "check")
    for path in changed:
        print(("out of date: " if args.command == "check" else "wrote ") + str(path))
    return 1 if changed and args.command == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
