"""`mode=predict`: label new reviews with a checkpoint, one text or a whole file in batches."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from rich.console import Console
from tokenizers import Tokenizer
from torch import nn

from textlab.checkpoint import SavedRun
from textlab.data.collate import PaddingCollator
from textlab.data.read_stats import MAX_TEXT_CHARS, ReadStats, write_read_report
from textlab.data.records import decode_lines
from textlab.errors import UserError, require
from textlab.run_files import PREDICTIONS
from textlab.tokenization import pad_id

log = logging.getLogger(__name__)

FORMATS = ("auto", "text", "jsonl")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def encode_texts(tokenizer: Tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids as training saw them: [CLS] first, truncated to `max_length`."""
    return [encoding.ids[:max_length] for encoding in tokenizer.encode_batch(texts)]


@torch.no_grad()
def probabilities(
    net: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    device: torch.device | str = "cpu",
    precision: AbstractContextManager[Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Softmax over `net`'s logits for every batch: (N, C) probabilities and (N,) labels if any.

    `precision` is the autocast context the trainer used, so the numbers match its test stage.
    """
    was_training = net.training
    net.eval()
    probs, labels = [], []
    try:
        with precision or nullcontext():
            for batch in batches:
                logits = net(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                probs.append(logits.float().softmax(dim=-1).cpu())
                if "labels" in batch:
                    labels.append(batch["labels"].cpu())
    finally:
        net.train(was_training)
    num_classes = probs[0].size(-1) if probs else 0
    all_probs = torch.cat(probs) if probs else torch.empty(0, num_classes)
    return all_probs, torch.cat(labels) if labels else None


def read_reviews(
    path: Path, fmt: str, text_field: str, stats: ReadStats | None = None
) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line of a plain-text or JSONL file.

    Every review gets a prediction, so nothing is skipped: a line that is not a review is an
    error; invalid UTF-8 is replaced and a text over MAX_TEXT_CHARS is cut (the model reads
    only `max_length` tokens of it anyway), both counted in `stats`.
    """
    if not path.is_file():
        raise UserError(f"predict.input={path}: no such file")
    stats = stats if stats is not None else ReadStats()
    jsonl = fmt == "jsonl" or (fmt == "auto" and path.suffix.lower() in JSONL_SUFFIXES)
    with open(path, "rb") as handle:
        for number, line in enumerate(decode_lines(handle, path, stats), start=1):
            if not line.strip():
                continue
            if not jsonl:
                text = line.rstrip("\r\n")
            else:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise UserError(f"{path}:{number}: not a JSON object ({err.msg})") from None
                if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                    raise UserError(
                        f"{path}:{number}: no string field {text_field!r}; set predict.text_field"
                    )
                text = record[text_field]
            if len(text) > MAX_TEXT_CHARS:
                stats.repair("truncated", f"{path}:{number}")
                text = text[:MAX_TEXT_CHARS]
            stats.kept += 1
            yield number, text


def predict(cfg: DictConfig, saved: SavedRun) -> list[dict[str, Any]]:
    """Write predictions.jsonl for `predict.text` or `predict.input`; returns the first records."""
    opts = cfg.predict
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
        reviews: Iterator[tuple[int, str]] = iter([(1, str(opts.text))])
    else:
        reviews = read_reviews(Path(opts.input), fmt, opts.get("text_field", "text"), stats)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = saved.build_net().to(device)
    collator = PaddingCollator(pad_id(saved.tokenizer))
    out_path = Path(cfg.paths.output_dir) / PREDICTIONS
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{PREDICTIONS}.", suffix=".tmp")
    first: list[dict[str, Any]] = []
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            while chunk := list(islice(reviews, batch_size)):
                ids = encode_texts(saved.tokenizer, [text for _, text in chunk], saved.max_length)
                batch = collator([{"input_ids": seq, "label": 0} for seq in ids])
                probs, _ = probabilities(net, [batch], device)
                for (line, text), row in zip(chunk, probs.tolist(), strict=True):
                    record = prediction_record(line, text, row, saved.label_names)
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    if len(first) < 10:
                        first.append(record)
                count += len(chunk)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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
