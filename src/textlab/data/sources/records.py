"""Read labelled records from JSONL or CSV/TSV files (optionally gzipped; Parquet with pyarrow).

Records that cannot train a classifier are skipped, counted and logged once per split with
their first locations: malformed ones (bad JSON, missing text or label, wrong field count),
empty texts, and texts longer than MAX_TEXT_CHARS. Invalid UTF-8 is replaced and counted; a
leading byte-order mark is dropped. A missing column in a CSV header, an unreadable or corrupt
file, or a val/test label the training data lacks is an error instead. Counts: read_stats.py.
"""

from __future__ import annotations

import csv
import glob
import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from textlab.base.errors import UserError
from textlab.data.read_stats import MAX_TEXT_CHARS, ReadStats

log = logging.getLogger(__name__)

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv"}
FORMATS[".parquet"] = "parquet"
BOM = "\ufeff"
# a str from json.loads holds surrogates only unpaired: escaped pairs become one code point
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def record_format(path: Path) -> str | None:
    """jsonl | csv | tsv | parquet by the suffix before any `.gz`; None for other suffixes.

    The one suffix rule for every file textlab reads records from (data files, predict.input).
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return FORMATS.get(suffixes[-1] if suffixes else "")


def file_format(path: Path) -> str:
    """`record_format`, or an error listing the known suffixes."""
    kind = record_format(path)
    if kind is None:
        raise UserError(f"{path}: unknown format; expected one of {', '.join(FORMATS)} (+ .gz)")
    return kind


def expand_paths(key: str, spec: str | Sequence[str]) -> list[Path]:
    """A path, a glob, or a list of either → regular files in sorted order.

    Folders a pattern matches are passed over (`data/**` lists them); a pipe, socket or device
    is an error, never opened (reading a pipe could block forever).
    """
    patterns = [spec] if isinstance(spec, str) else [str(item) for item in spec]
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(Path(pattern).expanduser()), recursive=True))
        if not matches:
            raise UserError(f"{key}={pattern}: no such file (a path, a glob, or a list of them)")
        for match in map(Path, matches):
            if match.is_file():
                files.append(match)
            elif not match.is_dir():
                raise UserError(
                    f"{key}={pattern}: {match} is not a regular file (a pipe, socket or "
                    "device); expected files of records"
                )
    return files


def repair_unicode(text: str) -> tuple[str, bool]:
    """`text` with each lone surrogate (from a JSON `\\ud800` escape) replaced by U+FFFD, and
    whether there was one: tokenizers, and UTF-8 itself, cannot encode them."""
    repaired = LONE_SURROGATE.sub("\ufffd", text)
    return repaired, repaired != text


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when its name ends in `.gz`."""
    try:
        return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")
    except OSError as err:
        raise UserError(f"{path}: cannot open ({err.strerror or err})") from None


def decode_lines(lines: Iterable[bytes], path: Path, stats: ReadStats) -> Iterator[str]:
    """UTF-8 lines without a leading byte-order mark; invalid bytes become U+FFFD, counted."""
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            stats.repair("invalid_utf8", f"{path}:{number}")
            line = raw.decode("utf-8", errors="replace")
        # Editors on Windows start files with a BOM; left in, it breaks line 1's JSON or
        # renames the first CSV column.
        yield line.removeprefix(BOM) if number == 1 else line


def read_records(
    path: Path, text_column: str, label_column: str, stats: ReadStats
) -> Iterator[tuple[int, str, str]]:
    """(line or row number, text, label as a string) per usable record, lazily."""
    kind = file_format(path)
    try:
        if kind == "parquet":
            yield from _parquet_records(path, text_column, label_column, stats)
            return
        with open_binary(path) as handle:
            lines = decode_lines(handle, path, stats)
            if kind == "jsonl":
                yield from _jsonl_records(path, lines, text_column, label_column, stats)
            else:
                delimiter = "\t" if kind == "tsv" else ","
                yield from _csv_records(path, lines, delimiter, text_column, label_column, stats)
    except (OSError, EOFError, zlib.error) as err:
        # a corrupt or truncated .gz fails mid-way, after some records were read
        raise UserError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None


def _label_string(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)) or value == "":
        return None
    return str(value)


def _usable(text: Any, label: str | None, where: str, stats: ReadStats) -> bool:
    """Whether a record can train a classifier; if not, it is counted under its reason."""
    if not isinstance(text, str) or label is None:
        stats.skip("malformed", where)
        return False
    return usable_text(text, where, stats)


def usable_text(text: str, where: str, stats: ReadStats) -> bool:
    """Whether a text is worth reading (not blank, not over MAX_TEXT_CHARS), counted either way:
    the rule for labelled records and for pretraining text alike."""
    if not text.strip():
        stats.skip("empty", where)
    elif len(text) > MAX_TEXT_CHARS:
        stats.skip("too_long", where)
    else:
        stats.kept += 1
        return True
    return False


def parse_json_line(line: str) -> Any:
    """The JSON value on `line`, or None for anything json cannot parse into one: bad syntax,
    nesting deeper than Python's recursion limit, integers past its 4300-digit limit."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None


def _jsonl_records(
    path: Path, lines: Iterable[str], text_column: str, label_column: str, stats: ReadStats
) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue  # blank lines (e.g. a trailing newline) are not records
        record = parse_json_line(line)
        if not isinstance(record, dict):
            stats.skip("malformed", f"{path}:{number}")
            continue
        text, label = record.get(text_column), _label_string(record.get(label_column))
        if isinstance(text, str):
            text, repaired = repair_unicode(text)
            if repaired:
                stats.repair("invalid_unicode", f"{path}:{number}")
        if _usable(text, label, f"{path}:{number}", stats):
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
    end = reader.line_num
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            # DictReader's own line_num lags behind on errors; its reader's does not
            end = reader.reader.line_num
            too_long = "field larger than field limit" in str(err)
            stats.skip("too_long" if too_long else "malformed", f"{path}:{end}")
            continue
        end = reader.line_num
        # A row spans lines when a quoted field holds newlines; an unbalanced quote makes one
        # "row" of everything after it, so the location shows how many lines it swallowed.
        where = f"{path}:{start}-{end}" if end > start else f"{path}:{end}"
        label = _label_string(row.get(label_column))
        # DictReader files extra fields under None and fills missing ones with None
        text = None if None in row else row.get(text_column)
        if _usable(text, label, where, stats):
            yield end, text, label


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
            if _usable(text, _label_string(raw_label), f"{path}:{number}", stats):
                yield number, text, _label_string(raw_label)


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
