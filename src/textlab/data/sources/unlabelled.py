"""Text without labels for language-model pretraining: the labelled training texts (the
validation carve left out) plus `data.unlabelled` files, read lazily, never all in memory.

Files: `.txt` (one document per line, or per file with `unit=file`), `.jsonl`/`.ndjson`/`.json`
(one record per line, its `text_field`), each optionally `.gz`. The same rules as labelled data:
invalid UTF-8 and lone surrogates are repaired and counted; malformed records, empty texts and
texts over MAX_TEXT_CHARS are counted skips; a source with no usable document is an error.
A hashed `val_fraction` of the documents (by seed) is held out to validate the language model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from textlab.base.errors import UserError, require
from textlab.base.fingerprint import fingerprint_json
from textlab.data.read_stats import ReadStats
from textlab.data.sources.records import (
    decode_lines,
    expand_paths,
    open_binary,
    parse_json_line,
    record_format,
    repair_unicode,
    usable_text,
)

log = logging.getLogger(__name__)

UNITS = ("line", "file")
KEY = "data.unlabelled"


def held_out(index: int, fraction: float, seed: int) -> bool:
    """Whether document `index` is in the validation share (the same index, the same answer)."""
    digest = hashlib.blake2b(f"lm:{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") < fraction * 2**64


class UnlabelledFiles:
    """Documents from paths/globs; `documents(stats)` yields (where, text) per usable one."""

    def __init__(
        self, patterns: str | Sequence[str], text_field: str = "text", unit: str = "line"
    ) -> None:
        require(unit in UNITS, "unit", unit, f"one of {', '.join(UNITS)}")
        self.files = expand_paths(KEY, patterns)
        if not self.files:
            raise UserError(f"{KEY}={patterns}: no files (a path, a glob, or a list of them)")
        for path in self.files:
            kind = record_format(path)
            if kind not in (None, "jsonl") or (kind is None and _suffix(path) != ".txt"):
                raise UserError(
                    f"{KEY}: {path} is neither .txt nor .jsonl/.ndjson/.json (+ .gz); "
                    "expected unlabelled text"
                )
        self.text_field, self.unit = text_field, unit

    def fingerprint(self) -> str:
        """Names the files as they are now: path, size and modification time of each."""
        facts = [(str(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in self.files]
        return fingerprint_json({"files": facts, "field": self.text_field, "unit": self.unit})

    def documents(self, stats: ReadStats) -> Iterator[tuple[str, str]]:
        for path in self.files:
            try:
                yield from self._read(path, stats)
            except (OSError, EOFError, zlib.error) as err:
                reason = getattr(err, "strerror", None) or err
                raise UserError(f"{path}: cannot read ({reason})") from None

    def _read(self, path: Path, stats: ReadStats) -> Iterator[tuple[str, str]]:
        jsonl = record_format(path) == "jsonl"
        with open_binary(path) as handle:
            lines = decode_lines(handle, path, stats)
            if self.unit == "file" and not jsonl:
                yield from _usable(f"{path}", "".join(lines), stats)
                return
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue  # blank lines separate documents; they are not documents
                where = f"{path}:{number}"
                text = line.rstrip("\n") if not jsonl else _field(line, self.text_field)
                if text is None:
                    stats.skip("malformed", where)
                    continue
                yield from _usable(where, text, stats)


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _field(line: str, field: str) -> str | None:
    record = parse_json_line(line)
    text = record.get(field) if isinstance(record, dict) else None
    return text if isinstance(text, str) else None


def _usable(where: str, text: str, stats: ReadStats) -> Iterator[tuple[str, str]]:
    text, repaired = repair_unicode(text)
    if repaired:
        stats.repair("invalid_unicode", where)
    if usable_text(text, where, stats):
        yield where, text


class PretrainingCorpus:
    """Labelled training texts (labels ignored) and unlabelled files, split train/val by hash.

    `labelled` is the classifier's training split after its validation carve, so a model
    pretrained here and fine-tuned on that split has never read a validation review.
    """

    def __init__(
        self,
        labelled: Iterable[str] | None,
        labelled_fingerprint: str,
        unlabelled: UnlabelledFiles | None,
        val_fraction: float,
        seed: int,
    ) -> None:
        require(0 < val_fraction < 1, "val_fraction", val_fraction, "a number in (0, 1)")
        if labelled is None and unlabelled is None:
            raise UserError(
                f"{KEY} is not set and the data has no labelled training texts; expected "
                "text to pretrain on (e.g. data.unlabelled='corpus/*.txt')"
            )
        self.labelled, self.labelled_fingerprint = labelled, labelled_fingerprint
        self.unlabelled = unlabelled
        self.val_fraction, self.seed = val_fraction, seed
        self.stats = ReadStats(unit="documents")
        self._reported = False
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """Names this text: a tokenizer and token streams are cached under it."""
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self) -> str:
        return fingerprint_json(
            {
                "labelled": self.labelled_fingerprint,
                "unlabelled": self.unlabelled.fingerprint() if self.unlabelled else None,
                "val_fraction": self.val_fraction,
                "seed": self.seed,
            }
        )

    def documents(self, part: str) -> Iterator[str]:
        """The texts of `part` (train | val), labelled ones first, in a fixed order."""
        validation = part == "val"
        for index, text in enumerate(self._all()):
            if held_out(index, self.val_fraction, self.seed) == validation:
                yield text

    def _all(self) -> Iterator[str]:
        self.stats = ReadStats(unit="documents")  # each pass counts afresh
        if self.labelled is not None:
            yield from self.labelled
        if self.unlabelled is not None:
            for _, text in self.unlabelled.documents(self.stats):
                yield text
        if not self._reported:  # every pass reads the same files: say it once
            self.stats.report(KEY, self.unlabelled.text_field if self.unlabelled else "", "")
            self._reported = True
