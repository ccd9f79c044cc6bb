"""Whether a checkpoint can resume training under this config: one-line errors, not tracebacks."""

from __future__ import annotations

import inspect
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from textlab.base.errors import UserError
from textlab.checkpoint.format import SavedRun

# Settings that fix how many optimiser steps a run takes; a scheduler sized by total_steps
# (OneCycleLR) cannot continue past the count it was built for.
STEP_COUNT_KEYS = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.limit_train_batches",
    "trainer.accumulate_grad_batches",
    "trainer.devices",
    "data.batch_size",
    "module.scheduler.epochs",
)


def check_can_resume(saved: SavedRun, cfg: DictConfig, module: L.LightningModule) -> None:
    """The module's weights fit the checkpoint's, and the step count is what it was sized for."""
    expected = module.state_dict()
    stored = saved.state_dict
    misfits = sorted(expected.keys() ^ stored.keys()) + sorted(
        key for key in expected.keys() & stored.keys() if expected[key].shape != stored[key].shape
    )
    if misfits:
        raise UserError(
            f"checkpoint {saved.path} does not fit this module ({', '.join(misfits[:3])}"
            f"{', ...' if len(misfits) > 3 else ''}), e.g. written by an older textlab; "
            "it can still be evaluated, not resumed"
        )
    check_step_count_unchanged(saved.config, cfg, str(saved.path))


def check_step_count_unchanged(saved: dict[str, Any], cfg: DictConfig, ckpt_path: str) -> None:
    """Refuse a resume that would overrun a scheduler sized for the original step count."""
    scheduler = OmegaConf.select(cfg, "module.scheduler")
    if scheduler is None or "_target_" not in scheduler:
        return
    target = hydra.utils.get_object(scheduler._target_)
    if "total_steps" not in inspect.signature(target).parameters:
        return
    saved_cfg = OmegaConf.create(saved)
    for key in STEP_COUNT_KEYS:
        before, now = OmegaConf.select(saved_cfg, key), OmegaConf.select(cfg, key)
        if before != now:
            raise UserError(
                f"{key}={now} but the checkpoint {ckpt_path} was trained with {before}; "
                f"its scheduler ({scheduler._target_.rsplit('.', 1)[-1]}) was sized for the "
                "original number of steps. Resume with the original value, or start a new run"
            )
