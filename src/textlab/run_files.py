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


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS
