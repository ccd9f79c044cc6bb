"""Gradual unfreezing (ULMFiT): train a fresh class head on a frozen pretrained encoder first."""

from __future__ import annotations

import logging
from collections.abc import Callable

import lightning as L
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class FreezeEncoder(Callback):
    """Everything but the head gets no gradient for the first `epochs` epochs.

    Not Lightning's BaseFinetuning: it adds the unfrozen parameters to the optimiser as a new
    group mid-run, which a one-cycle schedule built over the first groups cannot follow. Here
    every group exists from the start; AdamW simply skips parameters without a gradient
    (weight decay included), and a resumed run freezes by the epoch it resumes in.
    """

    def __init__(self, epochs: int, is_head: Callable[[str], bool]) -> None:
        self.epochs = epochs
        self.is_head = is_head

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        frozen = trainer.current_epoch < self.epochs
        for name, parameter in pl_module.net.named_parameters():
            if not self.is_head(name):
                parameter.requires_grad_(not frozen)
        if trainer.current_epoch in (0, self.epochs):
            log.info(
                "Epoch %d: encoder %s",
                trainer.current_epoch,
                "frozen, training the head only" if frozen else "unfrozen",
            )
