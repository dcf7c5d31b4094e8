"""What every ``reglab`` command does to its terminal before it prints.

The help and the messages use a few non-ASCII characters (λ, ≤, ←). A terminal whose locale is ASCII
(``LANG=C`` with Python's UTF-8 mode off) cannot encode them, and Python would stop the command with a
``UnicodeEncodeError``. After :func:`tolerate_any_terminal` the command prints each such character as its
escape (``\\u03bb``) instead.
"""

import sys


def tolerate_any_terminal():
    """Make ``sys.stdout`` and ``sys.stderr`` print characters they cannot encode as escapes (``\\u03bb``)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


__all__ = ["tolerate_any_terminal"]
