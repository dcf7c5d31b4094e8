"""Outputs that appear whole or not at all.

:class:`Staging` is a hidden temporary folder created *beside* the destination (same file system, so the
final move is a rename) before any work starts: an unwritable destination (read-only, a path under a file,
no permission) is found then, not after an hour of registration. Every output is written there, flushed
to disk (``fsync``) and read back (a full disk or a writer that stops early is caught, even when the
writer itself does not notice), and only when all are complete are they moved into place. On any error,
Ctrl-C included, the folder is removed: the destination is left as it was.

:class:`OutputFolder` (``reglab register --out DIR``) and :class:`OutputFile` (``reglab apply --out FILE``)
are the two destinations.
"""

import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from reglab.cli.errors import CommandError, WriteError
from reglab.cli.inputs import check_complete


def write_image(image, path):
    """SimpleITK writes an image (compressed when the name says ``.gz``). The one place images are written."""
    sitk.WriteImage(image, str(path), useCompression=str(path).endswith(".gz"))


class Staging:
    """A temporary folder beside ``destination`` where outputs are written, checked, then moved into place."""

    def __init__(self, destination):
        self.destination = Path(destination).absolute()
        self.created = []                                  # parent folders made for the destination
        parent = self.destination.parent
        try:
            missing = [p for p in (parent, *parent.parents) if not p.exists()]
            for folder in reversed(missing):
                folder.mkdir()
                self.created.append(folder)
            self.folder = Path(tempfile.mkdtemp(prefix=f".{self.destination.name}.reglab-", dir=parent))
            probe = self.folder / ".probe"
            with open(probe, "wb") as file:
                file.write(b"0" * 4096)
                file.flush()
                os.fsync(file.fileno())
            probe.unlink()
        except OSError as error:
            self._remove_created()
            raise CommandError(f"cannot write to {self.destination}: {error.strerror or error} "
                               f"({error.filename or parent}).") from None
        self.interrupted = False

    def check_space(self, needed):
        """Stop early when the file system holding the destination has less than ``needed`` bytes free."""
        free = shutil.disk_usage(self.folder).free
        if free < needed:
            raise CommandError(f"not enough space for the outputs in {self.destination.parent}: about "
                               f"{needed / 2**20:.1f} MiB needed, {free / 2**20:.1f} MiB free.")

    def write(self, name, writer, check=None):
        """``writer(path)`` then flush to disk and ``check(path)``; a failure is a :class:`WriteError`."""
        path = self.folder / name
        try:
            writer(path)
            with open(path, "rb+") as file:
                os.fsync(file.fileno())
            if check is not None:
                check(path)
        except (OSError, RuntimeError, ValueError, CommandError) as error:
            reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[-1]
            raise WriteError(f"cannot write {name} into {self.destination}: {reason}; nothing was written.") from None
        return path

    def write_image(self, name, image):
        """An image, checked by reading it back whole (a truncated ``.gz`` reads back zero-filled otherwise)."""
        def check(path):
            try:
                check_complete(path, "written")
            except CommandError:
                raise ValueError("the file on disk is cut short (is the disk full?)") from None
            again = sitk.ReadImage(str(path))
            if not np.array_equal(sitk.GetArrayViewFromImage(again), sitk.GetArrayViewFromImage(image)):
                raise ValueError("the file read back differs from what was written")

        return self.write(name, lambda path: write_image(image, path), check)

    def write_transform(self, name, transform, points):
        """A transform, checked by mapping ``points`` (``(N, ndim)`` mm) with the file read back."""
        def check(path):
            again = sitk.ReadTransform(str(path))
            for point in points:
                if not np.allclose(again.TransformPoint(point), transform.TransformPoint(point), atol=1e-6):
                    raise ValueError("the transform read back maps points elsewhere")

        return self.write(name, lambda path: sitk.WriteTransform(transform, str(path)), check)

    def write_json(self, name, value):
        def write(path):
            path.write_text(json.dumps(value, indent=2) + "\n")

        def check(path):
            if json.loads(path.read_text(encoding="utf-8")) != json.loads(json.dumps(value)):
                raise ValueError("the JSON read back differs")

        return self.write(name, write, check)

    def move_into_place(self, moves):
        """Run ``moves()`` (renames) with Ctrl-C held back, then drop the folder; remembers an interruption."""
        previous, main = None, threading.current_thread() is threading.main_thread()
        if main:
            previous = signal.signal(signal.SIGINT, lambda *_: setattr(self, "interrupted", True))
        try:
            moves()
            _fsync_folder(self.destination.parent)
        except OSError as error:
            raise WriteError(f"cannot move the outputs into {self.destination}: {error.strerror or error}.") from None
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
            self.discard(keep_created=True)

    def discard(self, *, keep_created=False):
        """Remove the temporary folder (and the parent folders made for the destination)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if not keep_created:
            self._remove_created()

    def _remove_created(self):
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:
                break
        self.created = []

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        self.discard()                                     # after a commit the folder is already gone


class OutputFolder(Staging):
    """``--out DIR`` for a set of files: checked before the run, replaced as a whole after it.

    Args:
        out: the destination folder (created with its parents; may exist).
        names: every file this run may write (the set of the command, optional ones included): a
            destination holding any of them needs ``force``; with ``force`` the old ones not written
            again are removed, so the folder never mixes two runs.
    """

    def __init__(self, out, names, *, force):
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a folder.")
        existing = [name for name in names if (out / name).exists()]
        if existing and not force:
            raise CommandError(f"{out} already holds {', '.join(existing)}; pass --force to overwrite, or choose "
                               "another --out.")
        self.names = names
        super().__init__(out)

    def commit(self):
        """Move every staged file into ``out`` at once: a rename of the whole folder where possible."""
        out = self.destination

        def moves():
            if not out.exists():
                os.rename(self.folder, out)
                return
            others = [p for p in out.iterdir() if p.name not in self.names]
            if not others:                                 # only an old set: swap the folders, drop the old one
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.reglab-old-", dir=out.parent))
                os.rename(out, old / out.name)
                os.rename(self.folder, out)
                shutil.rmtree(old, ignore_errors=True)
                return
            for name in self.names:                        # other files of the user's: file by file
                if (out / name).exists() and not (self.folder / name).exists():
                    (out / name).unlink()
            for path in self.folder.iterdir():
                os.replace(path, out / path.name)

        self.move_into_place(moves)


class OutputFile(Staging):
    """``--out FILE`` for one file: written and checked beside it, then renamed onto it."""

    def __init__(self, out, *, force):
        out = Path(out)
        if out.is_dir():
            raise CommandError(f"--out {out} is a folder; expected a file name such as warped.nii.gz.")
        if out.exists() and not force:
            raise CommandError(f"{out} exists; pass --force to overwrite it, or choose another --out.")
        super().__init__(out)

    def commit(self):
        self.move_into_place(lambda: os.replace(self.folder / self.destination.name, self.destination))


def _fsync_folder(folder):
    """Make a rename durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
