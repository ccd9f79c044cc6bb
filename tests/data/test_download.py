"""Archive download against a loopback HTTP server: resume, checksum, safe extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from textlab.base.errors import UserError
from textlab.data.sources.download import download, extract_tar, fetch_and_extract


def make_archive(members: dict[str, bytes], top: str = "aclImdb") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Server:
    """Serves `payload` at /archive.tar.gz; can cut the first response short or ignore Range."""

    def __init__(self, payload: bytes, cut_first_at: int | None = None, ranges: bool = True):
        self.payload, self.cut_first_at, self.ranges = payload, cut_first_at, ranges
        self.requests: list[str | None] = []  # the Range header of each request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                server.requests.append(wanted)
                start = int(wanted[len("bytes=") : -1]) if wanted and server.ranges else 0
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                if start:
                    total = len(server.payload)
                    self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_first_at is not None and len(server.requests) == 1:
                    body = body[: server.cut_first_at]  # then the connection closes early
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/archive.tar.gz"

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


PAYLOAD = make_archive({"train/pos/0_9.txt": b"great", "train/neg/1_2.txt": b"awful"})
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_verifies_and_extracts_then_reuses(tmp_path):
    target = tmp_path / "data" / "aclImdb"
    with Server(PAYLOAD) as server:
        fetch_and_extract(server.url, SHA, target, "aclImdb")
        assert (target / "train/pos/0_9.txt").read_bytes() == b"great"
        fetch_and_extract(server.url, SHA, target, "aclImdb")
        assert len(server.requests) == 1  # the second call reused the extracted folder
    assert (tmp_path / "data" / "archive.tar.gz").is_file()
    assert not list((tmp_path / "data").glob("*.part")) and not list(target.parent.glob(".*tmp"))


def test_interrupted_download_resumes_with_a_range_request(tmp_path):
    dest = tmp_path / "archive.tar.gz"
    with Server(PAYLOAD, cut_first_at=100) as server:
        download(server.url, dest, SHA)
    assert server.requests == [None, "bytes=100-"]
    assert dest.read_bytes() == PAYLOAD


def test_interrupted_download_restarts_when_the_server_ignores_ranges(tmp_path):
    dest = tmp_path / "archive.tar.gz"
    with Server(PAYLOAD, cut_first_at=100, ranges=False) as server:
        download(server.url, dest, SHA)
    assert server.requests == [None, "bytes=100-"]
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_is_one_clear_error_and_leaves_nothing(tmp_path):
    target = tmp_path / "aclImdb"
    with Server(PAYLOAD) as server, pytest.raises(UserError, match="sha256 is .* expected 0+ "):
        fetch_and_extract(server.url, "0" * 64, target, "aclImdb")
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".aclImdb.lock"]


def tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("aclImdb/../../evil.txt"),
        tarfile.TarInfo("/etc/evil.txt"),
        link("aclImdb/escape", "../../outside", tarfile.SYMTYPE),
        link("aclImdb/abs", "/etc/passwd", tarfile.SYMTYPE),
        link("aclImdb/hard", "../outside", tarfile.LNKTYPE),
        link("aclImdb/dev", "", tarfile.CHRTYPE),
        link("aclImdb/fifo", "", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "symlink-out", "symlink-abs", "hardlink-out", "device", "fifo"],
)
def test_unsafe_archive_members_are_rejected_and_nothing_is_extracted(tmp_path, member):
    archive = tmp_path / "bad.tar"
    archive.write_bytes(tar_with(member))
    target = tmp_path / "out" / "aclImdb"
    target.parent.mkdir()
    with pytest.raises(UserError, match="unsafe archive member"):
        extract_tar(archive, target, "aclImdb")
    assert list(target.parent.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_links_inside_the_archive_are_allowed(tmp_path):
    archive = tmp_path / "ok.tar"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("aclImdb/README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
        tar.addfile(link("aclImdb/docs/readme", "../README", tarfile.SYMTYPE))
    archive.write_bytes(buffer.getvalue())
    target = extract_tar(archive, tmp_path / "aclImdb", "aclImdb")
    assert (target / "docs/readme").read_text() == "hi"


def test_imdb_source_downloads_a_missing_root_and_reads_it(tmp_path):
    from textlab.data.sources.imdb import AclImdb

    members = {
        f"{split}/{folder}/{i}_{rating}.txt": f"{split} {folder} {i}".encode()
        for split in ("train", "test")
        for folder, rating in (("pos", 8), ("neg", 3))
        for i in range(3)
    }
    payload = make_archive(members)
    root = tmp_path / "data" / "aclImdb"
    with Server(payload) as server:
        splits = AclImdb(
            root, download=True, url=server.url, sha256=hashlib.sha256(payload).hexdigest()
        ).load()
    assert {name: sorted(labels) for name, (_, labels) in splits.items()} == {
        "train": [0, 0, 0, 1, 1, 1],
        "test": [0, 0, 0, 1, 1, 1],
    }
