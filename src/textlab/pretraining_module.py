"""The LightningModule of `mode=pretrain`: a language-model objective (models/language_model.py)
around a classifier's encoder, with its loss, perplexity and token accuracy per stage."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torchmetrics import MeanMetric

from textlab.callbacks.finite_loss import FiniteLossCheck
from textlab.models.language_model import LMOutput
from textlab.models.optimization import configure_optimization

# The objective (holding the encoder under `encoder.`) sits where a classifier's network does,
# so a pretraining checkpoint's encoder weights are its `net.encoder.*` entries.
NET = "net"
ENCODER_PREFIX = f"{NET}.encoder."
OUTPUT_PREFIX = f"{NET}.output."  # the objective's prediction head (models/language_model.py)


class LanguageModelPretraining(L.LightningModule):
    """Minimises `net(input_ids)`'s loss (`LMOutput.minimised`) over blocks of token ids
    (`{"input_ids": (B, T)}`).

    Logged per stage: `loss` (mean cross-entropy per predicted token), `ppl` = exp(loss) and
    `acc` (predicted tokens whose argmax is right; in training with a sampled softmax, right
    among the samples), and whatever else the objective reports (electra: `detect_loss`,
    `detect_acc`, `replaced`). Validation masks the same positions every epoch (a generator
    seeded per batch), so its loss moves only with the weights.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.scheduler_interval, self.seed = scheduler_interval, seed
        for stage in ("train", "val"):
            setattr(self, f"{stage}_loss", MeanMetric())
            setattr(self, f"{stage}_acc", MeanMetric())
        self.tokens_seen = 0

    def _step(self, batch: dict[str, torch.Tensor], stage: str, out: LMOutput) -> torch.Tensor:
        count = out.count.clamp(min=1)
        loss_metric: MeanMetric = getattr(self, f"{stage}_loss")
        acc_metric: MeanMetric = getattr(self, f"{stage}_acc")
        loss_metric.update(out.loss.detach(), weight=count)
        acc_metric.update(out.correct / count, weight=count)
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss_metric, on_step=on_step, on_epoch=True, prog_bar=True)
        self.log(f"{stage}/acc", acc_metric, on_step=False, on_epoch=True, prog_bar=stage == "val")
        if on_step:
            # smoothed enough per batch of thousands of tokens to read as a curve
            # a tensor, not .item(): no device sync on every step
            self.log("train/ppl_step", out.loss.detach().clamp(max=50).exp(), on_step=True)
        for name, value in (out.parts or {}).items():
            # per-batch means of equal-sized blocks: Lightning's epoch mean is the token mean
            self.log(f"{stage}/{name}", value, on_epoch=True, sync_dist=not on_step)
        return out.minimised

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.tokens_seen += batch["input_ids"].numel()
        return self._step(batch, "train", self.net(batch["input_ids"]))

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        generator = torch.Generator(device=batch["input_ids"].device)
        generator.manual_seed(self.seed * 1_000_003 + batch_idx)
        self._step(batch, "val", self.net(batch["input_ids"], generator))

    def on_train_epoch_end(self) -> None:
        self.log("train/ppl", math.exp(min(float(self.train_loss.compute()), 50)))

    def on_validation_epoch_end(self) -> None:
        if self.val_loss.update_count:
            self.log("val/ppl", math.exp(min(float(self.val_loss.compute()), 50)), sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["tokens_seen"] = self.tokens_seen

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.tokens_seen = int(checkpoint.get("tokens_seen", 0))

    def configure_callbacks(self) -> list[Callback]:
        return [FiniteLossCheck()]

    def configure_optimizers(self) -> Any:
        return configure_optimization(
            self.optimizer_factory,
            self.scheduler_factory,
            self.parameters(),
            lambda: self.trainer,
            self.scheduler_interval,
        )
