"""The run-dir contract: the name of each file a run writes, defined once (see README).

conf/ reads the names through the `run_file` resolver (`${run_file:checkpoints}`), so the
callbacks and logger configs cannot drift from what the code and the README promise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

METRICS = "metrics.json"
PROVENANCE = "provenance.json"
TOKENIZER = "tokenizer.json"
CHECKPOINTS = "checkpoints"
BEST_CHECKPOINT = "best"  # ModelCheckpoint adds ".ckpt"
LAST_CHECKPOINT = "last"
TENSORBOARD = "tensorboard"
CSV_LOGS = "csv"  # logger=csv: csv/metrics.csv, one row per logging step and epoch
# test-split reports (training's test stage and mode=eval)
CONFUSION_JSON = "confusion_matrix.json"
CONFUSION_PNG = "confusion_matrix.png"
ERRORS = "errors.jsonl"
# mode=predict and mode=export
PREDICTIONS = "predictions.jsonl"
ONNX_MODEL = "model.onnx"
EXPORT_INFO = "export.json"
# mode=serve: its settings, the checkpoint and what /info reports (read by each worker)
SERVE_INFO = "serve.json"
# what reading the data skipped or repaired (file-backed data, mode=predict)
SKIPPED = "skipped.json"
# logger=mlflow: the MLflow run of this run dir, and the parent run of a sweep (in its dir)
MLFLOW_RUN_ID = "mlflow_run_id"
MLFLOW_PARENT_RUN_ID = "mlflow_parent_run_id"
# a sweep job its Optuna pruner stopped early (run/pruning.py)
PRUNED = "pruned.json"

# what `${run_file:NAME}` in conf/ may ask for
CONFIG_NAMES = {
    "checkpoints": CHECKPOINTS,
    "best_checkpoint": BEST_CHECKPOINT,
    "last_checkpoint": LAST_CHECKPOINT,
    "tensorboard": TENSORBOARD,
    "csv": CSV_LOGS,
}


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS


def pruned_at(job_dir: Path) -> dict[str, Any] | None:
    """What a pruned job recorded (`trial`, `epoch`, the value), or None if it was not pruned."""
    path = job_dir / PRUNED
    return json.loads(path.read_text()) if path.is_file() else None


def forget_pruned(job_dir: Path) -> None:
    """Remove an earlier job's pruned.json (a study of another name reuses job numbers)."""
    (job_dir / PRUNED).unlink(missing_ok=True)


def _config_name(name: str) -> str:
    if name not in CONFIG_NAMES:
        raise ValueError(f"${{run_file:{name}}}: expected one of {', '.join(CONFIG_NAMES)}")
    return CONFIG_NAMES[name]


def register_resolver() -> None:
    """Make `${run_file:NAME}` resolvable; call before Hydra composes conf/ (run.py does)."""
    if not OmegaConf.has_resolver("run_file"):
        OmegaConf.register_new_resolver("run_file", _config_name)
