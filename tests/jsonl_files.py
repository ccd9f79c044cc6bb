"""Write JSONL record files for tests: rows as JSON, plus raw lines as given (broken records)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def write_jsonl(path: Path, rows: list, raw_lines: tuple[str, ...] = ()) -> Path:
    """One line per row, then each raw line (its own trailing newline optional); gzipped for .gz."""
    lines = [json.dumps(row) for row in rows] + [line.removesuffix("\n") for line in raw_lines]
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path
