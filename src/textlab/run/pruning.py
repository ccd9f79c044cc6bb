"""A sweep job's side of its Optuna trial: report val/acc after each validation, stop if pruned.

Only in a trial of textlab's Optuna sweeper (`hparams_search=optuna`) with
`hydra.sweeper.pruner` set. The job finds its trial through its HydraConfig: the study's
storage and name (`hydra.sweeper`) and its trial number (`hydra.job.num`, which the sweeper makes
equal to it). Optuna keeps the pruner in the Study object, not in the storage, so the job builds
the same pruner from the same setting (`build_pruner`, which the sweeper uses too). A pruned job
trains no further, then ends as any run does (test of the best checkpoint, metrics.json) and
leaves `pruned.json` in its run dir: the sweep summary lists it as `pruned` and the sweeper tells
Optuna PRUNED rather than its value.

Under DDP rank 0 alone talks to the study and broadcasts its decision to the other ranks; the
ranks a sweep job starts itself (run/sweep_ranks.py) learn from PRUNING_ENV that they must take
part. Optuna is imported only when a job prunes. Checked against optuna 5.0 and lightning 2.6.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from textlab.base import run_files
from textlab.base.atomic import write_json_atomic

if TYPE_CHECKING:  # Optuna is imported when a job prunes, not with this module
    from optuna.storages import BaseStorage

log = logging.getLogger(__name__)

# the sweeper whose jobs are trials (src/hydra_plugins/textlab_optuna_sweeper)
SWEEPER_TARGET = "hydra_plugins.textlab_optuna_sweeper.sweeper.TextlabOptunaSweeper"
MONITOR = "val/acc"  # reported after each validation; the study's direction says which way is up
PRUNED_FILE = run_files.PRUNED  # in a pruned job's run dir
PRUNING_ENV = "TEXTLAB_TRIAL_PRUNING"  # set for the DDP ranks a pruning sweep job starts
PRUNERS = {  # hydra.sweeper.pruner=<name>: Optuna's pruner with its defaults
    "median": "optuna.pruners.MedianPruner",
    "hyperband": "optuna.pruners.HyperbandPruner",
}
NO_PRUNER = (None, "none")

DEFAULT_DB = "optuna.db"  # in the sweep dir, when `hydra.sweeper.storage` is null
JOURNAL = "journal://"  # journal:///abs/path or journal://rel/path: a JournalFileBackend
SQLITE = "sqlite:///"
SQLITE_BUSY_TIMEOUT_S = 60  # sqlite3's default of 5 s is short for several processes


def storage_url(storage: str | None, sweep_dir: Path) -> str:
    """The storage URL: `storage` as given, or an SQLite file in the sweep dir."""
    if storage:
        return str(storage)
    return f"{SQLITE}{(sweep_dir / DEFAULT_DB).resolve()}"


def open_storage(url: str) -> BaseStorage:
    """An RDB URL (sqlite:///, postgresql+psycopg://, mysql://) or journal://<file> (NFS-safe)."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if url.startswith(JOURNAL):
        return JournalStorage(JournalFileBackend(url[len(JOURNAL) :]))
    engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return RDBStorage(url, engine_kwargs=engine_kwargs if url.startswith(SQLITE) else None)


def check_pruner_setting(setting: Any) -> None:
    """Refuse a pruner name that is not one of PRUNERS (before any trial runs)."""
    if isinstance(setting, str) and setting not in NO_PRUNER and setting not in PRUNERS:
        raise ValueError(
            f"hydra.sweeper.pruner={setting}: expected one of {', '.join(PRUNERS)}, none, or "
            "a node such as {_target_: optuna.pruners.MedianPruner, n_startup_trials: 5}"
        )


def build_pruner(setting: Any) -> Any:
    """`hydra.sweeper.pruner` → an Optuna pruner, or None: a name of PRUNERS, a `_target_`
    node (any pruner, any arguments), a pruner Hydra already built, or none/null."""
    check_pruner_setting(setting)
    if setting in NO_PRUNER:
        return None
    if isinstance(setting, str):
        setting = {"_target_": PRUNERS[setting]}
    if isinstance(setting, (dict, DictConfig)):
        if "_target_" not in setting:
            raise ValueError(f"hydra.sweeper.pruner={setting}: a pruner node needs a _target_")
        from hydra.utils import instantiate

        return instantiate(setting)
    return setting  # built by Hydra with the sweeper


@dataclass(frozen=True)
class SweepTrial:
    """Where a sweep job's trial lives and how it is pruned."""

    storage: str  # URL
    study_name: str
    number: int  # the trial number, = hydra.job.num
    pruner: Any  # hydra.sweeper.pruner as configured
    job_dir: Path


def this_trial() -> SweepTrial | None:
    """This job's trial, if it is a trial of textlab's Optuna sweeper with a pruner."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    if hydra_cfg.mode != RunMode.MULTIRUN or sweeper.get("_target_") != SWEEPER_TARGET:
        return None
    if sweeper.get("pruner") in NO_PRUNER:
        return None
    # relative to where the sweep started, as the sweeper reads it
    sweep_dir = Path(hydra_cfg.runtime.cwd) / str(hydra_cfg.sweep.dir)
    return SweepTrial(
        storage=storage_url(sweeper.get("storage"), sweep_dir),
        study_name=str(sweeper.study_name),
        number=int(hydra_cfg.job.num),
        pruner=sweeper.pruner,
        job_dir=Path(hydra_cfg.runtime.output_dir),
    )


def pruning_callbacks() -> list[Callback]:
    """[TrialPruning] in a trial with a pruner and in the DDP ranks its job starts; else []."""
    trial = this_trial()
    if trial is not None:
        return [TrialPruning(trial)]
    return [TrialPruning(None)] if os.environ.get(PRUNING_ENV) else []


@contextmanager
def ranks_prune_too(callbacks: Sequence[Callback]) -> Iterator[None]:
    """Around starting a sweep job's DDP ranks: with TrialPruning among `callbacks`, they add
    one too (every rank must take part in its broadcast). Not left for the next job."""
    if not any(isinstance(callback, TrialPruning) for callback in callbacks):
        yield
        return
    os.environ[PRUNING_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(PRUNING_ENV, None)


class TrialPruning(Callback):
    """Reports MONITOR to the trial after each validation; stops training once it is pruned.

    The Optuna step is the epoch as Lightning counts it (0 for the first), so a pruner's
    `n_warmup_steps: 1` spares the first epoch. `trial` is None on ranks other than 0.
    """

    def __init__(self, trial: SweepTrial | None, monitor: str = MONITOR) -> None:
        self.trial = trial
        self.monitor = monitor
        self.pruned = False
        self._optuna_trial: Any = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        prune = self.pruned
        if trainer.is_global_zero and not prune and self.trial is not None:
            prune = self._report(trainer)
        # one decision for all ranks, or they would wait for each other forever
        if trainer.strategy.broadcast(prune, src=0):
            self.pruned = True
            trainer.should_stop = True

    def _report(self, trainer: pl.Trainer) -> bool:
        from optuna.exceptions import UpdateFinishedTrialError

        assert self.trial is not None
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            log.warning("trial pruning: no %s after validation; nothing reported", self.monitor)
            return False
        value, step = float(value), trainer.current_epoch
        try:
            trial = self._open()
            trial.report(value, step)
            if not trial.should_prune():
                return False
            trial.set_user_attr("pruned_at_epoch", step + 1)
        except UpdateFinishedTrialError:
            # another sweeper process marked it failed (stale_after_s): train on, unpruned
            log.warning("trial %d was finished elsewhere; not pruning it", self.trial.number)
            self.trial = None
            return False
        log.info(
            "trial %d pruned at epoch %d of %d: %s=%.4f; stopping training (the best checkpoint "
            "is tested as usual)",
            self.trial.number,
            step + 1,
            trainer.max_epochs,
            self.monitor,
            value,
        )
        record = {"trial": self.trial.number, "epoch": step + 1, self.monitor: value}
        write_json_atomic(self.trial.job_dir / PRUNED_FILE, record)
        return True

    def _open(self) -> Any:
        """The job's optuna.trial.Trial, on a study loaded with the sweeper's pruner."""
        if self._optuna_trial is None:
            import optuna

            assert self.trial is not None
            storage = open_storage(self.trial.storage)
            study = optuna.load_study(
                study_name=self.trial.study_name,
                storage=storage,
                sampler=optuna.samplers.RandomSampler(),  # the job samples nothing
                pruner=build_pruner(self.trial.pruner),
            )
            study_id = storage.get_study_id_from_name(self.trial.study_name)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.trial.number)
            self._optuna_trial = optuna.trial.Trial(study, trial_id)
        return self._optuna_trial
