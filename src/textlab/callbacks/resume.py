"""Callbacks a resumed run needs on top of what Lightning restores itself."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from textlab.base import framework
from textlab.base.atomic import open_atomic
from textlab.data.loaders import ResumableDataLoader

log = logging.getLogger(__name__)


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
        self.states = framework.saved_train_loader_states(checkpoint)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        states, self.states = self.states, []
        loader = trainer.train_dataloader
        if len(states) != 1 or not isinstance(loader, ResumableDataLoader):
            return
        # read lazily by the loader, at the first batch: this overrides what Lightning set
        served = states[0]["batches_served"]
        finished = served >= trainer.num_training_batches  # the epoch was complete
        loader.load_state_dict({"batches_served": 0 if finished else served})


class CarryBestCheckpoint(Callback):
    """Resuming into a new run dir: copy the old best checkpoint over and keep ranking against it.

    ModelCheckpoint forgets its best score when its folder changes (it keeps only the old
    path), so without this the first resumed epoch would become "best" however poor, and the
    final test would read a file in the old run dir, if it still exists. The old best file is
    looked up where the checkpoint recorded it, then beside `resumed_from`.
    """

    def __init__(self, resumed_from: str | Path) -> None:
        self.resumed_from = Path(resumed_from)
        self.checkpoint: dict[str, Any] = {}

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self.checkpoint = checkpoint

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs after Lightning restored the callbacks.
        checkpoint, self.checkpoint = self.checkpoint, {}
        keeper = trainer.checkpoint_callback
        if keeper is None:
            return
        state = framework.saved_callback_state(checkpoint, keeper) or {}
        recorded = Path(state.get("best_model_path") or "")
        if not recorded.name:
            return
        target = Path(keeper.dirpath or "") / recorded.name
        if recorded.resolve() == target.resolve():
            return  # resumed in place: Lightning restored everything
        candidates = (recorded, self.resumed_from.parent / recorded.name)
        source = next((path for path in candidates if path.is_file()), None)
        if source is None:
            log.warning("Best checkpoint %s of the resumed run is gone; ranking restarts", recorded)
            framework.forget_best_checkpoint(keeper)
            return
        if trainer.is_global_zero:
            with open(source, "rb") as old, open_atomic(target, "wb") as new:
                shutil.copyfileobj(old, new, 1 << 20)
        trainer.strategy.barrier("carry_best_checkpoint")
        score = state.get("best_model_score")
        framework.set_best_checkpoint(keeper, str(target), score)
        log.info("Carried best checkpoint %s over (%s=%s)", source, keeper.monitor, score)
