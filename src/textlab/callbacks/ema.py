"""An exponential moving average of the weights, validated, checkpointed and tested instead."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn

from textlab.base.errors import require


class EMA(EMAWeightAveraging):
    """Lightning's EMAWeightAveraging, off while `decay=None` (the default config's value).

    While on, validation scores the average, `best.ckpt`/`last.ckpt` hold it as `state_dict`
    (so `mode=eval|predict|serve|export` and `pretrained=` read it) and the raw weights as
    `current_model_state`, from which a resumed run goes on training.
    """

    def __init__(self, decay: float | None = None, update_every_n_steps: int = 1) -> None:
        # above 1 the average runs away from the weights; at 1 it never leaves them
        ok = decay is None or 0.0 <= decay < 1.0
        require(ok, "callbacks.ema.decay", decay, "null (off) or a number in [0, 1)")
        steps = update_every_n_steps
        require(steps >= 1, "callbacks.ema.update_every_n_steps", steps, "at least 1")
        super().__init__(
            decay=0.999 if decay is None else decay, update_every_n_steps=update_every_n_steps
        )
        self.enabled = decay is not None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.enabled:
            super().setup(trainer, pl_module, stage)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return self.enabled and super().should_update(step_idx, epoch_idx)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled:
            super().on_train_end(trainer, pl_module)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.enabled:
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Lightning 2.6 reloads `current_model_state` whenever its average model exists, which
        # it still does when `mode=train` tests best.ckpt after fitting: the test would score
        # the raw weights, not the average that val/acc chose. Outside fitting, `state_dict`
        # (the average, already loaded) is the model.
        if self.enabled and trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
