"""textlab's Optuna sweeper: Optuna's ask-and-tell loop around Hydra's launcher.

Each round it asks the study for up to `n_jobs` trials, turns each trial's sampled values into
a job's overrides, launches them as ordinary multirun jobs and tells Optuna what each returned:
a float is the trial's value; anything else (textlab's FailedJob, an exception) fails the trial
and stores its error line; a job its pruner stopped (textlab/run/pruning.py) is PRUNED. A job's
number (`hydra.job.num`, its dir `<sweep dir>/<num>`) is its trial number, so processes sharing a
study never share a job dir, and a job knows the trial it reports to.

Checked against hydra-core 1.3.2 (Sweeper and Launcher interfaces).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.textlab_optuna_sweeper.config import Direction

if TYPE_CHECKING:  # Optuna is imported when a sweep starts, not when Hydra scans plugins
    from optuna.trial import Trial

    from hydra_plugins.textlab_optuna_sweeper._search_space import SearchSpace
    from hydra_plugins.textlab_optuna_sweeper._study import SharedStudy

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


class TextlabOptunaSweeper(Sweeper):
    """Hydra sweeper running an Optuna study, persistent and shareable (config.py)."""

    def __init__(
        self,
        sampler: Any,
        direction: Direction | str,
        study_name: str,
        storage: str | None,
        load_if_exists: bool,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        stale_after_s: float | None,
        params: dict[str, Any] | None,
        pruner: Any = None,
    ) -> None:
        from textlab.run.pruning import check_pruner_setting

        check_pruner_setting(pruner)
        if n_trials < 0 or n_jobs < 1 or not 0.0 <= max_failure_rate <= 1.0:
            raise ValueError(
                f"hydra.sweeper: n_trials={n_trials}, n_jobs={n_jobs}, max_failure_rate="
                f"{max_failure_rate}; expected n_trials >= 0, n_jobs >= 1, rate in [0, 1]"
            )
        self.sampler = sampler
        self.pruner = pruner  # a name, or a pruner Hydra built from a _target_ node
        self.direction = direction.name if isinstance(direction, Direction) else str(direction)
        self.study_name = study_name
        self.storage = storage
        self.load_if_exists = load_if_exists
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        self.stale_after_s = stale_after_s
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self.failed = self.told = 0

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        """Run trials until the study holds `n_trials`; `arguments`: the command line's."""
        import optuna

        from hydra_plugins.textlab_optuna_sweeper import _search_space, _study
        from textlab.run.pruning import build_pruner, storage_url

        assert self.config is not None and self.launcher is not None
        optuna.logging.disable_default_handler()  # its lines go through Hydra's logging
        optuna.logging.enable_propagation()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        params = [f"{key}={value}" for key, value in self.params.items()]
        loader = self.hydra_context.config_loader if self.hydra_context else None
        space = _search_space.parse_search_space([*params, *arguments], loader)
        url = storage_url(self.storage, sweep_dir)
        pruner = build_pruner(self.pruner)
        with _study.ask_lock(url):  # two processes creating one schema would collide
            shared = _study.SharedStudy(
                url, self.study_name, self.direction, self.sampler, self.load_if_exists, pruner
            )
        log.info(
            "Optuna study %r in %s: %d of n_trials=%d taken; sampler %s, pruner %s",
            self.study_name,
            _study.printable_url(url),
            shared.taken(),
            self.n_trials,
            type(shared.study.sampler).__name__,
            type(pruner).__name__ if pruner is not None else "none",
        )
        too_many_failures = None
        first = True
        while too_many_failures is None and not shared.exhausted:
            with _study.ask_lock(url):
                trials = self._ask(shared, space, reseed=first)
            first = False
            if not trials:
                break
            runnable = [trial for trial in trials if self._composes(shared, space, trial)]
            for group in consecutive(runnable):
                self._run(shared, space, group, sweep_dir)
            too_many_failures = self._failure_rate_exceeded()
        self._write_results(shared, sweep_dir)
        if too_many_failures:
            raise RuntimeError(too_many_failures)

    def _ask(self, shared: SharedStudy, space: SearchSpace, reseed: bool) -> list[Trial]:
        shared.fail_stale_trials(self.stale_after_s)
        taken = shared.taken()
        if reseed and taken:
            # a seeded sampler joining a study (a rerun, a second process) would repeat the
            # values its seed gave the trials already there
            shared.study.sampler.reseed_rng()
        count = max(0, min(self.n_jobs, self.n_trials - taken))
        return [shared.study.ask(space.distributions) for _ in range(count)]

    def _composes(self, shared: SharedStudy, space: SearchSpace, trial: Trial) -> bool:
        """False, with the trial failed, if its overrides do not compose (`model=choice(lstm,
        lstmz)`); the launcher would raise for the whole batch and end the sweep."""
        if self.hydra_context is None:
            return True
        overrides = space.overrides(trial.params)
        try:
            self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        except Exception as err:
            self._record(shared, trial.number, None, first_line(err), {"overrides": overrides})
            return False
        return True

    def _run(
        self, shared: SharedStudy, space: SearchSpace, trials: list[Trial], sweep_dir: Path
    ) -> None:
        """Launch one job per trial (job number = trial number) and tell Optuna each result."""
        overrides = [space.overrides(trial.params) for trial in trials]
        try:
            returns = self.launcher.launch(overrides, initial_job_idx=trials[0].number)
        except BaseException as err:  # Ctrl-C, a launcher's error: no trial stays RUNNING
            for trial in trials:
                shared.finish(trial.number, None, f"the sweep stopped: {first_line(err)}")
            raise
        for trial, job_overrides, job_return in zip(trials, overrides, returns, strict=True):
            job_dir = sweep_dir / str(trial.number)
            objective, error, attrs, pruned = job_outcome(job_return, job_dir)
            attrs = {"overrides": job_overrides, **attrs}
            self._record(shared, trial.number, objective, error, attrs, pruned)

    def _record(
        self,
        shared: SharedStudy,
        number: int,
        objective: float | None,
        error: str | None,
        attrs: dict[str, Any],
        pruned: bool = False,
    ) -> None:
        shared.finish(number, objective, error, attrs, pruned)
        self.told += 1
        if error is not None:
            self.failed += 1
            log.warning("Trial %d failed: %s", number, error)
        else:
            log.info("Trial %d%s: %s", number, " pruned" if pruned else "", objective)

    def _failure_rate_exceeded(self) -> str | None:
        if self.told and self.failed / self.told > self.max_failure_rate:
            return (
                f"{self.failed} of {self.told} trials failed, more than "
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate}; see the jobs' run.log"
            )
        return None

    def _write_results(self, shared: SharedStudy, sweep_dir: Path) -> None:
        from textlab.base.atomic import write_text_atomic

        results = shared.results()
        if "best_value" in results:
            log.info("Best trial %d: %s", results["best_trial"], results["best_value"])
        # atomic: other processes sharing the sweep dir write it too
        write_text_atomic(sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(results)))


