"""Early stopping on val/acc that is off until asked for, and says in run.log why it stopped."""

from __future__ import annotations

import logging

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

log = logging.getLogger(__name__)


class EarlyStop(EarlyStopping):
    """Lightning's EarlyStopping, checked after each validation; `patience=None` never stops.

    Off by default so that `callbacks.early_stopping.patience=2` is all a user types, and its
    state (best score, epochs waited) still travels in checkpoints, so a resumed run counts on.
    """

    def __init__(
        self,
        monitor: str = "val/acc",
        mode: str = "max",
        patience: int | None = None,
        min_delta: float = 0.0,
    ) -> None:
        super().__init__(
            monitor=monitor,
            mode=mode,
            patience=1 if patience is None else patience,
            min_delta=min_delta,
            check_on_train_epoch_end=False,
        )
        self.enabled = patience is not None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled:
            return
        stopping = trainer.should_stop
        super().on_validation_end(trainer, pl_module)
        if trainer.should_stop and not stopping:
            log.info(
                "early stopping after epoch %d of %d: %s did not improve by more than %s for %d "
                "validations (best %.4f); the best checkpoint is tested as usual",
                trainer.current_epoch + 1,
                trainer.max_epochs,
                self.monitor,
                self.min_delta,
                self.patience,
                float(self.best_score),
            )
