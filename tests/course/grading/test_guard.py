"""The audit guard of the grading kernel: what it blocks, what it allows, what it only notes."""

import os
import sys

import pytest

from reglab.course.grading.guard import _Guard


def guard(tmp_path):
    home, submissions = tmp_path / "home", tmp_path / "submitted"
    (home / "work").mkdir(parents=True)
    submissions.mkdir()
    (submissions / "other.ipynb").write_text("{}")
    (submissions / "package").mkdir()
    config = {"home": str(home), "work": str(home / "work"), "protected": [str(submissions)],
              "neighbours": ["other.ipynb"], "readable": [str(submissions / "package")]}
    log = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT)
    return _Guard(config, log), home, submissions


@pytest.mark.parametrize("event, args, match", [
    ("open", ("{sub}/other.ipynb", "r", 0), "reading other.ipynb from the submissions"),
    ("open", ("/etc/reglab-test", "w", 0), "writing /etc/reglab-test outside its scratch folder"),
    ("open", ("{tmp}/elsewhere.txt", None, os.O_WRONLY | os.O_CREAT), "outside its scratch folder"),
    ("os.remove", ("{sub}/other.ipynb", -1), "deleting"),
    ("shutil.rmtree", ("{tmp}", None), "deleting"),
    ("os.rename", ("{home}/project/a", "{tmp}/b", -1, -1), "deleting"),
    ("socket.connect", (None, ("93.184.216.34", 80)), r"network access \(\('93.184.216.34', 80\)\)"),
    ("socket.getaddrinfo", ("example.com", 80, 0, 0, 0), r"network access \(example.com\)"),
    ("subprocess.Popen", ("/bin/rm", ["rm", "-rf", "x"], None, None), r"running another program \(rm\)"),
    ("os.system", (b"curl example.com",), "running another program"),
])
def test_guard_blocks(tmp_path, event, args, match):
    check, home, submissions = guard(tmp_path)
    names = {"sub": str(submissions), "tmp": str(tmp_path), "home": str(home)}
    args = tuple(a.format(**names) if isinstance(a, str) else a for a in args)
    with pytest.raises(PermissionError, match=match):
        check(event, args)
    assert (tmp_path / "log").read_text(encoding="utf-8").count("\n") == 1


@pytest.mark.parametrize("event, args", [
    ("open", ("{home}/project/result.npy", "wb", 0)),
    ("open", ("{home}/tmp/x", None, os.O_WRONLY | os.O_CREAT)),
    ("open", (sys.executable, "rb", 0)),
    ("open", (3, "r", 0)),
    ("open", ("/dev/null", "w", 0)),
    ("open", ("{sub}/package/module.py", "r", 0)),
    ("os.remove", ("{home}/project/result.npy", -1)),
    ("subprocess.Popen", ("uname", ["uname", "-p"], None, None)),
    ("socket.__new__", (None, 1, 1, 0)),
    ("import", ("torch", None, None, None, None)),
])
def test_guard_allows(tmp_path, event, args):
    check, home, submissions = guard(tmp_path)
    args = tuple(a.format(home=str(home), sub=str(submissions)) if isinstance(a, str) else a for a in args)
    assert check(event, args) is None


def test_guard_notes_a_missing_neighbour_without_blocking(tmp_path):
    check, home, _ = guard(tmp_path)
    assert check("open", (str(home / "work" / "other.ipynb"), "r", 0)) is None
    assert (tmp_path / "log").read_text(encoding="utf-8") == "note: tried to read other.ipynb from its folder\n"
