"""Small helpers shared by several files of :mod:`reglab.course.grading` (private)."""

import hashlib
import re


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _file_name(student):
    """A safe file name for ``student``: its letters, digits, ``.-_`` (at most 60), then 8 hex of its hash.

    Different students never share a name (``a~b`` and ``a_b`` differ in the hash), and no name is longer than
    69 characters, starts with a dot or holds a separator.

    Example:
        >>> _file_name("a~b") != _file_name("a_b"), _file_name("../x\\n|y")[:7], len(_file_name("n" * 248))
        (True, 'x_y-376', 69)
    """
    stem = re.sub(r"[^\w.-]+", "_", student, flags=re.ASCII).strip("._-")[:60] or "student"
    return f"{stem}-{hashlib.sha256(student.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def _short(text, width=60):
    return text if len(text) <= width else text[: width - 1] + "…"


def _markdown(text):
    """``text`` for one Markdown table cell or heading: one line, ``|`` and backslashes escaped."""
    text = re.sub(r"[\r\n\t\x00-\x1f\x7f]+", " ", str(text))
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def _spreadsheet(text):
    """``text`` for one CSV cell: a leading ``= + - @`` (or tab, CR) is neutralised with a quote."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
