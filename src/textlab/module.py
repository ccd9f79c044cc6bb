"""The LightningModule: wraps any classifier `nn.Module` with loss, metrics and optimisers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn
from torchmetrics import MaxMetric, MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from textlab.base.errors import require
from textlab.callbacks.finite_loss import FiniteLossCheck
from textlab.callbacks.freeze_encoder import FreezeEncoder
from textlab.callbacks.log_count_ratios import LogCountRatios
from textlab.models.adversarial import adversarial_losses, check_adversarial
from textlab.models.mlm_auxiliary import AuxiliaryMLM, check_mlm
from textlab.models.optimization import (
    check_embedding_lr_scale,
    check_options,
    configure_optimization,
    parameter_groups,
)
from textlab.models.protocols import EmbedsTokens, FitsFromData, MemberEnsemble
from textlab.models.token_noise import NoiseIds, noised_batch

STAGES = ("train", "val", "test")
# The attribute holding the network: its weights are the `net.*` entries of a state_dict.
NET = "net"


class TextClassifier(L.LightningModule):
    """Cross-entropy classifier over `net(input_ids, attention_mask) -> logits`.

    `optimizer` and `scheduler` are partials (Hydra `_partial_: true`) completed in
    `configure_optimizers`; a scheduler that takes `total_steps` gets the trainer's estimate.
    `check_finite_loss` stops training at the first NaN or infinite loss (FiniteLossCheck).
    `compile` compiles the network in place (`nn.Module.compile`: parameter names, and so
    checkpoints, stay the same); an ensemble's members, since training calls them one by one.
    Fine-tuning a pretrained encoder (`pretrained=`): `encoder_lr_scale` multiplies the
    learning rate of everything but the class head, `embedding_lr_scale` the token table's
    again (0: fixed); `freeze_encoder_epochs` trains the head alone for that many epochs
    first (FreezeEncoder).
    `adversarial_eps` > 0 adds the loss of each training batch with its token embeddings
    perturbed against it (models/adversarial.py), once the encoder trains; the logged loss
    stays the clean one. `token_mask_rate` > 0 hides that share of training tokens
    (models/token_noise.py; mode=train passes the tokenizer's `noise_ids`). `mlm_weight` > 0
    adds that times a masked-token loss on each training batch, once the encoder trains
    (models/mlm_auxiliary.py; its head lives here as `mlm`, not in the network, so predictions
    and exports never carry it; without `noise_ids`, as when evaluating, there is none).
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        label_smoothing: float = 0.0,
        check_finite_loss: bool = True,
        compile: bool = False,
        encoder_lr_scale: float = 1.0,
        freeze_encoder_epochs: int = 0,
        embedding_lr_scale: float = 1.0,
        adversarial_eps: float = 0.0,
        token_mask_rate: float = 0.0,
        mlm_weight: float = 0.0,
        noise_ids: NoiseIds | None = None,
    ) -> None:
        super().__init__()
        labels = "at least 2 labels in the training data (or in data.label_names)"
        require(num_classes >= 2, "num_classes", num_classes, labels)
        check_options(scheduler_interval, label_smoothing, encoder_lr_scale, freeze_encoder_epochs)
        check_embedding_lr_scale(embedding_lr_scale, net)
        check_adversarial(adversarial_eps, net, compile)
        require(0 <= token_mask_rate < 1, "token_mask_rate", token_mask_rate, "a number in [0, 1)")
        check_mlm(mlm_weight, net)
        ignored = ["net", "optimizer", "scheduler", "noise_ids"]  # ids: not a hyperparameter
        self.save_hyperparameters(ignore=ignored, logger=False)
        self.noise_ids = noise_ids
        self.net = net
        self.mlm = AuxiliaryMLM(net, noise_ids) if mlm_weight and noise_ids else None
        if compile:
            members = net.members.values() if isinstance(net, MemberEnsemble) else [net]
            for member in members:
                member.compile()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self._add_metrics(num_classes, net)
        self.val_acc_best = MaxMetric()
        self._running: torch.Tensor | None = None
        # Saved in checkpoints, so a resumed run continues the best score and, mid-epoch, the
        # running training metrics instead of starting them over.
        for metric in (self.train_metrics, self.train_loss, self.val_acc_best):
            metric.persistent(True)

    def _add_metrics(self, num_classes: int, net: nn.Module) -> None:
        """Accuracy, F1 and mean loss per stage; each ensemble member's accuracy."""
        for stage in STAGES:
            metrics = MetricCollection(
                {
                    "acc": MulticlassAccuracy(num_classes, average="micro"),
                    "f1": MulticlassF1Score(num_classes, average="macro"),
                },
                prefix=f"{stage}/",
            )
            setattr(self, f"{stage}_metrics", metrics)
            setattr(self, f"{stage}_loss", MeanMetric())
        # an ensemble's members are scored too, so a run shows what each adds
        self.member_acc = nn.ModuleDict(
            {
                f"{stage}_{name}": MulticlassAccuracy(num_classes, average="micro")
                for stage in ("val", "test")
                for name in (net.members if isinstance(net, MemberEnsemble) else {})
            }
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids, attention_mask)

    def _loss(self, logits: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against class ids (B,) or target distributions (B, C)."""
        return F.cross_entropy(logits.float(), wanted, label_smoothing=self.hparams.label_smoothing)

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        labels = batch["labels"]
        if stage == "train" and self.hparams.token_mask_rate:
            batch = noised_batch(batch, self.hparams.token_mask_rate, self.noise_ids)
        # a teacher's distributions where data.extra_train_targets gave them (training data only)
        wanted = batch.get("targets", labels)
        eps = self.hparams.adversarial_eps
        if stage == "train" and eps and self._encoder_trains():
            assert isinstance(self.net, EmbedsTokens)
            logits, loss, adversarial = adversarial_losses(
                self.net,
                self.net.token_embedding(),
                batch["input_ids"],
                batch["attention_mask"],
                lambda logits: self._loss(logits, wanted),
                eps,
            )
            training_loss = loss + adversarial
            self.log(
                "train/loss_adversarial",
                adversarial.detach(),
                on_step=False,
                on_epoch=True,
                batch_size=labels.numel(),
            )
        elif not isinstance(self.net, MemberEnsemble):
            logits = self(batch["input_ids"], batch["attention_mask"])
            loss = training_loss = self._loss(logits, wanted)
        else:
            members = self.net.member_logits(batch["input_ids"], batch["attention_mask"])
            logits = self.net.combine(members)
            # members learn from their own losses; the logged loss is the ensemble's
            training_loss = self._log_members(members, labels, wanted, stage)
            loss = self._loss(logits.detach(), wanted)
        if stage == "train" and self.mlm is not None and self._encoder_trains():
            training_loss = training_loss + self._mlm_loss(batch)
        metrics: MetricCollection = getattr(self, f"{stage}_metrics")
        mean_loss: MeanMetric = getattr(self, f"{stage}_loss")
        metrics.update(logits.argmax(dim=-1), labels)
        # Weight by batch size so the epoch loss is the mean over examples, not over batches.
        mean_loss.update(loss.detach(), weight=labels.numel())
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage != "train")
        self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=True)
        if stage == "train":
            self._log_running(loss, logits, labels)
        return training_loss

    def _encoder_trains(self) -> bool:
        """False while FreezeEncoder holds the pretrained encoder: adversarial passes would then
        cost two more trips through it (a head-only epoch 2.7x as long) for the head alone."""
        assert isinstance(self.net, EmbedsTokens)
        return any(p.requires_grad for p in self.net.token_embedding().parameters())

    def _mlm_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        assert self.mlm is not None
        out = self.mlm(self.net, batch["input_ids"], batch["attention_mask"])
        # a batch of reviews too short to mask any token has no masked-token loss (not NaN)
        loss = torch.where(out.count > 0, out.loss, out.loss.new_zeros(()))
        size = batch["input_ids"].size(0)
        self.log("train/loss_mlm", loss.detach(), on_step=False, on_epoch=True, batch_size=size)
        return self.hparams.mlm_weight * loss

    def _log_members(
        self,
        members: dict[str, torch.Tensor],
        labels: torch.Tensor,
        wanted: torch.Tensor,
        stage: str,
    ) -> torch.Tensor:
        """Sum of the members' own losses (see models/ensemble.py); scores each member."""
        for name, logits in members.items():
            key = f"{stage}_{name}"
            if key in self.member_acc:
                self.member_acc[key].update(logits.argmax(dim=-1), labels)
                self.log(f"{stage}/acc_{name}", self.member_acc[key], on_step=False, on_epoch=True)
        return sum(self._loss(logits, wanted) for logits in members.values())

    def on_train_start(self) -> None:
        # The sanity check's few batches must not count towards val/acc_best.
        self.val_metrics.reset()
        self.val_loss.reset()
        if not self.trainer.ckpt_path:  # a resumed run restored its best score
            self.val_acc_best.reset()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if batch_idx == 0:
            # An epoch's running metrics start empty even if a checkpoint restored the last
            # epoch's (saved before Lightning reset them); resumed mid-epoch, they carry on.
            self.train_metrics.reset()
            self.train_loss.reset()
        if batch_idx == 0 or self._running is None:
            self._running = torch.zeros(3, device=self.device)  # loss sum, right, examples
        return self._step(batch, "train")

    def _log_running(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """train/loss_running and train/acc_running: this epoch's means so far, logged every
        trainer.log_every_n_steps, so a 3-epoch run draws a curve, not 3 points. This process's
        batches only (no sync each step) and restarted by a mid-epoch resume: a curve to read,
        while train/loss and train/acc per epoch stay the exact ones."""
        assert self._running is not None
        count = labels.numel()
        right = (logits.argmax(dim=-1) == labels).sum()
        self._running += torch.stack(
            [loss.detach() * count, right.to(loss.dtype), loss.new_tensor(count)]
        )
        loss_sum, right_sum, seen = self._running
        self.log("train/loss_running", loss_sum / seen, on_step=True, on_epoch=False)
        self.log("train/acc_running", right_sum / seen, on_step=True, on_epoch=False)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.val_acc_best(self.val_metrics["acc"].compute())
        # already equal on every rank (computed from synced accuracies); sync_dist only tells
        # Lightning so, which silences its per-rank warning under DDP
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True, sync_dist=True)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_callbacks(self) -> list[Callback]:
        # Part of the loss's and the model's contracts, so they hold whichever `callbacks=`
        # group a run picks.
        callbacks: list[Callback] = [FiniteLossCheck()] if self.hparams.check_finite_loss else []
        if isinstance(self.net, FitsFromData):
            callbacks.append(LogCountRatios())
        if self.hparams.freeze_encoder_epochs:
            callbacks.append(FreezeEncoder(self.hparams.freeze_encoder_epochs, is_head))
        return callbacks

    def configure_optimizers(self) -> Any:
        lr = getattr(self.optimizer_factory, "keywords", {}).get("lr")
        scales = (self.hparams.encoder_lr_scale, self.hparams.embedding_lr_scale)
        groups = parameter_groups(self.net, lr, *scales, is_head) if lr is not None else None
        return configure_optimization(
            self.optimizer_factory,
            self.scheduler_factory,
            groups if groups is not None else self.parameters(),
            lambda: self.trainer,
            self.hparams.scheduler_interval,
            groups_scaled=groups is not None,
        )


def is_head(parameter_name: str) -> bool:
    """Whether a parameter of the network belongs to its class head (fresh when fine-tuning)."""
    return parameter_name.split(".", 1)[0] == "head"
