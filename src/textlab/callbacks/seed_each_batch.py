"""Reseed torch before every training batch, so randomness follows where training is."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


def batch_seed(seed: int, rank: int, epoch: int, batch: int) -> int:
    """A torch seed for one training batch of one process."""
    return int(np.random.SeedSequence([seed, rank, epoch, batch]).generate_state(1)[0])


class SeedEachBatch(Callback):
    """Reseed torch before every training batch from (seed, rank, epoch, batch index).

    Every training run has it, resumed or not: dropout then depends on where training is, not
    on the history of the RNG, so a run resumed from any checkpoint replays exactly what the
    uninterrupted run drew. (Lightning does not save RNG states, and restoring them would still
    miss the draws a resumed run makes before its first batch, such as the sanity check's.)
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        rank, epoch = trainer.global_rank, trainer.current_epoch
        torch.manual_seed(batch_seed(self.seed, rank, epoch, batch_idx))
