"""Tests for reglab.data.download and the registry, without the network.

Files are served over ``file://`` or by an HTTP server on 127.0.0.1 made in the
test; it can cut a transfer short and honours ``Range`` requests (for resuming).
"""

import hashlib
import http.server
import io
import re
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from reglab.data.download import cache_dir, download, extract, fetch
from reglab.data.registry import DATASETS, Dataset, RemoteFile, available

PAYLOAD = bytes(range(256)) * 1000          # 256,000 bytes


def _sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files[path]``; ``server.cut`` bytes sends only part of a file; records Range headers."""

    def do_GET(self):  # noqa: N802 - the http.server API
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.server.ranges.append(self.headers.get("Range"))
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and self.server.resume:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if self.server.cut is not None:
            body = body[: self.server.cut]
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.ranges, httpd.cut, httpd.resume = {}, [], None, True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _tar(members):
    """A tar archive in memory from {name: bytes} (or tarfile.TarInfo for special members)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, data in members.items():
            if isinstance(data, tarfile.TarInfo):
                bundle.addfile(data)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# ---------------------------------------------------------------- download


def test_download_file_url_verifies_and_renames(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(PAYLOAD)
    target = tmp_path / "cache" / "data.bin"
    result = download(source.as_uri(), target, checksum=_sha256(PAYLOAD), size=len(PAYLOAD), progress=False)
    assert result == target and target.read_bytes() == PAYLOAD
    assert not target.with_name("data.bin.part").exists()
    md5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()
    assert download(source.as_uri(), tmp_path / "again.bin", checksum=md5, progress=False).read_bytes() == PAYLOAD


def test_download_corrupted_file_is_deleted(tmp_path, server):
    server.files["/data.bin"] = PAYLOAD[:-1] + b"\x00"                 # one byte differs
    target = tmp_path / "data.bin"
    with pytest.raises(ValueError, match=r"download\(\): sha256 checksum mismatch"):
        download(server.url + "/data.bin", target, checksum=_sha256(PAYLOAD), progress=False)
    assert not target.exists() and not target.with_name("data.bin.part").exists()


def test_download_truncated_then_resumed(tmp_path, server):
    server.files["/data.bin"] = PAYLOAD
    server.cut = 100_000                                                # the connection drops after 100 kB
    target = tmp_path / "data.bin"
    with pytest.raises((ConnectionError, ValueError), match=r"run again to resume"):
        download(server.url + "/data.bin", target, checksum=_sha256(PAYLOAD), size=len(PAYLOAD), progress=False)
    part = target.with_name("data.bin.part")
    assert not target.exists() and part.stat().st_size == 100_000       # nothing under the final name
    server.cut = None
    download(server.url + "/data.bin", target, checksum=_sha256(PAYLOAD), size=len(PAYLOAD), progress=False)
    assert server.ranges[-1] == "bytes=100000-"                         # resumed, not restarted
    assert target.read_bytes() == PAYLOAD and not part.exists()


def test_download_restarts_when_the_server_cannot_resume(tmp_path, server):
    server.files["/data.bin"] = PAYLOAD
    server.resume = False
    target = tmp_path / "data.bin"
    target.with_name("data.bin.part").write_bytes(b"garbage from an old attempt")
    download(server.url + "/data.bin", target, checksum=_sha256(PAYLOAD), progress=False)
    assert target.read_bytes() == PAYLOAD


def test_download_offline_names_the_embedded_alternative(tmp_path):
    with socket.socket() as sock:                                       # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError, match=r"Are you offline\?.*embedded data work without a network"):
        download(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", progress=False)
    assert not (tmp_path / "x.bin").exists()


def test_download_http_error_and_bad_checksum_spec(tmp_path, server):
    with pytest.raises(ConnectionError, match=r"the server answered 404"):
        download(server.url + "/missing.bin", tmp_path / "m.bin", progress=False)
    with pytest.raises(ValueError, match=r"expected `checksum` as 'sha256:<hex>' or 'md5:<hex>'"):
        download(server.url + "/missing.bin", tmp_path / "m.bin", checksum="crc32:1234")


# ---------------------------------------------------------------- extraction


def test_extract_tar_and_zip(tmp_path):
    (tmp_path / "a.tar.gz").write_bytes(_tar({"set/readme.txt": b"hello", "set/img/1.bin": PAYLOAD}))
    extract(tmp_path / "a.tar.gz", tmp_path / "out")
    assert (tmp_path / "out" / "set" / "img" / "1.bin").read_bytes() == PAYLOAD
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as bundle:
        bundle.writestr("z/readme.txt", "hi")
    extract(tmp_path / "b.zip", tmp_path / "out")
    assert (tmp_path / "out" / "z" / "readme.txt").read_text(encoding="utf-8") == "hi"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".extract")) == []   # staging removed


