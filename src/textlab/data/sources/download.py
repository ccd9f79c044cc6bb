"""Fetch a dataset archive once: resumable download, sha256 check, safe extraction, file lock."""

from __future__ import annotations

import http.client
import logging
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from textlab.base.errors import UserError
from textlab.base.fingerprint import file_sha256
from textlab.base.locks import file_lock

log = logging.getLogger(__name__)

CHUNK = 1 << 20
ATTEMPTS = 3
TIMEOUT_S = 60


class IncompleteDownload(OSError):
    """The server closed the connection before sending everything it announced."""


def fetch_and_extract(url: str, sha256: str, target: Path, inner: str) -> Path:
    """Make `target` hold the archive's `inner` folder: download beside it, verify, extract."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Sweep jobs and DDP ranks may all ask at once; one downloads, the others wait and reuse.
    with file_lock(target.parent / f".{target.name}.lock"):
        if target.is_dir():
            return target
        name = posixpath.basename(urllib.parse.urlsplit(url).path) or "archive.tar.gz"
        archive = target.parent / name
        download(url, archive, sha256)
        extract_tar(archive, target, inner)
    return target


def download(url: str, dest: Path, sha256: str, attempts: int = ATTEMPTS) -> Path:
    """Download `url` to `dest` via `dest.part`, resuming after interruptions; verify sha256.

    A verified `dest` is reused. On a checksum mismatch nothing is left behind.
    """
    dest = Path(dest)
    sha256 = sha256.lower()
    if dest.is_file():
        if file_sha256(dest) == sha256:
            log.info("Reusing verified archive %s", dest)
            return dest
        log.warning("%s does not match sha256 %s; downloading it again", dest, sha256)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            _fetch_into(url, part)
            break
        except (OSError, http.client.HTTPException) as err:
            if attempt == attempts:
                raise UserError(
                    f"could not download {url} after {attempts} attempts ({err}); "
                    f"run again to resume from {part}"
                ) from None
            log.warning("Download of %s interrupted (%s); resuming", url, err)
    digest = file_sha256(part)
    if digest != sha256:
        part.unlink()
        raise UserError(
            f"{url}: sha256 is {digest}, expected {sha256} (data.sha256); the download was deleted"
        )
    os.replace(part, dest)
    return dest


def _fetch_into(url: str, part: Path) -> None:
    """Append the rest of `url` to `part` (HTTP Range), or rewrite it when the server can't."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S
        )
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the .part is not a prefix the server recognises
            part.unlink()
            return _fetch_into(url, part)
        raise UserError(f"{url}: HTTP {err.code} {err.reason}") from None
    with response:
        content_range = response.headers.get("Content-Range", "")
        match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", content_range)
        resumed = response.status == 206 and match is not None and int(match.group(1)) == offset
        if offset and not resumed:
            log.info("Server ignored the range request; restarting %s", part.name)
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        expected = start + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
    # http.client returns a short body silently when the connection drops mid-way.
    if expected is not None and part.stat().st_size < expected:
        raise IncompleteDownload(f"got {part.stat().st_size} of {expected} bytes")


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse absolute paths, `..`, devices, and links that point outside the extraction folder."""
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in Path(name).parts:
        raise UserError(f"unsafe archive member {name!r}: path leaves the extraction folder")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UserError(f"unsafe archive member {name!r}: not a regular file, folder or link")
    if member.issym() or member.islnk():
        link = member.linkname
        # symlinks resolve from the member's folder, hard links from the archive root
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, link))
        if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise UserError(f"unsafe archive member {name!r}: link to {link!r} leaves the folder")


def extract_tar(archive: Path, target: Path, inner: str) -> Path:
    """Extract `archive` into a temporary folder beside `target`, then rename its `inner` folder."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        try:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:
                    check_member(member)
                # "data" also strips setuid bits and refuses anything our checks missed.
                tar.extractall(tmp, members=members, filter="data")
        except (tarfile.TarError, EOFError, OSError) as err:
            raise UserError(f"{archive}: cannot extract ({err})") from None
        source = tmp / inner
        if not source.is_dir():
            raise UserError(f"{archive}: has no top-level folder {inner!r}")
        os.replace(source, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("Extracted %s to %s", archive, target)
    return target
