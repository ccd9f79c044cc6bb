"""Content fingerprints: cache keys and provenance for data, configs, tokenizers and files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def fingerprint_texts(texts: Iterable[str], labels: Iterable[int] | None = None) -> str:
    """sha256 over texts (and labels), order-sensitive; a change of one character changes it."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8")
        # Length-prefix each text so ("ab", "c") and ("a", "bc") differ.
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    if labels is not None:
        digest.update(json.dumps(list(labels)).encode())
    return digest.hexdigest()


def fingerprint_json(obj: Any) -> str:
    """sha256 of a JSON-serialisable object with sorted keys."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
