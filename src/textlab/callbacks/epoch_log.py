"""One run.log line per validated epoch: readable without a terminal or TensorBoard."""

from __future__ import annotations

import logging
import time

import lightning.pytorch as pl

log = logging.getLogger(__name__)


class EpochLog(pl.Callback):
    """Logs `epoch 2/5: val/acc=0.9024 ... (312 s)` after each validation, on rank 0."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # validation metrics are final here (checkpoint callbacks read them at this point)
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        values = " ".join(
            f"{name}={float(value):.4f}"
            for name, value in sorted(trainer.callback_metrics.items())
            if name.startswith("val/")
        )
        log.info(
            "epoch %d/%d: %s (%.0f s)",
            trainer.current_epoch + 1,
            trainer.max_epochs,
            values,
            time.perf_counter() - self.start,
        )
