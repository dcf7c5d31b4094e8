"""Optional downloads: fetch a registered dataset once, verify it, unpack it safely, cache it.

::

    from reglab.data.download import fetch
    folder = fetch("mni152_2mm")          # downloads ~8 MB the first time, then reuses the cache

How a file arrives (:func:`download`):

1. it is written to ``<name>.part`` beside its final place; an interrupted
   download leaves the ``.part`` and the next call resumes it with an HTTP
   ``Range`` request (or restarts when the server cannot resume);
2. its size and checksum (SHA-256 or MD5, from :mod:`reglab.data.registry`)
   are verified; a mismatch deletes the ``.part`` and raises;
3. only then is it renamed to its final name (``os.replace``: atomic), so a
   file under its final name is always complete and verified.

Archives are unpacked by :func:`extract` into a temporary folder that is
renamed when complete; members that would land outside the target (absolute
paths, ``..``), links and device files are refused.

The cache folder is ``$REGLAB_DATA`` if set, else the platform's cache
(``~/.cache/reglab`` on Linux and Colab, ``~/Library/Caches/reglab`` on macOS,
``%LOCALAPPDATA%\\reglab\\Cache`` on Windows). Without a network the error
names the embedded alternative that works offline.
"""

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from reglab.data.registry import DATASETS, Dataset, RemoteFile

CHUNK = 1 << 16
COMPLETE = ".complete"


def cache_dir():
    """The folder where downloads are kept: ``$REGLAB_DATA``, else the platform's cache folder.

    Example:
        >>> import os, unittest.mock
        >>> with unittest.mock.patch.dict(os.environ, {"REGLAB_DATA": "/tmp/reglab-data"}):
        ...     print(cache_dir())
        /tmp/reglab-data
    """
    if os.environ.get("REGLAB_DATA"):
        return Path(os.environ["REGLAB_DATA"]).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "reglab" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "reglab"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reglab"


