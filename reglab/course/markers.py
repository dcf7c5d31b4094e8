"""The markers a solution notebook carries and a student notebook must not: solution regions and nbval's markers.

* A solution region is everything between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (:data:`BEGIN`,
  :data:`END`; nbgrader's markers, so nbgrader users can take the notebooks as they are);
  :func:`strip_solutions` replaces it by the indented :data:`STUB`, :func:`solution_regions` finds it (leak checks).
* The tests of the solutions mark cells for nbval (``# NBVAL_...`` comment lines, ``nbval-...`` tags) and keep
  nbclient's execution times; :func:`strip_test_markers` removes them.

:mod:`reglab.course.build` uses these to write ``labs/`` from ``solutions/``.
"""

import json
import re

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]

NBVAL_MARKER = re.compile(r"^[ \t]*#[ \t]*NBVAL_[A-Z_]+[ \t]*$")
"""A whole-line nbval comment (``# NBVAL_IGNORE_OUTPUT``, ``# NBVAL_SKIP``, ...), as nbval itself finds them."""


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


def strip_test_markers(cell):
    """A copy of the cell ``cell`` (a dict) without nbval's markers and the execution times of the solution's run.

    Removed: every ``# NBVAL_...`` comment line of the source (:data:`NBVAL_MARKER`), the ``nbval-...`` tags (and
    ``tags`` when none is left) and ``metadata.execution`` (nbclient's timestamps). Outputs are left as they are.

    Example:
        >>> cell = {"cell_type": "code", "source": "# NBVAL_IGNORE_OUTPUT\\nprint(1)",
        ...         "metadata": {"tags": ["nbval-skip"], "execution": {"iopub.status.idle": "2026-01-01T00:00Z"}}}
        >>> strip_test_markers(cell)
        {'cell_type': 'code', 'source': 'print(1)', 'metadata': {}}
    """
    cell = json.loads(json.dumps(cell))                                 # deep copy: never modify the input
    source = _source(cell)
    cell["source"] = "".join(line for line in source.splitlines(keepends=True)
                             if not NBVAL_MARKER.match(line.rstrip("\r\n")))
    metadata = cell.setdefault("metadata", {})
    metadata.pop("execution", None)
    if "tags" in metadata:
        metadata["tags"] = [tag for tag in metadata["tags"] if not tag.startswith("nbval-")]
        if not metadata["tags"]:
            del metadata["tags"]
    return cell


def solution_regions(source):
    """The text of every solution region in ``source`` (markers excluded), for leak checks."""
    pattern = re.compile(rf"^[ \t]*{BEGIN}[ \t]*\n(.*?)^[ \t]*{END}", re.S | re.M)
    return pattern.findall(source)
