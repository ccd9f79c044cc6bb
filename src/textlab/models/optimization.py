"""Optimiser and learning-rate schedule from the config's partials, for every LightningModule:
torch checks lr, betas, momentum... only here, long after the config was composed."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch

from textlab.base.errors import UserError


def configure_optimization(
    optimizer_factory: Callable[..., torch.optim.Optimizer],
    scheduler_factory: Callable[..., Any] | None,
    params: Iterable[Any],
    total_steps: Callable[[], int],
    interval: str,
    groups_scaled: bool = False,
) -> Any:
    """What `configure_optimizers` returns: the optimiser over `params` (tensors or groups),
    with the schedule if there is one; a scheduler that takes `total_steps` gets `total_steps()`.

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
        total = int(total_steps())
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
