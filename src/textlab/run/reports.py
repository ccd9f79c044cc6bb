"""Test-set reports: the confusion matrix and the most confidently wrong reviews.

Written to the run dir (confusion_matrix.json / .png, errors.jsonl) and, when a
TensorBoardLogger is attached, logged as a figure and a text table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from textlab.base import framework
from textlab.base.atomic import open_atomic, write_json_atomic, write_text_atomic
from textlab.base.run_files import CONFUSION_JSON, CONFUSION_PNG, ERRORS
from textlab.run.inference import probabilities

log = logging.getLogger(__name__)

NUM_ERRORS = 25  # reviews in errors.jsonl and TensorBoard, most confident first


def confusion_matrix(
    labels: torch.Tensor, predicted: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Counts (C, C): row = true label, column = predicted label."""
    index = labels.long() * num_classes + predicted.long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def confusion_figure(matrix: torch.Tensor, label_names: Sequence[str]) -> Figure:
    """Heatmap of counts, each cell labelled with its count and share of its row."""
    size = 1.2 + 0.9 * len(label_names)
    # a bare Figure on the Agg canvas: no pyplot global state, no GUI backend
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    counts = matrix.float()
    shares = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)
    image = ax.imshow(shares.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of true label")
    ticks = range(len(label_names))
    ax.set_xticks(ticks, label_names, rotation=45, ha="right")
    ax.set_yticks(ticks, label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for row in ticks:
        for col in ticks:
            color = "white" if shares[row, col] > 0.5 else "black"
            text = f"{int(counts[row, col])}\n{shares[row, col]:.1%}"
            ax.text(col, row, text, ha="center", va="center", color=color, fontsize=8)
    ax.set_title(f"Confusion matrix ({int(counts.sum())} reviews)")
    return fig


def confident_errors(
    probs: torch.Tensor, labels: torch.Tensor, limit: int = NUM_ERRORS
) -> list[tuple[int, float]]:
    """(index, probability of the wrong prediction) for the `limit` most confident mistakes."""
    confidence, predicted = probs.max(dim=-1)
    wrong = (predicted != labels).nonzero().flatten()
    order = confidence[wrong].argsort(descending=True, stable=True)[:limit]
    return [(int(wrong[i]), float(confidence[wrong[i]])) for i in order]


def write_reports(
    run_dir: str | Path,
    probs: torch.Tensor,
    labels: torch.Tensor,
    texts: dict[int, str],
    label_names: Sequence[str],
    loggers: Sequence[Any] = (),
    step: int = 0,
) -> dict[str, Any]:
    """Write the three report files and log them to every TensorBoardLogger in `loggers`.

    `texts` maps test-set index to review text for (at least) the confident errors.
    """
    run_dir = Path(run_dir)
    predicted = probs.argmax(dim=-1)
    matrix = confusion_matrix(labels, predicted, len(label_names))
    write_json_atomic(
        run_dir / CONFUSION_JSON,
        {"label_names": list(label_names), "rows": "true label", "matrix": matrix.tolist()},
    )
    errors = [
        {
            "index": index,
            "text": texts[index],
            "label": label_names[int(labels[index])],
            "predicted": label_names[int(predicted[index])],
            "probability": round(probability, 6),
        }
        for index, probability in confident_errors(probs, labels)
    ]
    write_text_atomic(
        run_dir / ERRORS, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors)
    )
    fig = confusion_figure(matrix, label_names)
    with open_atomic(run_dir / CONFUSION_PNG, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure("test/confusion_matrix", fig, step)
            logger.experiment.add_text("test/confident_errors", errors_markdown(errors), step)
    return {"matrix": matrix.tolist(), "errors": errors}


def errors_markdown(errors: list[dict[str, Any]], max_chars: int = 400) -> str:
    """A Markdown table for TensorBoard's text tab."""
    if not errors:
        return "No misclassified reviews."
    lines = ["| probability | true | predicted | review |", "|---:|---|---|---|"]
    for e in errors:
        text = e["text"][:max_chars].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {e['probability']:.4f} | {e['label']} | {e['predicted']} | {text} |")
    return "\n".join(lines)


def report_test_split(trainer: L.Trainer, net: nn.Module, datamodule: Any, run_dir: Path) -> None:
    """Predict the test split once more (rank zero, trainer's precision) and write the reports.

    A plain pass on one process sees the whole split in order even under DDP, where the
    test stage's own outputs are spread across ranks.
    """
    # Lightning moves the model back to the CPU after testing; run where the test ran
    device = trainer.strategy.root_device
    precision = framework.evaluation_precision(trainer)
    probs, labels = probabilities(net.to(device), datamodule.test_dataloader(), device, precision)
    assert labels is not None
    wanted = {index for index, _ in confident_errors(probs, labels)}
    split = datamodule.splits()["test"]
    # a streamed split has no list of texts: read it once, keeping only the reviews needed
    examples = (
        split.examples()
        if hasattr(split, "examples")
        else zip(split.texts, split.labels, strict=True)
    )
    texts = {i: text for i, (text, _) in enumerate(islice(examples, len(probs))) if i in wanted}
    write_reports(
        run_dir, probs, labels, texts, datamodule.label_names, trainer.loggers, trainer.global_step
    )
    log.info("Wrote %s, %s and %s to %s", CONFUSION_JSON, CONFUSION_PNG, ERRORS, run_dir)
