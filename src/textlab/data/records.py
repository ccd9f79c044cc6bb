"""Read labelled records from JSONL or CSV/TSV files (optionally gzipped; Parquet with pyarrow).

Malformed records (bad JSON, missing text or label, wrong field count) are skipped, counted
and logged once per split with their first locations. A missing column in a CSV header, an
unreadable file, or a val/test label the training data lacks is an error instead.
"""

from __future__ import annotations

import csv
import glob
import gzip
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from textlab.errors import UserError

log = logging.getLogger(__name__)

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv"}
FORMATS[".parquet"] = "parquet"
SHOWN_LOCATIONS = 5


@dataclass
class ReadStats:
    """What reading skipped or repaired: malformed records and lines with invalid UTF-8."""

    malformed: int = 0
    malformed_at: list[str] = field(default_factory=list)
    replaced: int = 0

    def skip(self, path: Path, line: int) -> None:
        self.malformed += 1
        if len(self.malformed_at) < SHOWN_LOCATIONS:
            self.malformed_at.append(f"{path}:{line}")

    def report(self, key: str, text_column: str, label_column: str) -> None:
        if self.malformed:
            log.warning(
                "%s: skipped %d malformed records (%s%s): need a string %r and a %r",
                key,
                self.malformed,
                ", ".join(self.malformed_at),
                ", ..." if self.malformed > len(self.malformed_at) else "",
                text_column,
                label_column,
            )
        if self.replaced:
            log.warning(
                "%s: %d lines had invalid UTF-8; bad bytes were replaced by U+FFFD",
                key,
                self.replaced,
            )


def file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    kind = FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise UserError(f"{path}: unknown format; expected one of {', '.join(FORMATS)} (+ .gz)")
    return kind


def expand_paths(key: str, spec: str | Sequence[str]) -> list[Path]:
    """A path, a glob, or a list of either → existing files in sorted order."""
    patterns = [spec] if isinstance(spec, str) else [str(item) for item in spec]
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(Path(pattern).expanduser()), recursive=True))
        if not matches:
            raise UserError(f"{key}={pattern}: no such file (a path, a glob, or a list of them)")
        files.extend(Path(match) for match in matches if Path(match).is_file())
    return files


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")
    except OSError as err:
        raise UserError(f"{path}: cannot open ({err.strerror or err})") from None


def _decoded_lines(handle: IO[bytes], stats: ReadStats) -> Iterator[str]:
    for raw in handle:
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            stats.replaced += 1
            yield raw.decode("utf-8", errors="replace")


def read_records(
    path: Path, text_column: str, label_column: str, stats: ReadStats
) -> Iterator[tuple[int, str, str]]:
    """(line or row number, text, label as a string) per well-formed record, lazily."""
    kind = file_format(path)
    if kind == "parquet":
        yield from _parquet_records(path, text_column, label_column, stats)
        return
    with _open_binary(path) as handle:
        lines = _decoded_lines(handle, stats)
        if kind == "jsonl":
            yield from _jsonl_records(path, lines, text_column, label_column, stats)
        else:
            delimiter = "\t" if kind == "tsv" else ","
            yield from _csv_records(path, lines, delimiter, text_column, label_column, stats)


def _label_string(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)) or value == "":
        return None
    return str(value)


def _jsonl_records(
    path: Path, lines: Iterable[str], text_column: str, label_column: str, stats: ReadStats
) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue  # blank lines (e.g. a trailing newline) are not records
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            stats.skip(path, number)
            continue
        text, label = record.get(text_column), _label_string(record.get(label_column))
        if not isinstance(text, str) or label is None:
            stats.skip(path, number)
            continue
        yield number, text, label


def _csv_records(
    path: Path,
    lines: Iterable[str],
    delimiter: str,
    text_column: str,
    label_column: str,
    stats: ReadStats,
) -> Iterator[tuple[int, str, str]]:
    reader = csv.DictReader(lines, delimiter=delimiter)
    try:
        header = reader.fieldnames or []
    except csv.Error as err:
        raise UserError(f"{path}: unreadable CSV header ({err})") from None
    for column in (text_column, label_column):
        if column not in header:
            raise UserError(f"{path}: no column {column!r}; the header has {header}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            stats.skip(path, reader.line_num)
            continue
        label = _label_string(row.get(label_column))
        # DictReader files extra fields under None and fills missing ones with None
        if None in row or row.get(text_column) is None or label is None:
            stats.skip(path, reader.line_num)
            continue
        yield reader.line_num, row[text_column], label


def _parquet_records(
    path: Path, text_column: str, label_column: str, stats: ReadStats
) -> Iterator[tuple[int, str, str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(
            f"{path}: reading Parquet needs pyarrow (pip install 'textlab[parquet]')"
        ) from None
    parquet = pq.ParquetFile(path)
    for column in (text_column, label_column):
        if column not in parquet.schema_arrow.names:
            raise UserError(f"{path}: no column {column!r}; it has {parquet.schema_arrow.names}")
    number = 0
    for batch in parquet.iter_batches(columns=[text_column, label_column]):
        for text, raw_label in zip(*(batch.column(i).to_pylist() for i in range(2)), strict=True):
            number += 1
            label = _label_string(raw_label)
            if not isinstance(text, str) or label is None:
                stats.skip(path, number)
                continue
            yield number, text, label


def label_order(labels: Iterable[str]) -> tuple[str, ...]:
    """Sorted unique labels; numerically when all are integers, so "2" comes before "10"."""
    unique = set(labels)
    try:
        return tuple(sorted(unique, key=int))
    except ValueError:
        return tuple(sorted(unique))


def label_ids(names: Sequence[str]) -> dict[str, int]:
    if len(set(names)) != len(names):
        raise UserError(f"data.label_names={list(names)}: names must be unique")
    return {name: index for index, name in enumerate(names)}


def unknown_label_error(key: str, label: str, names: Sequence[str]) -> UserError:
    return UserError(f"{key}: label {label!r} is not among the labels {list(names)}")
