"""The run-dir contract: the name of each file a run writes, defined once (see README)."""

from __future__ import annotations

from pathlib import Path

METRICS = "metrics.json"
PROVENANCE = "provenance.json"
TOKENIZER = "tokenizer.json"
CHECKPOINTS = "checkpoints"
BEST_CHECKPOINT = "best"  # ModelCheckpoint adds ".ckpt"
LAST_CHECKPOINT = "last"
TENSORBOARD = "tensorboard"
# test-split reports (training's test stage and mode=eval)
CONFUSION_JSON = "confusion_matrix.json"
CONFUSION_PNG = "confusion_matrix.png"
ERRORS = "errors.jsonl"
# mode=predict and mode=export
PREDICTIONS = "predictions.jsonl"
ONNX_MODEL = "model.onnx"
EXPORT_INFO = "export.json"
# what reading the data skipped or repaired (file-backed data, mode=predict)
SKIPPED = "skipped.json"


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS
