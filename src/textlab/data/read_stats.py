"""What reading data skipped or repaired: counts by reason, first locations, log lines, and
skipped.json in the run dir, so that no record is dropped silently."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.rank_zero import rank_zero_only

from textlab.base import run_files
from textlab.base.atomic import write_json_atomic

log = logging.getLogger(__name__)

SHOWN_LOCATIONS = 5
# ~40x the longest aclImdb review and far beyond any max_length: a longer "text" is a broken
# quote or a concatenated dump, and tokenizing 10 MB takes seconds per pass for 256 tokens kept.
MAX_TEXT_CHARS = 100_000
SKIPPED_AS = {
    "malformed": "malformed records",
    "empty": "empty texts",
    "too_long": f"texts longer than {MAX_TEXT_CHARS} characters",
    "not_a_file": "entries that are not regular files (folders, pipes, devices; never opened)",
    # data.extra_train: a teacher's label for a text we validate or test on would leak into it
    "held_out": "texts that are also in the validation or test split",
}
REPAIRED_AS = {
    "invalid_utf8": "had invalid UTF-8; bad bytes were replaced by U+FFFD",
    "truncated": f"were longer than {MAX_TEXT_CHARS} characters; cut to that length",
    "invalid_unicode": "held lone surrogates (JSON \\ud800-\\udfff escapes); each became U+FFFD",
}


@dataclass
class ReadStats:
    """What reading skipped or repaired (reasons: SKIPPED_AS, REPAIRED_AS), with first locations.

    `unit` names what an invalid-UTF-8 repair counts: lines of a record file, or reviews.
    """

    unit: str = "lines"
    kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    first: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self._locate(reason, where)

    def repair(self, reason: str, where: str) -> None:
        self.repaired[reason] += 1
        self._locate(reason, where)

    def _locate(self, reason: str, where: str) -> None:
        shown = self.first.setdefault(reason, [])
        if len(shown) < SHOWN_LOCATIONS:
            shown.append(where)

    def _where(self, reason: str, count: int) -> str:
        more = ", ..." if count > len(self.first[reason]) else ""
        return ", ".join(self.first[reason]) + more

    def report(self, key: str, text_column: str = "text", label_column: str = "label") -> None:
        """Log one warning per reason, e.g. `data.train: skipped 3 malformed records (a:2, ...)`."""
        for reason, count in sorted(self.skipped.items()):
            need = f": need a string {text_column!r}" + (
                f" and a {label_column!r}" if label_column else ""
            )
            log.warning(
                "%s: skipped %d %s (%s)%s",
                key,
                count,
                SKIPPED_AS[reason],
                self._where(reason, count),
                need if reason == "malformed" else "",
            )
        for reason, count in sorted(self.repaired.items()):
            where = self._where(reason, count)
            log.warning("%s: %d %s %s (%s)", key, count, self.unit, REPAIRED_AS[reason], where)

    def as_json(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "skipped": dict(sorted(self.skipped.items())),
            "repaired": dict(sorted(self.repaired.items())),
            "first": dict(sorted(self.first.items())),
        }


def add_to_read_report(report_dir: str | Path | None, name: str, stats: ReadStats) -> None:
    """Add group `name` to the skipped.json the source wrote (rank 0)."""
    if report_dir is None or rank_zero_only.rank != 0:
        return
    path = Path(report_dir) / run_files.SKIPPED
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    write_json_atomic(path, {**report, name: stats.as_json()})


def write_read_report(report_dir: str | Path | None, splits: Mapping[str, ReadStats]) -> None:
    """skipped.json in the run dir: per split, what was kept, skipped and repaired (rank 0)."""
    if report_dir is None or rank_zero_only.rank != 0:
        return
    # an unwritable run dir is one line naming it (base/atomic.py)
    path = Path(report_dir) / run_files.SKIPPED
    write_json_atomic(path, {name: stats.as_json() for name, stats in splits.items()})
