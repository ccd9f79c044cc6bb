"""`data.extra_train`: labelled records added to the training split only.

What it is for is self-training: a teacher's `mode=predict` output on unlabelled text
(predictions.jsonl has `text` and `label`) becomes more training data for a student
(benchmarks/README.md "Self-training"). Files are read by the rules of data=text_files (JSONL,
CSV/TSV, `.gz`; columns `text` and `label`, the label by name); bad records are counted skips
in the log and skipped.json, and so is every text that is also in the validation or test split:
a teacher's answer for it would leak into the score the student is judged by (aclImdb's
unlabelled reviews hold 33 of the 2,500 in its validation carve, word for word).

With `targets="probabilities"` the student learns the teacher's whole distribution (the
`probabilities` of predictions.jsonl, JSONL only) instead of its label: knowledge distillation
(Hinton et al. 2015), where a review the teacher was unsure of teaches "unsure", not a coin
flip. The source's own training texts keep their labels, as one-hot targets.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from textlab.base.errors import UserError
from textlab.data.read_stats import ReadStats, add_to_read_report
from textlab.data.sources.records import (
    decode_lines,
    expand_paths,
    label_ids,
    open_binary,
    parse_json_line,
    read_records,
    record_format,
    unknown_label_error,
)
from textlab.data.splits import TextSplit

log = logging.getLogger(__name__)

KEY = "data.extra_train"
TARGETS = ("label", "probabilities")


def read_extra_train(
    spec: str | Sequence[str],
    label_names: Sequence[str],
    held_out: Collection[str],
    report_dir: str | Path | None,
    targets: str = "label",
) -> TextSplit:
    """The records of `spec` (paths or globs) with label ids in `label_names`' order, except
    those whose text is in `held_out`; with `targets="probabilities"`, their distributions."""
    require_choice(targets, spec)
    files = expand_paths(KEY, spec)
    if not files:
        raise UserError(f"{KEY}={spec!r}: no files; expected paths or globs of labelled records")
    ids = label_ids(label_names)
    stats = ReadStats()
    texts, labels, distributions = [], [], []
    for path in files:
        by_line = read_probabilities(path, label_names) if targets == "probabilities" else {}
        for line, text, label in read_records(path, "text", "label", stats):
            if label not in ids:
                raise unknown_label_error(f"{KEY}: {path}:{line}", label, label_names)
            if text in held_out:
                stats.kept -= 1  # read_records kept it; this rule takes it back
                stats.skip("held_out", f"{path}:{line}")
                continue
            texts.append(text)
            labels.append(ids[label])
            if targets == "probabilities":
                distributions.append(by_line[line])
    stats.report(KEY)
    add_to_read_report(report_dir, "extra_train", stats)
    if not texts:
        names = ", ".join(str(path) for path in files)
        raise UserError(
            f"{KEY}: no usable records in {names}; expected 'text' and 'label', "
            "texts not in the validation or test split"
        )
    return TextSplit(texts, labels, distributions if targets == "probabilities" else None)


def require_choice(targets: str, extra_train: Any) -> None:
    if targets not in TARGETS:
        raise UserError(f"{KEY}_targets={targets!r}; expected one of {', '.join(TARGETS)}")
    # e.g. experiment=imdb_lstm_distilled without its predictions: not a plain run in disguise
    if targets == "probabilities" and extra_train is None:
        raise UserError(f"{KEY}_targets=probabilities needs {KEY}=<a teacher's predictions.jsonl>")


def read_probabilities(path: Path, label_names: Sequence[str]) -> dict[int, list[float]]:
    """Line number → the record's `probabilities` in `label_names`' order, for every JSON
    record with a text (the lines read_records can yield); anything else is a one-line error."""
    if record_format(path) != "jsonl":
        raise UserError(f"{KEY}_targets=probabilities: {path} is not JSONL; expected JSONL records")
    found = {}
    with open_binary(path) as handle:
        for line, raw in enumerate(decode_lines(handle, path, ReadStats()), start=1):
            record = parse_json_line(raw) if raw.strip() else None
            if isinstance(record, dict) and isinstance(record.get("text"), str):
                found[line] = distribution(record.get("probabilities"), label_names)
                if found[line] is None:
                    raise UserError(
                        f"{KEY}: {path}:{line}: probabilities {record.get('probabilities')!r}; "
                        f"expected a number >= 0 for each of {list(label_names)}, summing to 1"
                    )
    return found


def distribution(value: Any, label_names: Sequence[str]) -> list[float] | None:
    """`value` ({label: p}) as a list in `label_names`' order, renormalised (predictions.jsonl
    rounds to 6 digits); None unless it names every label, with finite p >= 0 summing to ~1."""
    if not isinstance(value, dict) or set(value) != set(label_names):
        return None
    numbers = [value[name] for name in label_names]
    if not all(is_number(p) and math.isfinite(p) and p >= 0 for p in numbers):
        return None
    total = sum(numbers)
    return [p / total for p in numbers] if abs(total - 1) <= 1e-3 else None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def with_extra_train(
    splits: Mapping[str, TextSplit],
    spec: str | Sequence[str],
    label_names: Sequence[str],
    report_dir: str | Path | None,
    targets: str = "label",
) -> TextSplit:
    """splits["train"] followed by the records of `spec` that are not validation/test texts;
    with `targets="probabilities"` every text gets a target distribution (one-hot for train's)."""
    held_out = {text for name in ("val", "test") if name in splits for text in splits[name].texts}
    extra = read_extra_train(spec, label_names, held_out, report_dir, targets)
    train = splits["train"]
    log.info("%s: %d texts added to the %d training texts", KEY, len(extra), len(train))
    merged = TextSplit(train.texts + extra.texts, train.labels + extra.labels)
    if extra.targets is not None:
        one_hot = [[float(i == label) for i in range(len(label_names))] for label in train.labels]
        merged.targets = one_hot + extra.targets
    return merged
