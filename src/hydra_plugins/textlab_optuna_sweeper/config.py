"""`hydra/sweeper=textlab_optuna`: the sweeper's settings, registered in Hydra's ConfigStore.

Hydra imports this module when it scans `hydra_plugins`, for every run: keep it free of Optuna.
No `from __future__ import annotations`: Hydra's scan executes the module before registering it
in sys.modules, where `dataclass` would look up string annotations.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore


class Direction(Enum):
    minimize = 1
    maximize = 2


@dataclass
class TextlabOptunaSweeperConf:
    _target_: str = "hydra_plugins.textlab_optuna_sweeper.sweeper.TextlabOptunaSweeper"
    # an Optuna sampler, e.g. {_target_: optuna.samplers.TPESampler, seed: 1}; null: TPE
    sampler: Any = None
    # stops unpromising trials early: median | hyperband (Optuna's MedianPruner / HyperbandPruner
    # with their defaults), a node {_target_: optuna.pruners.MedianPruner, n_warmup_steps: 1}
    # for any pruner and arguments, or none. Each job reports val/acc per epoch to its trial
    # (src/textlab/run/pruning.py).
    pruner: Any = None
    direction: Direction = Direction.minimize  # of the float each job returns
    study_name: str = "textlab"
    # null: sqlite:///<hydra.sweep.dir>/optuna.db; or any Optuna storage URL (sqlite:///...,
    # postgresql://...), or journal:///path/to/file (a journal file, for NFS)
    storage: str | None = None
    load_if_exists: bool = True  # continue the study if the storage has it
    # trials in the study in all (finished, failed or running); a rerun continues up to it
    n_trials: int = 20
    n_jobs: int = 1  # trials per batch handed to the launcher
    # stop once more than this share of this process's trials failed
    max_failure_rate: float = 0.0
    # a RUNNING trial older than this is marked FAIL: its process died without telling
    # Optuna. Longer than any job: a live trial marked stale loses its result, a dead one
    # only holds its place in n_trials meanwhile. null: never.
    stale_after_s: float | None = 86400.0
    # the search space, in Hydra's override grammar: {model.dropout: interval(0, 0.5), ...}
    params: dict[str, Any] | None = None


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="textlab_optuna",
    node=TextlabOptunaSweeperConf,
    provider="textlab",
)
