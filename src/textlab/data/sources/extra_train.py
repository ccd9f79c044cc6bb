"""`data.extra_train`: labelled records added to the training split only.

What it is for is self-training: a teacher's `mode=predict` output on unlabelled text
(predictions.jsonl has `text` and `label`) becomes more training data for a student
(benchmarks/README.md "Self-training"). Files are read by the rules of data=text_files (JSONL,
CSV/TSV, `.gz`; columns `text` and `label`, the label by name); bad records are counted skips
in the log and skipped.json, and so is every text that is also in the validation or test split:
a teacher's answer for it would leak into the score the student is judged by (aclImdb's
unlabelled reviews hold 33 of the 2,500 in its validation carve, word for word).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from textlab.base.errors import UserError
from textlab.data.read_stats import ReadStats, add_to_read_report
from textlab.data.sources.records import (
    expand_paths,
    label_ids,
    read_records,
    unknown_label_error,
)
from textlab.data.splits import TextSplit

log = logging.getLogger(__name__)

KEY = "data.extra_train"


def read_extra_train(
    spec: str | Sequence[str],
    label_names: Sequence[str],
    held_out: Collection[str],
    report_dir: str | Path | None,
) -> TextSplit:
    """The records of `spec` (paths or globs) with label ids in `label_names`' order, except
    those whose text is in `held_out`."""
    files = expand_paths(KEY, spec)
    if not files:
        raise UserError(f"{KEY}={spec!r}: no files; expected paths or globs of labelled records")
    ids = label_ids(label_names)
    stats = ReadStats()
    texts, labels = [], []
    for path in files:
        for line, text, label in read_records(path, "text", "label", stats):
            if label not in ids:
                raise unknown_label_error(f"{KEY}: {path}:{line}", label, label_names)
            if text in held_out:
                stats.kept -= 1  # read_records kept it; this rule takes it back
                stats.skip("held_out", f"{path}:{line}")
                continue
            texts.append(text)
            labels.append(ids[label])
    stats.report(KEY)
    add_to_read_report(report_dir, "extra_train", stats)
    if not texts:
        names = ", ".join(str(path) for path in files)
        raise UserError(
            f"{KEY}: no usable records in {names}; expected 'text' and 'label', "
            "texts not in the validation or test split"
        )
    return TextSplit(texts, labels)


def with_extra_train(
    splits: Mapping[str, TextSplit],
    spec: str | Sequence[str],
    label_names: Sequence[str],
    report_dir: str | Path | None,
) -> TextSplit:
    """splits["train"] followed by the records of `spec` that are not validation/test texts."""
    held_out = {text for name in ("val", "test") if name in splits for text in splits[name].texts}
    extra = read_extra_train(spec, label_names, held_out, report_dir)
    train = splits["train"]
    log.info("%s: %d texts added to the %d training texts", KEY, len(extra), len(train))
    return TextSplit(train.texts + extra.texts, train.labels + extra.labels)
