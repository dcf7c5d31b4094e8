"""Lab 01's notebooks and small readers, shared by the grading tests."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "labs" / "01_transform_images.ipynb"
SOLUTION = ROOT / "solutions" / "01_transform_images.ipynb"


def load(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
