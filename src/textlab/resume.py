"""Resumable training: batches and dropout follow (seed, epoch, batch), not what ran before."""

from __future__ import annotations

import inspect
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from textlab.errors import UserError

if TYPE_CHECKING:  # the data module imports this file; keep its imports light
    from textlab.checkpoint import SavedRun

log = logging.getLogger(__name__)

# Settings that fix how many optimiser steps a run takes; a scheduler sized by total_steps
# (OneCycleLR) cannot continue past the count it was built for.
STEP_COUNT_KEYS = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.limit_train_batches",
    "trainer.accumulate_grad_batches",
    "trainer.devices",
    "data.batch_size",
)


class ResumableDataLoader(DataLoader):
    """A DataLoader that Lightning can resume in the middle of an epoch.

    Lightning saves `state_dict()` in every checkpoint and, on a mid-epoch resume, calls
    `load_state_dict()` (or RestoreLoaderPosition does); the next pass then skips the batches
    already trained on, loading and dropping them (cheap for token ids). The underlying
    iterator starts at the first `next()`, after Lightning has called the sampler's `set_epoch`.
    """

    _served = 0
    _skip = 0

    def state_dict(self) -> dict[str, int]:
        return {"batches_served": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._skip = int(state["batches_served"])

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # A generator: nothing, not even reading the skip, happens before the first next()
        skip, self._skip = self._skip, 0
        self._served = 0
        for batch in super().__iter__():
            self._served += 1
            if self._served > skip:
                yield batch


class RestoreLoaderPosition(Callback):
    """Set the training loader's saved position on resume, whatever Lightning did with it.

    Lightning 2.6 restores a stateful loader only if it builds the train loader after restoring
    the loops; `trainer.estimated_stepping_batches` in `configure_optimizers` (OneCycleLR's
    total_steps) builds it earlier, and the position is silently dropped. And from a checkpoint
    taken after an epoch's last batch, Lightning starts the next epoch but still hands over the
    old position, which would skip that many of the new epoch's batches.
    """

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        self.states = fit_loop.get("state_dict", {}).get("combined_loader", [])

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        states, self.states = self.states, []
        loader = trainer.train_dataloader
        if len(states) != 1 or not isinstance(loader, ResumableDataLoader):
            return
        # read lazily by the loader, at the first batch: this overrides what Lightning set
        served = states[0]["batches_served"]
        finished = served >= trainer.num_training_batches  # the epoch was complete
        loader.load_state_dict({"batches_served": 0 if finished else served})


def batch_seed(seed: int, rank: int, epoch: int, batch: int) -> int:
    """A torch seed for one training batch of one process."""
    return int(np.random.SeedSequence([seed, rank, epoch, batch]).generate_state(1)[0])


class SeedEachBatch(Callback):
    """Reseed torch before every training batch from (seed, rank, epoch, batch index).

    Dropout then depends on where training is, not on the history of the RNG, so a run
    resumed from any checkpoint replays exactly what the uninterrupted run drew. (Lightning
    does not save RNG states, and restoring them would still miss the draws a resumed run
    makes before its first batch, such as the sanity check's loader.)
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        rank, epoch = trainer.global_rank, trainer.current_epoch
        torch.manual_seed(batch_seed(self.seed, rank, epoch, batch_idx))


class CarryBestCheckpoint(Callback):
    """Resuming into a new run dir: copy the old best checkpoint over and keep ranking against it.

    ModelCheckpoint forgets its best score when its folder changes (it keeps only the old
    path), so without this the first resumed epoch would become "best" however poor, and the
    final test would read a file in the old run dir, if it still exists. The old best file is
    looked up where the checkpoint recorded it, then beside `resumed_from`.
    """

    def __init__(self, resumed_from: str | Path) -> None:
        self.resumed_from = Path(resumed_from)
        self.saved_states: dict[str, Any] = {}

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self.saved_states = checkpoint.get("callbacks") or {}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs after Lightning restored the callbacks.
        keeper = trainer.checkpoint_callback
        state = self.saved_states.get(keeper.state_key) if keeper is not None else None
        recorded = Path((state or {}).get("best_model_path") or "")
        if keeper is None or not recorded.name:
            return
        target = Path(keeper.dirpath or "") / recorded.name
        if recorded.resolve() == target.resolve():
            return  # resumed in place: Lightning restored everything
        candidates = (recorded, self.resumed_from.parent / recorded.name)
        source = next((path for path in candidates if path.is_file()), None)
        if source is None:
            log.warning("Best checkpoint %s of the resumed run is gone; ranking restarts", recorded)
            keeper.best_model_path = ""
            return
        if trainer.is_global_zero:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        trainer.strategy.barrier("carry_best_checkpoint")
        keeper.best_model_path = str(target)
        score = state.get("best_model_score") if state else None
        if score is not None:
            keeper.best_model_score = keeper.kth_value = score
            keeper.kth_best_model_path = str(target)
            keeper.best_k_models = {str(target): score}
        log.info("Carried best checkpoint %s over (%s=%s)", source, keeper.monitor, score)


def training_callbacks(seed: int, resumed_from: str | None) -> list[Callback]:
    """The callbacks every training run gets, whatever `callbacks=` says."""
    callbacks: list[Callback] = [SeedEachBatch(seed)]
    if resumed_from:
        callbacks += [RestoreLoaderPosition(), CarryBestCheckpoint(resumed_from)]
    return callbacks


def check_can_resume(saved: SavedRun, cfg: DictConfig, module: L.LightningModule) -> None:
    """One-line errors, instead of Lightning's tracebacks, for checkpoints that cannot resume."""
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
