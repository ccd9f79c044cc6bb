"""`data=text_files`: labelled JSONL/CSV files for train, val and test, in memory or streamed.

Label ids follow `label_names` when given, else the sorted labels of the training files.
Without val files, validation is carved from train: stratified and exact in memory
(`carve_validation`); when streaming, each record goes to val with probability
`val_fraction`, decided by a hash of (seed, file, line), so stratified in expectation.
What reading skipped or repaired is logged and, with `report_dir`, written to skipped.json
per file group (data.train, data.val, data.test).
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from textlab.base.errors import UserError
from textlab.base.typecheck import passes_options_to
from textlab.data.datamodule import TextDataModule
from textlab.data.read_stats import ReadStats, write_read_report
from textlab.data.sources.records import (
    expand_paths,
    label_ids,
    label_order,
    read_records,
    unknown_label_error,
)
from textlab.data.splits import empty_carve_error

log = logging.getLogger(__name__)

OPEN_FILES = 8  # files read round-robin at once when streaming


class Carve(NamedTuple):
    """Which side of a hashed validation carve a stream keeps."""

    fraction: float
    seed: int
    validation: bool

    def keeps(self, file_index: int, line: int) -> bool:
        digest = hashlib.blake2b(f"{self.seed}:{file_index}:{line}".encode(), digest_size=8)
        in_val = int.from_bytes(digest.digest(), "little") < self.fraction * 2**64
        return in_val == self.validation


class LineRecords:
    """A `StreamSource` over text files, read a line at a time, up to OPEN_FILES files in turn."""

    def __init__(
        self,
        files: Sequence[Path],
        text_column: str,
        label_column: str,
        carve: Carve | None = None,
    ) -> None:
        self.files, self.text_column, self.label_column = list(files), text_column, label_column
        self.carve = carve
        self.ids: dict[str, int] = {}
        self.count = 0

    def scan(self, stats: ReadStats) -> Counter[str]:
        """Count records and labels in one pass, skips into `stats`; returns label counts."""
        labels: Counter[str] = Counter()
        for index in range(len(self.files)):
            labels.update(label for _, label in self._records(index, stats))
        self.count = sum(labels.values())
        return labels

    def __len__(self) -> int:
        return self.count

    def handles(self, seed: int | None) -> Iterator[tuple[str, int]]:
        indices = list(range(len(self.files)))
        if seed is not None:
            random.Random(seed).shuffle(indices)
        order = deque(indices)
        stats = ReadStats()  # already reported by scan()
        active: deque[Iterator[tuple[str, str]]] = deque()
        while order or active:
            while order and len(active) < OPEN_FILES:
                active.append(self._records(order.popleft(), stats))
            records = active.popleft()
            record = next(records, None)
            if record is not None:
                active.append(records)
                yield record[0], self.ids[record[1]]

    def read(self, handle: tuple[str, int]) -> tuple[str, int]:
        return handle

    def _records(self, index: int, stats: ReadStats) -> Iterator[tuple[str, str]]:
        path = self.files[index]
        for line, text, label in read_records(path, self.text_column, self.label_column, stats):
            if self.carve is None or self.carve.keeps(index, line):
                yield text, label


class TextFiles:
    """Labelled text files: `train` required, `val` and `test` optional (paths, globs or lists)."""

    def __init__(
        self,
        train: str | Sequence[str],
        val: str | Sequence[str] | None = None,
        test: str | Sequence[str] | None = None,
        text_column: str = "text",
        label_column: str = "label",
        label_names: Sequence[str] | None = None,
        report_dir: str | None = None,
    ) -> None:
        given = {"train": train, "val": val, "test": test}
        self.files = {
            name: expand_paths(f"data.{name}", spec)
            for name, spec in given.items()
            if spec is not None and spec != []
        }
        if not self.files.get("train"):
            raise UserError(f"data.train={train}: no files")
        self.text_column, self.label_column = text_column, label_column
        self._label_names = tuple(str(name) for name in label_names) if label_names else None
        self.report_dir = report_dir
        if self._label_names is not None:
            label_ids(self._label_names)  # fail early on duplicates
        if "test" not in self.files:
            log.info("data.test is not set: no test split, so the test stage is skipped")

    @property
    def label_names(self) -> tuple[str, ...]:
        if self._label_names is None:
            stats = ReadStats()
            self._label_names = label_order(
                label
                for path in self.files["train"]
                for _, _, label in read_records(path, self.text_column, self.label_column, stats)
            )
        return self._label_names

    def load(self) -> dict[str, tuple[list[str], list[int]]]:
        """Every split in memory, train first so that its labels fix the ids."""
        stats = {name: ReadStats() for name in self.files}
        raw = {name: self._read(name, stats[name]) for name in self.files}
        self._report(stats)
        for name, records in raw.items():
            if not records:
                raise UserError(f"data.{name}: no usable records in {self._names(name)}")
        if self._label_names is None:
            self._label_names = label_order(label for _, label, _ in raw["train"])
        ids = label_ids(self._label_names)
        log.info("Label ids: %s", ids)
        splits = {}
        for name, records in raw.items():
            texts, labels = [], []
            for text, label, where in records:
                if label not in ids:
                    raise unknown_label_error(where, label, self._label_names)
                texts.append(text)
                labels.append(ids[label])
            splits[name] = (texts, labels)
        return splits

    def _read(self, name: str, stats: ReadStats) -> list[tuple[str, str, str]]:
        return [
            (text, label, f"{path}:{line}")
            for path in self.files[name]
            for line, text, label in read_records(path, self.text_column, self.label_column, stats)
        ]

    def _names(self, name: str) -> str:
        return ", ".join(str(path) for path in self.files[name])

    def _report(self, stats: dict[str, ReadStats]) -> None:
        for name, split_stats in stats.items():
            split_stats.report(f"data.{name}", self.text_column, self.label_column)
        write_read_report(self.report_dir, stats)

    def streams(self, val_fraction: float, seed: int) -> dict[str, LineRecords]:
        """One `LineRecords` per split, counted and label-checked in one pass each."""
        columns = (self.text_column, self.label_column)
        sources: dict[str, LineRecords] = {}
        if "val" in self.files:
            sources["train"] = LineRecords(self.files["train"], *columns)
        else:
            for name, validation in (("train", False), ("val", True)):
                carve = Carve(val_fraction, seed, validation)
                sources[name] = LineRecords(self.files["train"], *columns, carve=carve)
        for name in ("val", "test"):
            if name in self.files:
                sources[name] = LineRecords(self.files[name], *columns)
        stats = {name: ReadStats() for name in self.files}
        # a carved val re-reads train's files: their skips are counted once, under train
        seen = {
            name: source.scan(stats[name] if name in self.files else ReadStats())
            for name, source in sources.items()
        }
        self._report(stats)
        for name, source in sources.items():
            if len(source):
                continue
            if name in self.files and not stats[name].kept:
                raise UserError(f"data.{name}: no usable records in {self._names(name)}")
            side = "validation" if name == "val" else "training"
            raise empty_carve_error(val_fraction, stats["train"].kept, side)
        if self._label_names is None:
            carved = Counter() if "val" in self.files else seen["val"]
            self._label_names = label_order(seen["train"] + carved)
        ids = label_ids(self._label_names)
        log.info("Label ids: %s", ids)
        for name, labels in seen.items():
            unknown = sorted(set(labels) - set(ids))
            if unknown:
                raise unknown_label_error(f"data.{name}", unknown[0], self._label_names)
            sources[name].ids = ids
        return sources


@passes_options_to(TextDataModule)
def text_files_datamodule(
    train: Any,
    val: Any = None,
    test: Any = None,
    text_column: str = "text",
    label_column: str = "label",
    label_names: Sequence[str] | None = None,
    report_dir: str | None = None,
    **options: Any,
) -> TextDataModule:
    """`TextDataModule` over `TextFiles`; `options` are the datamodule's own arguments."""
    source = TextFiles(train, val, test, text_column, label_column, label_names, report_dir)
    return TextDataModule(source, **options)
