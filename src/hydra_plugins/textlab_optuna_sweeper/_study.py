"""The Optuna side of the sweeper: the shared study, asking and telling trials.

Checked against optuna 5.0. Several processes (on one machine or several) may run a sweep on
one storage at once: each asks Optuna for its trials, so trial numbers never repeat, and each
stops asking once the study holds `n_trials` trials that are finished or running.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages.journal import JournalFileOpenLock
from optuna.trial import FrozenTrial, TrialState

# the jobs open the study too (to prune): how its storage opens is defined once, in textlab
from textlab.run.pruning import JOURNAL, SQLITE, open_storage

log = logging.getLogger(__name__)

# Trials that count towards n_trials. WAITING ones (enqueued) are not taken yet.
TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
# A lock older than this is a dead process's; asking takes milliseconds to seconds.
ASK_LOCK_GRACE_S = 60
# PostgreSQL advisory lock key: any fixed number; one lock for all textlab sweeps on a database
PG_ASK_LOCK = 0x7465_7874_6C61_6231


def printable_url(url: str) -> str:
    """`url` without its password, for logs."""
    if url.startswith(JOURNAL) or url.startswith(SQLITE):
        return url
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def ask_lock(url: str) -> Any:
    """A lock around counting and asking: with it, two processes cannot both take the study's
    last trial, and a batch gets consecutive trial numbers. Also around creating the study:
    two processes creating one schema at once would collide.

    A file next to a study in a file; a PostgreSQL advisory lock, which the server drops with
    the connection if the process dies. Other database servers (MySQL) get none: there two
    processes asking at the same moment may run one trial more than `n_trials` (as Optuna's
    own MaxTrialsCallback may).
    """
    for prefix in (SQLITE, JOURNAL):
        if url.startswith(prefix):
            # not the journal's own lock file (<file>.lock), which the storage takes inside
            return _held(JournalFileOpenLock(url[len(prefix) :] + ".ask", ASK_LOCK_GRACE_S))
    if url.startswith("postgresql"):
        return _postgres_lock(url)
    return nullcontext()


@contextmanager
def _held(lock: JournalFileOpenLock) -> Iterator[None]:
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _postgres_lock(url: str) -> Iterator[None]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)  # the lock lives as long as its connection
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_ASK_LOCK})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_ASK_LOCK})
    finally:
        engine.dispose()


class SharedStudy:
    """One study in its storage, possibly shared with other sweeper processes."""

    def __init__(
        self,
        url: str,
        name: str,
        direction: str,
        sampler: Any,
        load_if_exists: bool,
        pruner: Any = None,
    ) -> None:
        self.storage = open_storage(url)
        self.study = optuna.create_study(
            storage=self.storage,
            study_name=name,
            direction=direction,
            sampler=sampler,
            # Optuna stores no pruner: the jobs, which ask it, build theirs from the same setting
            pruner=pruner,
            load_if_exists=load_if_exists,
        )
        self.study_id = self.storage.get_study_id_from_name(name)
        self.exhausted = False  # the sampler has no new point to try
        created = self.study.direction.name.lower()
        if created != direction:
            raise ValueError(
                f"hydra.sweeper.direction={direction}, but study {name!r} in "
                f"{printable_url(url)} was created to {created}; use another study_name"
            )

    def trials(self, *states: TrialState) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=states)

    def fail_stale_trials(self, stale_after_s: float | None) -> None:
        """Mark FAIL the RUNNING trials started over `stale_after_s` ago (a dead process's)."""
        if stale_after_s is None:
            return
        # datetime_start is the local time of the process that asked for the trial
        oldest = datetime.now() - timedelta(seconds=stale_after_s)
        for trial in self.trials(TrialState.RUNNING):
            if trial.datetime_start is not None and trial.datetime_start < oldest:
                error = f"stale: still running after {stale_after_s:g} s, its process is gone"
                log.warning("Trial %d: %s; marking it failed", trial.number, error)
                self.finish(trial.number, None, error)

    def taken(self) -> int:
        """Trials that count towards n_trials: finished, failed or running."""
        return len(self.trials(*TAKEN))

    def finish(
        self,
        number: int,
        objective: float | None,
        error: str | None,
        attrs: dict[str, Any] | None = None,
        pruned: bool = False,
    ) -> None:
        """COMPLETE trial `number` with `objective`, or FAIL it (`error` in its user attrs), or
        mark it PRUNED (Optuna's value: the last one the job reported)."""
        try:
            self.set_user_attrs(number, {**(attrs or {}), **({"error": error} if error else {})})
            if error is not None or objective is None:
                self.study.tell(number, state=TrialState.FAIL)
            elif pruned:
                self.study.tell(number, state=TrialState.PRUNED)
            else:
                self.study.tell(number, objective)
        except UpdateFinishedTrialError:
            # another process found it stale and failed it: stale_after_s is shorter than a job
            log.warning("Trial %d was already marked failed elsewhere; result lost", number)
        except RuntimeError as err:
            # GridSampler and BruteForceSampler call Study.stop() once every point was tried,
            # which raises outside Study.optimize (after the trial was told)
            if "Study.stop" not in str(err):
                raise
            self.exhausted = True

    def set_user_attrs(self, number: int, attrs: dict[str, Any]) -> None:
        # by trial number, through the storage: also for trials other processes asked for
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        for key, value in attrs.items():
            self.storage.set_trial_user_attr(trial_id, key, value)

    def results(self) -> dict[str, Any]:
        """What optimization_results.yaml holds: the best trial of the whole study."""
        counts = {state.name.lower(): len(self.trials(state)) for state in TAKEN}
        record: dict[str, Any] = {
            "name": "optuna",
            "study_name": self.study.study_name,
            "trials": counts,
        }
        if counts["complete"]:
            best = self.study.best_trial
            record.update(best_trial=best.number, best_params=best.params, best_value=best.value)
        return record
