"""The Trainer every mode gets: the configured callbacks and loggers, plus what training needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import Callback, Checkpoint, LearningRateMonitor
from omegaconf import DictConfig

from textlab.base import run_files
from textlab.base.errors import ConfigValueError
from textlab.base.instantiate import build, build_all
from textlab.callbacks.requeue import RequeueOnSignal
from textlab.callbacks.resume import CarryBestCheckpoint, RestoreLoaderPosition
from textlab.callbacks.seed_each_batch import SeedEachBatch
from textlab.checkpoint.atomic_io import AtomicCheckpointIO
from textlab.checkpoint.format import CheckpointExtras
from textlab.run.pruning import pruning_callbacks, ranks_prune_too
from textlab.run.sweep_ranks import SweepJobRanks


def training_callbacks(
    seed: int, extras: dict[str, Any], resumed_from: str | None = None
) -> list[Callback]:
    """The callbacks every training run gets, whatever `callbacks=` says: the seed of each
    batch, the `textlab` entry of each checkpoint, on resume the loader position and the
    best checkpoint so far, and in an Optuna trial with a pruner its reports (run/pruning.py)."""
    callbacks: list[Callback] = [SeedEachBatch(seed), CheckpointExtras(extras)]
    if resumed_from:
        callbacks += [RestoreLoaderPosition(), CarryBestCheckpoint(resumed_from)]
    return callbacks + pruning_callbacks()


def check_trains_and_validates(trainer: DictConfig) -> None:
    """Refuse, before any work, limits under which a run would never train or never validate:
    every metrics.json has val/* and its test/* come from the best validated checkpoint."""
    why = "a training run must train and validate at least once"
    for key in ("max_epochs", "max_steps", "limit_train_batches", "limit_val_batches"):
        value = trainer.get(key)
        # bools are ints too; 0 and 0.0 both mean "none"
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            raise ConfigValueError(f"trainer.{key}={value}: expected more than 0; {why}")
    every, epochs = trainer.get("check_val_every_n_epoch"), trainer.get("max_epochs")
    epochs_decide = trainer.get("max_steps", -1) in (-1, None) and isinstance(epochs, int)
    if epochs_decide and isinstance(every, int) and 0 < epochs < every:
        raise ConfigValueError(
            f"trainer.check_val_every_n_epoch={every}: expected at most "
            f"trainer.max_epochs={epochs}; {why}"
        )


def build_trainer(
    cfg: DictConfig,
    extra_callbacks: list[Callback],
    checkpoints: bool = True,
    sweep_ranks: SweepJobRanks | None = None,
) -> L.Trainer:
    """The configured Trainer; `checkpoints=False` leaves out checkpoint callbacks (eval).

    In a sweep job (`sweep_ranks`), the job starts the Trainer's DDP ranks itself.
    """
    callbacks = build_all(cfg.get("callbacks"), "callbacks")
    if not checkpoints:
        callbacks = [c for c in callbacks if not isinstance(c, Checkpoint)]
    loggers = build_all(cfg.get("logger"), "logger")
    if not loggers:
        # LearningRateMonitor refuses to run without a logger; `logger=none` should still train.
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    plugins: list[Any] = [AtomicCheckpointIO()]
    if SLURMEnvironment.detect():
        # textlab's requeue handler instead of Lightning's (callbacks/requeue.py says why)
        plugins.append(SLURMEnvironment(auto_requeue=False))
        if checkpoints:
            last = Path(cfg.paths.output_dir, run_files.CHECKPOINTS, run_files.LAST_CHECKPOINT)
            callbacks.append(RequeueOnSignal(last.with_suffix(".ckpt")))
    trainer = build(
        cfg.trainer,
        "trainer",
        callbacks=callbacks + extra_callbacks,
        logger=loggers or False,
        plugins=plugins,
    )
    if sweep_ranks is not None:
        with ranks_prune_too(extra_callbacks):
            sweep_ranks.launch(trainer)
    return trainer