def file_checksum(path, algorithm="sha256"):
    """Hex digest of a file (``"sha256"`` or ``"md5"``), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_checksum(checksum):
    algorithm, _, value = (checksum or "").partition(":")
    if checksum is not None and (algorithm not in ("sha256", "md5") or not value):
        raise ValueError(f"download(): expected `checksum` as 'sha256:<hex>' or 'md5:<hex>', got {checksum!r}.")
    return (algorithm, value.lower()) if checksum else (None, None)


def _progress(total, initial, name, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, disable=not enabled, leave=False)


def _offline_error(url, reason, alternative):
    return ConnectionError(
        f"download(): could not reach {url} ({reason}). Are you offline? Downloads are optional: "
        f"the embedded data work without a network: {alternative}."
    )


def download(url, path, *, checksum=None, size=None, progress=True, timeout=60,
             alternative="reglab.data.load_brain() and load_brain_slice()"):
    """Download ``url`` to ``path`` through ``path.part``, verify it, then rename it atomically.

    Args:
        url: ``https://``, ``http://`` or ``file://`` address.
        path: the final file.
        checksum: ``"sha256:<hex>"`` or ``"md5:<hex>"``, or None to skip the check.
        size: expected bytes, or None.
        progress: show a tqdm progress bar.
        timeout: seconds to wait for the server.
        alternative: what to use offline (named in the error).

    Returns:
        ``Path`` of the verified file (if it already exists, it is returned as it is).

    Raises:
        ConnectionError: the server cannot be reached (offline).
        ValueError: the size or checksum differs (the partial file is deleted).
    """
    path = Path(path)
    algorithm, expected = _parse_checksum(checksum)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "reglab"})
    if offset and url.startswith(("http://", "https://")):
        request.add_header("Range", f"bytes={offset}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = offset > 0 and getattr(response, "status", 200) == 206
            length = response.headers.get("Content-Length")
            total = (int(length) + (offset if resumed else 0)) if length else size
            with open(part, "ab" if resumed else "wb") as file, \
                    _progress(total, offset if resumed else 0, path.name, progress) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    file.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise ConnectionError(f"download(): the server answered {error.code} {error.reason} for {url}.") from None
    except urllib.error.URLError as error:
        raise _offline_error(url, error.reason, alternative) from None
    except (TimeoutError, OSError, http.client.HTTPException) as error:     # includes a connection cut mid-file
        if part.exists() and part.stat().st_size:       # keep what arrived: the next call resumes it
            raise ConnectionError(f"download(): the transfer of {url} broke off ({error}); "
                                  f"run again to resume from {part.stat().st_size} bytes.") from None
        raise _offline_error(url, error, alternative) from None
    _verify(part, url, algorithm, expected, size)
    os.replace(part, path)
    return path


def _verify(part, url, algorithm, expected, size):
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        if actual_size < size:
            raise ValueError(f"download(): {url} is incomplete ({actual_size} of {size} bytes); "
                             f"run again to resume from {part}.")
        part.unlink()
        raise ValueError(f"download(): {url} has {actual_size} bytes, expected {size}; the file was deleted.")
    if expected is not None:
        actual = file_checksum(part, algorithm)
        if actual != expected:
            part.unlink()
            raise ValueError(
                f"download(): {algorithm} checksum mismatch for {url}: expected {expected}, got {actual}. "
                "The corrupted file was deleted; run again, and if it persists the source has changed."
            )


def _check_member(name, is_link, is_file_or_dir, target):
    """Raise ValueError unless an archive member stays inside ``target`` and is a plain file or folder."""
    relative = PurePosixPath(name.replace("\\", "/"))
    destination = (target / relative).resolve()
    if relative.is_absolute() or ".." in relative.parts or not destination.is_relative_to(target.resolve()):
        raise ValueError(f"extract(): refusing archive member {name!r}: it would be written outside {target}.")
    if is_link or not is_file_or_dir:
        raise ValueError(f"extract(): refusing archive member {name!r}: only plain files and folders are unpacked "
                         "(no links or device files).")


def extract(archive, target):
    """Unpack a ``.tar[.gz|.bz2|.xz]`` or ``.zip`` archive into ``target``, safely and all-or-nothing.

    Every member is checked first: nothing may be written outside ``target``
    (absolute paths, ``..``), and links and device files are refused. The
    archive is unpacked into a temporary folder beside ``target``, whose contents
    are then moved into ``target``.

    Args:
        archive: path of the archive.
        target: the folder to unpack into (created if needed).

    Returns:
        ``Path`` of ``target``.

    Raises:
        ValueError: an unsafe member, or not an archive.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                for info in bundle.infolist():
                    is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                    _check_member(info.filename, is_link, True, staging)
                bundle.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as bundle:
                members = bundle.getmembers()
                for member in members:
                    _check_member(member.name, member.issym() or member.islnk(), member.isfile() or member.isdir(),
                                  staging)
                bundle.extractall(staging, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter")
                                                               else {}))
        else:
            raise ValueError(f"extract(): {archive} is not a tar or zip archive.")
        for item in staging.iterdir():
            destination = target / item.name
            if destination.exists():
                shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
            os.replace(item, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def fetch(name, *, root=None, offline=False, progress=True):
    """Download a registered dataset (once), verify it, unpack archives, and return its folder.

    A dataset folder is complete when it holds the marker file ``.complete``;
    then nothing is downloaded again, even offline.

    Args:
        name: a key of :data:`reglab.data.registry.DATASETS`, or a :class:`~reglab.data.registry.Dataset`.
        root: the cache folder (default: :func:`cache_dir`).
        offline: never touch the network; raise if the data are not cached yet.
        progress: show progress bars.

    Returns:
        ``Path`` of the dataset's folder (``root / name``).

    Raises:
        ValueError: an unknown name, or a corrupted download.
        ConnectionError: offline (the message names the embedded alternative).

    Example:
        >>> fetch("mni152_2mm", root="/nonexistent", offline=True)
        Traceback (most recent call last):
        ...
        ConnectionError: fetch(): 'mni152_2mm' is not in the cache /nonexistent and offline=True. Use the embedded data instead: reglab.data.load_brain() / load_brain_slice() (MNI template, offline).
    """
    dataset = name if isinstance(name, Dataset) else DATASETS.get(name)
    if dataset is None:
        raise ValueError(f"fetch(): expected one of {', '.join(map(repr, DATASETS))}, got {name!r}.")
    root = Path(root) if root is not None else cache_dir()
    folder = root / dataset.name
    if (folder / COMPLETE).exists():
        return folder
    if offline:
        raise ConnectionError(f"fetch(): {dataset.name!r} is not in the cache {root} and offline=True. "
                              f"Use the embedded data instead: {dataset.embedded_alternative}.")
    folder.mkdir(parents=True, exist_ok=True)
    for remote in dataset.files:
        _fetch_file(remote, folder, dataset, progress)
    (folder / COMPLETE).write_text("\n".join(f"{f.filename} {f.checksum}" for f in dataset.files) + "\n",
                                 encoding="utf-8")
    return folder


def _fetch_file(remote: RemoteFile, folder, dataset, progress):
    path = folder / remote.filename
    unpacked = folder / (remote.filename + COMPLETE)
    if unpacked.exists():
        return
    download(remote.url, path, checksum=remote.checksum, size=remote.size, progress=progress,
             alternative=dataset.embedded_alternative)
    if remote.extract:
        extract(path, folder)
        path.unlink()
        unpacked.write_text(f"{remote.checksum}\n", encoding="utf-8")
