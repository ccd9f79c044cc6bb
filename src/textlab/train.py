"""Train → validate every epoch → test the best checkpoint → write metrics.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint, LearningRateMonitor
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from textlab import distributed, provenance, reports, resume, run_files
from textlab.atomic import write_json_atomic, write_text_atomic
from textlab.builders import build, build_all, build_net
from textlab.checkpoint import SavedRun
from textlab.fingerprint import fingerprint_json
from textlab.tokenization import pad_id

log = logging.getLogger(__name__)


def train(cfg: DictConfig, saved: SavedRun | None = None) -> dict[str, float]:
    """Run one training job as configured; returns the final metrics (also in metrics.json).

    With `saved` (the checkpoint at `cfg.ckpt_path`), training resumes from it, with its
    tokenizer; `cfg` is then already merged with its config (see checkpoint_config.py).
    """
    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)

    datamodule = build(cfg.data, "data")
    spec = build(cfg.tokenizer, "tokenizer")
    train_split = datamodule.splits()["train"]
    train_fingerprint = train_split.fingerprint()
    if saved is not None:
        tokenizer = saved.tokenizer
    else:
        tokenizer = spec.load_or_train(train_split.texts, train_fingerprint, cfg.paths.cache_dir)
    datamodule.attach_tokenizer(tokenizer)

    net = build_net(
        cfg.model,
        vocab_size=tokenizer.get_vocab_size(),
        num_classes=datamodule.num_classes,
        pad_id=pad_id(tokenizer),
    )
    module = build(cfg.module, "module", net=net, num_classes=datamodule.num_classes)
    if saved is not None:
        resume.check_can_resume(saved, cfg, module)
    config = OmegaConf.to_container(cfg, resolve=True)
    module.checkpoint_extras = {
        "config": config,
        "tokenizer": tokenizer.to_str(),
        "label_names": list(datamodule.label_names),
    }
    trainer = build_trainer(cfg, resume.training_callbacks(cfg.seed, cfg.get("ckpt_path")))

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

    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    metrics = {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith("val/")
    }
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    # Without a test split (e.g. an aclImdb copy with train/ only) there is no test stage.
    if datamodule.has_split("test"):
        (test_metrics,) = trainer.test(
            module, datamodule=datamodule, ckpt_path=best or None, verbose=False, weights_only=True
        )
        metrics.update({name: float(value) for name, value in test_metrics.items()})
        if trainer.is_global_zero:
            reports.report_test_split(trainer, module.net, datamodule, run_dir)
    metrics = dict(sorted(metrics.items()))

    if trainer.is_global_zero:
        write_json_atomic(run_files.metrics_path(run_dir), metrics)
        record.update(runtime_s=round(time.time() - started, 2), best_checkpoint=best or None)
        write_json_atomic(run_dir / run_files.PROVENANCE, record)
        log_hparams(trainer, config, metrics)
        print_metrics(metrics)
    return metrics


def build_trainer(
    cfg: DictConfig, extra_callbacks: list[Any], checkpoints: bool = True
) -> L.Trainer:
    """The configured Trainer; `checkpoints=False` leaves out checkpoint callbacks (eval)."""
    callbacks = build_all(cfg.get("callbacks"), "callbacks")
    if not checkpoints:
        callbacks = [c for c in callbacks if not isinstance(c, Checkpoint)]
    loggers = build_all(cfg.get("logger"), "logger")
    if not loggers:
        # LearningRateMonitor refuses to run without a logger; `logger=none` should still train.
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer = build(
        cfg.trainer, "trainer", callbacks=callbacks + extra_callbacks, logger=loggers or False
    )
    distributed.launch_sweep_job_ranks(trainer)
    return trainer


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