def consecutive(trials: list[Trial]) -> list[list[Trial]]:
    """Split into runs of consecutive trial numbers: a launcher numbers a batch's jobs
    `initial_job_idx, +1, ...`, and another process may hold the numbers in between."""
    groups: list[list[Trial]] = []
    for trial in sorted(trials, key=lambda trial: trial.number):
        if groups and groups[-1][-1].number + 1 == trial.number:
            groups[-1].append(trial)
        else:
            groups.append([trial])
    return groups


def job_outcome(job_return: Any, default_dir: Path) -> tuple[float | None, str | None, dict, bool]:
    """A job's objective or error line, read as sweep_summary reads them, user attrs, and
    whether its pruner stopped it."""
    from textlab.app.sweep_summary import job_record

    hydra_cfg = job_return.hydra_cfg
    job_dir = Path(hydra_cfg.hydra.runtime.output_dir) if hydra_cfg else default_dir
    record = job_record(job_return, job_dir, runtime_s=0.0)
    objective, error = record["objective"], record["error"]
    if error is None and (objective is None or math.isnan(objective)):
        error = f"the job returned {objective}, not a number to optimise"
    attrs = {"job_dir": str(job_dir), "metrics": record["metrics"]}
    return objective, error, attrs, record["status"] == "pruned"


def first_line(err: BaseException) -> str:
    message = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {message}" if message else type(err).__name__
