"""Outputs whole or absent: unwritable --out found before the run, a full disk, a writer that stops early, Ctrl-C.

Root can write into a chmod-ed folder, so "read-only" is a path under a file and a file system that refuses
(an injected ``mkdtemp`` raising EROFS); a full disk is a writer that raises ENOSPC after the first file.
SIGINT is sent by this process to a child ``reglab register`` at each phase: the child announces the phase
on stdout (a hook around one function) and the signal arrives while it is there.
"""

import errno
import os
import signal
import subprocess
import sys
import time
from collections import namedtuple

import pytest

import reglab.cli.outputs
import reglab.cli.register
from reglab.cli import OUTPUTS
from tests.cli.conftest import FAST, leftovers, run, snapshot


def refuse_to_run(*args, **kwargs):
    raise AssertionError("the registration started although the outputs cannot be written")


@pytest.fixture
def no_registration(monkeypatch):
    monkeypatch.setattr(reglab.cli.register, "run_stages", refuse_to_run)


def test_out_under_a_file_is_found_before_the_run(pair, tmp_path, capsys, no_registration):
    (tmp_path / "a_file").write_text("")
    assert run("register", *pair, "--out", tmp_path / "a_file" / "result", *FAST) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot write to " in error and "Not a directory" in error, error
    assert leftovers(tmp_path) == []


def test_out_that_is_a_file_is_an_error(pair, tmp_path, capsys, no_registration):
    (tmp_path / "result").write_text("")
    assert run("register", *pair, "--out", tmp_path / "result", *FAST) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_read_only_file_system_is_found_before_the_run(pair, tmp_path, capsys, monkeypatch, no_registration):
    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), dir)

    monkeypatch.setattr(reglab.cli.outputs.tempfile, "mkdtemp", read_only)
    out = tmp_path / "deeper" / "result"
    assert run("register", *pair, "--out", out, *FAST) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot write to" in error and "Read-only file system" in error
    assert not (tmp_path / "deeper").exists()                           # the parent made for it is removed again


def test_too_little_space_is_found_before_the_run(pair, tmp_path, capsys, monkeypatch, no_registration):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(reglab.cli.outputs.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    assert run("register", *pair, "--out", tmp_path / "result", *FAST) == 2
    assert "not enough space for the outputs" in capsys.readouterr().err
    assert not (tmp_path / "result").exists() and leftovers(tmp_path) == []


def failing_writer(monkeypatch, failure):
    """Replace the image writer: the first image is written, the second one fails as ``failure`` says."""
    original, calls = reglab.cli.outputs.write_image, []

    def write(image, path):
        calls.append(path)
        original(image, path)
        if len(calls) == 2:
            data = path.read_bytes()
            path.write_bytes(data[:len(data) // 2])                       # the disk filled up half way
            if failure == "raises":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(reglab.cli.outputs, "write_image", write)
    return calls


@pytest.mark.parametrize("failure, message", [
    ("raises", "No space left on device; nothing was written"),
    ("silent", "the file on disk is cut short (is the disk full?); nothing was written"),                                          # a writer that does not notice
])
def test_a_full_disk_leaves_out_untouched(failure, message, pair, labels, tmp_path, capsys, monkeypatch):
    out = tmp_path / "result"
    options = ["register", *pair, "--out", out, "--transform", "affine", *FAST, "--moving-labels", labels[1]]
    assert run(*options) == 0
    before = snapshot(out)
    calls = failing_writer(monkeypatch, failure)
    assert run(*options, "--force") == 1
    assert len(calls) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error, error
    assert snapshot(out) == before and leftovers(tmp_path) == []
    failing_writer(monkeypatch, failure)
    assert run(*options, "--out", tmp_path / "fresh") == 1                  # a new folder is never made at all
    assert not (tmp_path / "fresh").exists() and leftovers(tmp_path) == []


CHILD = """
import sys, time
import reglab.cli.outputs, reglab.cli.register, reglab.registration

phase, argv = sys.argv[1], sys.argv[2:]

def announce(module, name, after=0):
    original, calls = getattr(module, name), []
    def hook(*args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            print(phase, flush=True)
            if phase != "registering":
                time.sleep(60)
        return original(*args, **kwargs)
    setattr(module, name, hook)

if phase == "reading":
    announce(reglab.cli.register, "read_intensities")
elif phase == "registering":
    announce(reglab.registration, "register")
else:
    announce(reglab.cli.outputs, "write_image", after=1)            # the first file is already written
from reglab.cli import main
sys.exit(main(argv))
"""


@pytest.mark.parametrize("phase, existing", [("reading", False), ("registering", True), ("writing", False),
                                             ("writing", True)])
def test_ctrl_c_at_each_phase_leaves_out_complete_or_untouched(phase, existing, pair, tmp_path):
    out = tmp_path / "result"
    options = ["register", *map(str, pair), "--out", str(out), "--levels", "1", "--device", "cpu", "--transform",
               "affine", "--force", "--iterations"]
    if existing:
        assert run(*options, "5") == 0
    options.append("100000" if phase == "registering" else "5")
    before = snapshot(out)
    child = subprocess.Popen([sys.executable, "-c", CHILD, phase, *options], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert child.stdout.readline().strip() == phase
        time.sleep(1.0 if phase == "registering" else 0.2)              # well inside the phase
        child.send_signal(signal.SIGINT)
        _, error = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, error
    assert error.strip().splitlines()[-1] == "reglab register: interrupted; nothing was written", error
    assert "Traceback" not in error
    assert snapshot(out) == before and leftovers(tmp_path) == []
    if existing:
        assert sorted(before) == sorted(OUTPUTS)                      # the earlier complete set, as it was
