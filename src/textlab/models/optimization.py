"""Optimiser and learning-rate schedule from the config's partials, for every LightningModule:
torch checks lr, betas, momentum... only here, long after the config was composed."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from textlab.base.errors import UserError, require
from textlab.models.protocols import EmbedsTokens, MemberEnsemble


def configure_optimization(
    optimizer_factory: Callable[..., torch.optim.Optimizer],
    scheduler_factory: Callable[..., Any] | None,
    params: Iterable[Any],
    trainer: Callable[[], Any],
    interval: str,
    groups_scaled: bool = False,
) -> Any:
    """What `configure_optimizers` returns: the optimiser over `params` (tensors or groups),
    with the schedule if there is one. A scheduler that takes `total_steps` gets the estimate of
    `trainer()` (called only then: an optimiser alone needs no trainer), or, given `epochs`
    (OneCycleLR's own key), that many epochs' worth of steps.

    `groups_scaled`: each parameter group carries its own lr (a multiple of the optimiser's),
    which a one-cycle schedule must keep rather than peak every group at `max_lr`.
    """
    try:
        optimizer = optimizer_factory(params=params)
    except ValueError as err:
        raise UserError(f"module.optimizer: {err}") from None
    if scheduler_factory is None:
        return optimizer
    kwargs: dict[str, Any] = {}
    keywords = getattr(scheduler_factory, "keywords", {})
    if "total_steps" in inspect.signature(scheduler_factory).parameters:
        total = int(trainer().estimated_stepping_batches)
        if keywords.get("epochs") is not None:
            total = _steps_for_epochs(keywords["epochs"], trainer(), total)
        kwargs["total_steps"] = total
        pct_start = keywords.get("pct_start")
        if pct_start is not None and pct_start * total == 1:
            # OneCycleLR would end its warm-up at step 0, a zero-length phase it divides by
            # (ZeroDivisionError); half a step rounds the warm-up to none instead
            kwargs["pct_start"] = 0.5 / total
    max_lr = keywords.get("max_lr")
    lr = getattr(optimizer_factory, "keywords", {}).get("lr")
    if isinstance(max_lr, (int, float)) and lr and groups_scaled:
        kwargs["max_lr"] = [max_lr * group["lr"] / lr for group in optimizer.param_groups]
    try:
        scheduler = scheduler_factory(optimizer, **kwargs)
    except ValueError as err:
        raise UserError(f"module.scheduler: {err}") from None
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}


def _steps_for_epochs(epochs: Any, trainer: Any, total: int) -> int:
    """`module.scheduler.epochs` longer than the run: the schedule is built for that many epochs
    and training stops at `trainer.max_epochs`, part-way down it (a fine-tuning whose last
    epochs only overfit keeps the rate it had there, for a fraction of the time)."""
    max_epochs = trainer.max_epochs
    if trainer.max_steps != -1 or not max_epochs or max_epochs < 1:
        raise UserError(
            f"module.scheduler.epochs={epochs} sizes the schedule in epochs: it needs "
            "trainer.max_epochs and no trainer.max_steps"
        )
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < max_epochs:
        raise UserError(
            f"module.scheduler.epochs={epochs}: expected a whole number of epochs >= "
            f"trainer.max_epochs={max_epochs} (the schedule cannot end before training does)"
        )
    return total // max_epochs * epochs


def parameter_groups(
    net: nn.Module,
    lr: float,
    encoder_lr_scale: float,
    embedding_lr_scale: float,
    is_head: Callable[[str], bool],
) -> list[dict[str, Any]] | None:
    """An ensemble's groups (each member's lr_scale); or, fine-tuning, the head at `lr`, the
    encoder at `lr * encoder_lr_scale` and its token table at that times `embedding_lr_scale`.
    None: one group. A scale of 0 keeps the table as loaded: AdamW's step and its decoupled
    weight decay are both multiples of the rate."""
    if isinstance(net, MemberEnsemble):
        return net.optimizer_groups(lr)
    if encoder_lr_scale == 1.0 and embedding_lr_scale == 1.0:
        return None
    table = set()
    if embedding_lr_scale != 1.0 and isinstance(net, EmbedsTokens):
        table = {id(p) for p in net.token_embedding().parameters()}
    groups: dict[float, list[nn.Parameter]] = {}
    for name, parameter in net.named_parameters():
        scale = 1.0 if is_head(name) else encoder_lr_scale
        if id(parameter) in table:
            scale *= embedding_lr_scale
        groups.setdefault(scale, []).append(parameter)
    return [{"params": params, "lr": lr * scale} for scale, params in groups.items()]


def check_options(
    scheduler_interval: str,
    label_smoothing: float,
    encoder_lr_scale: float,
    freeze_encoder_epochs: int,
) -> None:
    """The module's training options that configure_optimization and its callbacks read."""
    require(
        scheduler_interval in ("step", "epoch"),
        "scheduler_interval",
        scheduler_interval,
        "step or epoch",
    )
    require(0.0 <= label_smoothing < 1.0, "label_smoothing", label_smoothing, "a number in [0, 1)")
    require(encoder_lr_scale > 0, "encoder_lr_scale", encoder_lr_scale, "a number > 0")
    require(
        freeze_encoder_epochs >= 0,
        "freeze_encoder_epochs",
        freeze_encoder_epochs,
        "an integer >= 0",
    )


def check_embedding_lr_scale(embedding_lr_scale: float, net: nn.Module) -> None:
    """A finite scale >= 0, and anything but 1 only for a network with one token table."""
    key, finite = "embedding_lr_scale", math.isfinite(embedding_lr_scale)
    require(finite and embedding_lr_scale >= 0, key, embedding_lr_scale, "a number >= 0")
    table = isinstance(net, EmbedsTokens) and not isinstance(net, MemberEnsemble)
    no_table = f"1 for {type(net).__name__}: it has no single token table to slow or fix"
    require(embedding_lr_scale == 1.0 or table, key, embedding_lr_scale, no_table)
