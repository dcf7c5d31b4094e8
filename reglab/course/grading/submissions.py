"""The lab and the submissions: the graded exercises from a notebook's nbgrader metadata, the notebooks in a folder.

The exercises and their points come from the lab notebook's nbgrader metadata: a solution cell
(``grade_id``, ``solution: true``) followed by a checker cell (``grade_id``, ``grade: true``, ``points``) that
calls ``labNN.check_xxx(function)``. A submission is any ``.ipynb`` in the submissions folder, as students save
it from JupyterLab or download it from Colab (nbgrader's ``submitted/<student>/<lab>/`` too).
"""

import ast
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from reglab.course.grading._common import _nbgrader, _source


COURSE = Path(__file__).resolve().parents[3]                 # reglab/course/grading/ -> the checkout
"""The folder that holds ``labs/``, ``solutions/`` and ``instructor/`` when reglab is used from a checkout."""


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


def find_submissions(submissions, lab_name="", *, exclude=()):
    """``[(student, path, reason)]`` of every ``.ipynb`` in a folder (searched recursively, links not followed).

    ``reason`` is None for a file to grade, else why it is not graded: a hidden file or folder (a name starting
    with a dot, e.g. a Jupyter checkpoint) or a symbolic link. Every file gets an entry, so every file gets a row.
    The student is the file's path without ``.ipynb``; a file named like the lab (``01_transform_images.ipynb``,
    nbgrader's ``submitted/<student>/<lab>/``) takes its folder's name instead; names are unique.
    Folders in ``exclude`` (the output folder) are not searched.
    """
    root = Path(submissions)
    if root.is_file() and not root.is_symlink():
        return [(root.stem, root, None)]
    if not root.is_dir():
        raise ValueError(f"find_submissions(): expected a folder of notebooks or one notebook, got {root}")
    stem = Path(lab_name).stem
    excluded = {os.path.realpath(p) for p in exclude}
    found = []
    for folder, folders, files in os.walk(root, followlinks=False):
        folders[:] = sorted(f for f in folders if os.path.realpath(os.path.join(folder, f)) not in excluded)
        for name in sorted(files):
            if not name.lower().endswith(".ipynb"):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root)
            reason = None
            if path.is_symlink():
                reason = "skipped: a symbolic link, not a submitted file"
            elif any(part.startswith(".") for part in relative.parts):
                reason = "skipped: a hidden file or folder (the name starts with a dot, e.g. a checkpoint)"
            parts = list(relative.with_suffix("").parts)
            if len(parts) > 1 and parts[-1] == stem:
                parts.pop()
            found.append(("/".join(parts), path, reason))
    names = Counter(student for student, _, _ in found)
    return sorted((student if names[student] == 1 else relative.with_suffix("").as_posix(), path, reason)
                  for student, path, reason in found
                  for relative in [path.relative_to(root)])


def collect_submissions(submissions, lab_name=""):
    """``[(student, path)]`` of the notebooks to grade in a folder, sorted by student (see :func:`find_submissions`)."""
    return [(student, path) for student, path, reason in find_submissions(submissions, lab_name) if reason is None]


def relative_name(path, root):
    """``path`` relative to ``root`` without ``.ipynb``, with ``/`` separators."""
    return Path(path).relative_to(root).with_suffix("").as_posix()
