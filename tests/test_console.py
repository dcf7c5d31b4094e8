"""Every command prints its help in a terminal whose locale is ASCII (reglab.console.tolerate_any_terminal)."""

import os
import subprocess
import sys

import pytest

ASCII_TERMINAL = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


@pytest.mark.parametrize("command", [["reglab.cli", "register", "--help"], ["reglab.course.grading", "--help"],
                                     ["reglab.course", "--help"]])
def test_help_prints_in_an_ascii_terminal(command):
    result = subprocess.run([sys.executable, "-m", *command], capture_output=True, env=ASCII_TERMINAL, timeout=120)
    assert result.returncode == 0, result.stderr.decode("ascii", "replace")
    assert result.stdout.startswith(b"usage:")
    assert result.stdout.isascii()


def test_characters_the_terminal_lacks_become_escapes():
    program = "from reglab.console import tolerate_any_terminal; tolerate_any_terminal(); print('\\u03bb = 0.5')"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, env=ASCII_TERMINAL, timeout=120)
    assert result.returncode == 0 and result.stdout == b"\\u03bb = 0.5\n", result.stderr
