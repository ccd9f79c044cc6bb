"""Train → validate every epoch → test the best checkpoint → write metrics.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from textlab import provenance, run_files
from textlab.atomic import write_json_atomic, write_text_atomic
from textlab.builders import build, build_all
from textlab.fingerprint import fingerprint_json
from textlab.tokenization import pad_id

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job as configured; returns the final metrics (also in metrics.json)."""
    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)

    datamodule = build(cfg.data, "data")
    spec = build(cfg.tokenizer, "tokenizer")
    train_split = datamodule.splits()["train"]
    train_fingerprint = train_split.fingerprint()
    tokenizer = spec.load_or_train(train_split.texts, train_fingerprint, cfg.paths.cache_dir)
    datamodule.attach_tokenizer(tokenizer)

    net = build(
        cfg.model,
        "model",
        vocab_size=tokenizer.get_vocab_size(),
        num_classes=datamodule.num_classes,
        pad_id=pad_id(tokenizer),
    )
    module = build(cfg.module, "module", net=net, num_classes=datamodule.num_classes)
    config = OmegaConf.to_container(cfg, resolve=True)
    module.checkpoint_extras = {
        "config": config,
        "tokenizer": tokenizer.to_str(),
        "label_names": list(datamodule.label_names),
    }
    trainer = build(
        cfg.trainer,
        "trainer",
        callbacks=build_all(cfg.get("callbacks"), "callbacks"),
        logger=build_all(cfg.get("logger"), "logger") or False,
    )

    fingerprints = {
        "data": fingerprint_json(
            {name: split.fingerprint() for name, split in sorted(datamodule.splits().items())}
        ),
        "train_split": train_fingerprint,
        "tokenizer": fingerprint_json(tokenizer.to_str()),
    }
    record = provenance.collect(config, fingerprints)
    if trainer.is_global_zero:
        write_text_atomic(run_dir / run_files.TOKENIZER, tokenizer.to_str())
        write_json_atomic(run_dir / run_files.PROVENANCE, record)

    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith("val/")
    }
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    (test_metrics,) = trainer.test(
        module, datamodule=datamodule, ckpt_path=best or None, verbose=False
    )
    metrics.update({name: float(value) for name, value in test_metrics.items()})
    metrics = dict(sorted(metrics.items()))

    if trainer.is_global_zero:
        write_json_atomic(run_files.metrics_path(run_dir), metrics)
        record.update(runtime_s=round(time.time() - started, 2), best_checkpoint=best or None)
        write_json_atomic(run_dir / run_files.PROVENANCE, record)
        log_hparams(trainer, config, metrics)
        print_metrics(metrics)
    return metrics


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
