"""The solution notebooks' own answers pass every checker: each solution cell is exec'd (no kernel) and checked.

Fast stand-in for executing the notebooks: the imports of the setup cells, then every cell holding a
``### BEGIN SOLUTION`` in order (later answers use earlier ones), then the checker call of the cell after it.
"""

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import torch

SOLUTIONS = Path(__file__).resolve().parents[3] / "solutions"
NOTEBOOKS = sorted(SOLUTIONS.glob("0*.ipynb"))


def _exercises(path):
    cells = [("".join(c["source"]), c["cell_type"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    imports = [line for source, kind in cells if kind == "code" for line in source.splitlines()
               if re.match(r"\s*(import|from) \S+", line) and "ipywidgets" not in line]
    found = [(source, cells[i + 1][0].strip()) for i, (source, kind) in enumerate(cells)
             if kind == "code" and "### BEGIN SOLUTION" in source]
    return imports, found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_answers_pass_their_checkers(path):
    imports, exercises = _exercises(path)
    assert exercises, path
    namespace = {"device": torch.device("cpu")}
    for line in imports:
        exec(line.strip(), namespace)
    for source, check in exercises:
        exec(compile(source, f"<{path.stem} solution>", "exec"), namespace)
        assert re.fullmatch(r"lab\d\d\.check_\w+\(.+\)", check), check
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            result = eval(check, namespace)
        assert result.ok, buffer.getvalue()
