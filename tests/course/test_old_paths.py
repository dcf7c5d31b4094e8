"""The paths before the move to reglab.course keep working: reglab.checks.labNN, reglab.grading, their command lines."""

import importlib
import subprocess
import sys

import pytest

import reglab.course.checks
import reglab.course.grading

MODULES = ["core"] + [f"lab{number:02d}" for number in range(9)]


@pytest.mark.parametrize("name", MODULES)
def test_old_checker_path_is_the_same_module(name):
    new = importlib.import_module(f"reglab.course.checks.{name}")
    assert importlib.import_module(f"reglab.checks.{name}") is new
    old_package = importlib.import_module("reglab.checks")
    assert getattr(old_package, name) is new


def test_old_grading_names_are_the_new_ones():
    import reglab.grading

    assert reglab.grading.__all__ == reglab.course.grading.__all__
    for name in reglab.grading.__all__:
        assert getattr(reglab.grading, name) is getattr(reglab.course.grading, name), name


@pytest.mark.parametrize("module", ["reglab.grading", "reglab.course.grading", "reglab.course"])
def test_python_m_still_runs(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, encoding="utf-8",
                            errors="replace", timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m reglab.course"), result.stderr