@pytest.mark.parametrize("name", ["../evil.txt", "set/../../evil.txt", "/tmp/evil-absolute.txt"])
def test_extract_refuses_path_traversal(tmp_path, name):
    (tmp_path / "bad.tar.gz").write_bytes(_tar({"set/ok.txt": b"ok", name: b"evil"}))
    target = tmp_path / "deep" / "out"
    with pytest.raises(ValueError, match=r"extract\(\): refusing archive member .* outside"):
        extract(tmp_path / "bad.tar.gz", target)
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not (target / "set" / "ok.txt").exists()                    # all or nothing


def test_extract_refuses_links_and_zip_traversal(tmp_path):
    link = tarfile.TarInfo("set/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    (tmp_path / "link.tar.gz").write_bytes(_tar({"set/ok.txt": b"ok", "set/passwd": link}))
    with pytest.raises(ValueError, match=r"no links or device files"):
        extract(tmp_path / "link.tar.gz", tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as bundle:
        bundle.writestr("../evil.txt", "evil")
    with pytest.raises(ValueError, match=r"outside"):
        extract(tmp_path / "bad.zip", tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    (tmp_path / "plain.bin").write_bytes(PAYLOAD)
    with pytest.raises(ValueError, match=r"is not a tar or zip archive"):
        extract(tmp_path / "plain.bin", tmp_path / "out")


# ---------------------------------------------------------------- fetch and the registry


def test_fetch_downloads_unpacks_and_caches(tmp_path, server):
    archive = _tar({"Task/dataset.json": b"{}", "Task/img/1.bin": PAYLOAD})
    server.files["/task.tar.gz"] = archive
    server.files["/extra.bin"] = PAYLOAD
    dataset = Dataset(
        name="toy", title="toy", modality="none", licence="CC0", citation="-", redistribute="yes", verified="test",
        files=(RemoteFile(server.url + "/task.tar.gz", "task.tar.gz", len(archive), _sha256(archive), extract=True),
               RemoteFile(server.url + "/extra.bin", "extra.bin", len(PAYLOAD), _sha256(PAYLOAD))),
    )
    folder = fetch(dataset, root=tmp_path, progress=False)
    assert folder == tmp_path / "toy"
    assert (folder / "Task" / "img" / "1.bin").read_bytes() == PAYLOAD and (folder / "extra.bin").exists()
    assert not (folder / "task.tar.gz").exists()                       # the archive is removed once unpacked
    server.files.clear()                                                # the server forgets everything ...
    assert fetch(dataset, root=tmp_path, offline=True) == folder       # ... the cache answers, even offline


def test_fetch_errors(tmp_path):
    with pytest.raises(ValueError, match=r"fetch\(\): expected one of 'mni152_2mm'"):
        fetch("imagenet", root=tmp_path)
    with pytest.raises(ConnectionError, match=r"offline=True\. Use the embedded data instead: reglab\.data\.load_hippocampus"):
        fetch("msd_hippocampus", root=tmp_path, offline=True)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REGLAB_DATA", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("REGLAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir().name == "reglab"


def test_registry_entries_are_complete():
    for name, dataset in DATASETS.items():
        assert dataset.name == name and dataset.files and dataset.licence and dataset.citation and dataset.verified
        for remote in dataset.files:
            assert remote.url.startswith("https://")
            assert remote.checksum is None or re.fullmatch(r"(md5:[0-9a-f]{32}|sha256:[0-9a-f]{64})", remote.checksum)
            assert Path(remote.filename).name == remote.filename
    assert "do not" in DATASETS["oasis_2d"].redistribute or DATASETS["oasis_2d"].redistribute.startswith("no")
    assert len(available()) == len(DATASETS)
