"""Small helpers shared by two files of :mod:`reglab.course.grading` (private)."""

import re


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _file_name(student):
    return re.sub(r"[^\w.-]", "_", student.replace("/", "__"))


def _short(text, width=60):
    return text if len(text) <= width else text[: width - 1] + "…"
