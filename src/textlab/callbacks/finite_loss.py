"""Stop training at the first NaN or infinite loss, instead of training on NaNs for hours."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from textlab.base import framework
from textlab.base.errors import NonFiniteLossError


class FiniteLossCheck(pl.Callback):
    """Raise `NonFiniteLossError` (one `error:` line, exit 2) when the training loss is not finite.

    Checked before backward, so neither the weights nor any checkpoint take a NaN step. Under
    DDP the ranks agree on the decision (one all-reduce of a flag per step): a rank that
    stopped alone would leave the others waiting for its gradients.
    """

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        if trainer.strategy.reduce_boolean_decision(finite, all=True):
            return
        value = f"is {loss.item()}" if not finite else "is NaN or infinite on another process"
        raise NonFiniteLossError(
            f"the training loss {value} at step {trainer.global_step} (epoch "
            f"{trainer.current_epoch}, batch {framework.training_batch_index(trainer)}); "
            "expected a finite loss: lower module.optimizer.lr, keep trainer.gradient_clip_val, "
            "or set module.check_finite_loss=false to train on"
        )
