"""Atomic file writes: a crash or a concurrent writer never leaves a half-written file behind.

Every write goes to a temporary file beside the target and is renamed into place, so a reader
(another run, another sweep job, another DDP rank) sees the old file, no file, or the whole new
one. When two processes write the same path at once, each rename is whole and the last wins;
textlab only does this for caches, where both contents are the same.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from textlab.base.errors import UserError


@contextmanager
def open_atomic(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """`open(path, mode)` whose contents appear at `path` only once the block succeeds.

    The temporary file sits in the target's own folder, so the last step is a rename on one
    filesystem, never a copy that a full disk could cut short. When the system refuses (disk
    full, no permission, read-only), the previous file is untouched and the error is one line
    naming the folder (a UserError).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _cannot_write(path, err) from None
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _cannot_write(path, err) from None
        raise


def _cannot_write(path: Path, err: OSError) -> UserError:
    return UserError(
        f"{path.parent}: cannot write {path.name} ({err.strerror or err}); expected room and "
        f"permission there (a previous {path.name} is left as it was)"
    )


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it into place."""
    with open_atomic(path) as handle:
        handle.write(text)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Pretty-printed JSON with sorted keys, written atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
