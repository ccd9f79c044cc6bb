"""How a run ends, the same for training and evaluation: test the test split and write its
reports, then metrics.json, provenance.json with the runtime, the hparams, the printed table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from rich.console import Console
from rich.table import Table

from textlab.base import run_files
from textlab.base.atomic import write_json_atomic
from textlab.run.mlflow_tracking import record_outcome
from textlab.run.reports import report_test_split


def run_test_stage(
    trainer: L.Trainer,
    module: L.LightningModule,
    datamodule: Any,
    run_dir: Path,
    ckpt_path: str | None = None,
) -> dict[str, float]:
    """Test metrics over the whole test split (with `ckpt_path`'s weights if given); rank 0
    then writes the confusion matrix and the confident errors."""
    (metrics,) = trainer.test(
        module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False, weights_only=True
    )
    if trainer.is_global_zero:
        report_test_split(trainer, module.net, datamodule, run_dir)
    return {name: float(value) for name, value in metrics.items()}


def finish_run(
    trainer: L.Trainer,
    run_dir: Path,
    metrics: dict[str, float],
    record: dict[str, Any],
    started: float,
    **facts: Any,
) -> None:
    """On rank 0: metrics.json, provenance.json (`record` plus runtime and `facts`), the
    hyperparameters against the metrics in TensorBoard, the final metrics and the run's files
    in MLflow, and the metrics table on the console."""
    if not trainer.is_global_zero:
        return
    write_json_atomic(run_files.metrics_path(run_dir), metrics)
    record.update(runtime_s=round(time.time() - started, 2), **facts)
    write_json_atomic(run_dir / run_files.PROVENANCE, record)
    log_hparams(trainer, record["config"], metrics)
    best = facts.get("best_checkpoint")
    record_outcome(trainer.loggers, run_dir, metrics, record, trainer.global_step, best)
    print_metrics(metrics)


def log_hparams(trainer: L.Trainer, config: dict[str, Any], metrics: dict[str, float]) -> None:
    """Hyperparameters against the final metrics in TensorBoard's HPARAMS tab."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            hparams = {key: value for key, value in config.items() if key != "paths"}
            logger.log_hyperparams(hparams, metrics=metrics)


def print_metrics(metrics: dict[str, float]) -> None:
    table = Table(title="Final metrics")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    Console().print(table)
