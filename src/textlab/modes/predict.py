"""`mode=predict`: label new reviews with a checkpoint, one text or a whole file in batches."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from rich.console import Console

from textlab.base.atomic import open_atomic
from textlab.base.errors import UserError, require
from textlab.base.run_files import PREDICTIONS
from textlab.base.typecheck import check_values
from textlab.checkpoint.format import SavedRun
from textlab.data.read_stats import ReadStats, write_read_report
from textlab.data.sources.records import (
    decode_lines,
    open_binary,
    parse_json_line,
    record_format,
)
from textlab.run.inference import TextPredictor, clean_review

log = logging.getLogger(__name__)

FORMATS = ("auto", "text", "jsonl")


def predict_keys(
    text: str | None, input: str | None, format: str, text_field: str, batch_size: int
) -> None:
    """The keys of `predict` in conf/config.yaml; their values are checked against these hints."""


def read_reviews(
    path: Path, fmt: str, text_field: str, stats: ReadStats | None = None
) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line of a plain-text or JSONL file (or `.gz`).

    Every review gets a prediction, so nothing is skipped: a line that is not a review is an
    error; invalid UTF-8 is replaced and a text over MAX_TEXT_CHARS is cut (the model reads
    only `max_length` tokens of it anyway), both counted in `stats`.
    """
    if not path.is_file():
        what = "not a regular file (a folder, pipe or device)" if path.exists() else "no such file"
        raise UserError(f"predict.input={path}: {what}")
    stats = stats if stats is not None else ReadStats()
    # the suffix rule of data files (records.py): .jsonl, .ndjson and .json, maybe gzipped
    jsonl = fmt == "jsonl" or (fmt == "auto" and record_format(path) == "jsonl")
    try:
        with open_binary(path) as handle:
            for number, line in enumerate(decode_lines(handle, path, stats), start=1):
                if line.strip():
                    text = review_on_line(line, jsonl, text_field, f"{path}:{number}", stats)
                    yield number, text
    except (OSError, EOFError, zlib.error) as err:  # e.g. a corrupt or truncated .gz
        raise UserError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None


def review_on_line(line: str, jsonl: bool, text_field: str, where: str, stats: ReadStats) -> str:
    """The review on one non-blank line, made valid Unicode and cut to MAX_TEXT_CHARS."""
    if not jsonl:
        text = line.rstrip("\r\n")
    else:
        record = parse_json_line(line)
        if not isinstance(record, dict):
            raise UserError(f"{where}: not a JSON object; expected one review per line")
        if not isinstance(record.get(text_field), str):
            raise UserError(f"{where}: no string field {text_field!r}; set predict.text_field")
        text = record[text_field]
    text, repairs = clean_review(text)
    for reason in repairs:
        stats.repair(reason, where)
    stats.kept += 1
    return text


def predict(cfg: DictConfig, saved: SavedRun) -> list[dict[str, Any]]:
    """Write predictions.jsonl for `predict.text` or `predict.input`; returns the first records."""
    opts = cfg.predict
    check_values(predict_keys, opts, "predict")
    require(
        bool(opts.get("text")) != bool(opts.get("input")),
        "predict.text/predict.input",
        (opts.get("text"), opts.get("input")),
        "exactly one of them: a review, or a file with one review per line",
    )
    fmt = opts.get("format", "auto")
    require(fmt in FORMATS, "predict.format", fmt, f"one of {', '.join(FORMATS)}")
    batch_size = opts.get("batch_size", 64)
    require(
        isinstance(batch_size, int) and batch_size > 0,
        "predict.batch_size",
        batch_size,
        "a positive integer",
    )
    stats = ReadStats()
    if opts.get("text"):
        text = review_on_line(str(opts.text), False, "", "predict.text", stats)
        reviews: Iterator[tuple[int, str]] = iter([(1, text)])
    else:
        reviews = read_reviews(Path(opts.input), fmt, opts.get("text_field", "text"), stats)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    predictor = TextPredictor(saved.build_net(), saved.tokenizer, saved.max_length, device)
    out_path = Path(cfg.paths.output_dir) / PREDICTIONS
    first: list[dict[str, Any]] = []
    count = 0
    with open_atomic(out_path) as handle:  # an interrupted run leaves no half-written file
        while chunk := list(islice(reviews, batch_size)):
            probs = predictor([text for _, text in chunk])
            for (line, text), row in zip(chunk, probs.tolist(), strict=True):
                record = prediction_record(line, text, row, saved.label_names)
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                if len(first) < 10:
                    first.append(record)
            count += len(chunk)
    if opts.get("text"):
        Console().print(
            f"[bold]{first[0]['label']}[/bold]  probability {first[0]['probability']:.4f}"
        )
    else:
        stats.report("predict.input")
        write_read_report(cfg.paths.output_dir, {"predict": stats})
        log.info("Wrote %d predictions to %s", count, out_path)
        Console().print(f"{count} predictions written to {out_path}")
    return first


def prediction_record(
    line: int, text: str, row: list[float], label_names: tuple[str, ...]
) -> dict[str, Any]:
    """One line of predictions.jsonl: the best label, its probability, and all of them."""
    best = max(range(len(row)), key=row.__getitem__)
    return {
        "line": line,
        "text": text,
        "label": label_names[best],
        "probability": round(row[best], 6),
        "probabilities": {name: round(p, 6) for name, p in zip(label_names, row, strict=True)},
    }
