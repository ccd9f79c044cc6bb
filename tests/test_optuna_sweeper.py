"""textlab's Optuna sweeper (`hparams_search=optuna`): a persistent study, resumable, shared by
processes, one job per trial numbered by its trial, failures recorded in Optuna.

The sweep loop runs in-process against a fake launcher (fast); a few end-to-end sweeps run
`run.py -m` in real processes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_runner import ROOT, run_py
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from hydra_plugins.textlab_optuna_sweeper.sweeper import TextlabOptunaSweeper, consecutive
from textlab.app.sweep_summary import SUMMARY_CSV, FailedJob

optuna = pytest.importorskip("optuna", reason="needs the sweep extra")
Categorical = optuna.distributions.CategoricalDistribution
Float = optuna.distributions.FloatDistribution
Int = optuna.distributions.IntDistribution
COMPLETE, FAIL, RUNNING = (optuna.trial.TrialState[s] for s in ("COMPLETE", "FAIL", "RUNNING"))
STUDY = "test"


def parse(*overrides: str):
    from hydra_plugins.textlab_optuna_sweeper._search_space import parse_search_space

    return parse_search_space(overrides)


# ---------------------------------------------------------------- search space


@pytest.mark.parametrize(
    ("override", "distribution"),
    [
        ("x=interval(0, 0.5)", Float(0.0, 0.5)),
        ("x=tag(log, interval(1e-4, 1e-2))", Float(1e-4, 1e-2, log=True)),
        ("x=int(interval(8, 64))", Int(8, 64)),
        ("x=tag(log, int(interval(8, 64)))", Int(8, 64, log=True)),
        ("x=range(1, 10, 3)", Int(1, 7, step=3)),  # stop excluded: 1, 4, 7
        ("x=range(0.5, 2.0, 0.5)", Float(0.5, 1.5, step=0.5)),
        ("x=choice(32, 64, 96)", Categorical([32, 64, 96])),
        ("x=lstm,gru", Categorical(["lstm", "gru"])),
    ],
)
def test_sweeps_become_optuna_distributions(override, distribution):
    assert parse(override).distributions == {"x": distribution}


def test_fixed_overrides_pass_through_and_the_command_line_wins():
    space = parse(
        "model.hidden_size=choice(32, 64)",
        "lr=interval(0, 1)",
        "+extra=1",
        "~gone",
        "model.hidden_size=8",  # the command line comes after hydra.sweeper.params
    )
    assert set(space.distributions) == {"lr"}
    assert space.overrides({"lr": 0.25}) == ["model.hidden_size=8", "lr=0.25", "+extra=1", "~gone"]


@pytest.mark.parametrize(
    ("choice", "stored", "value"),
    [
        ("'a b'", "a b", "a b"),
        ("'x,y'", "x,y", "x,y"),
        ("[1,2]", "[1,2]", [1, 2]),  # Optuna stores primitives only: kept as override text
        ("true", True, True),
        ("1e-05", 1e-05, 1e-05),
    ],
)
def test_a_sampled_choice_reaches_the_job_as_the_value_it_was_written_as(choice, stored, value):
    space = parse(f"x=choice({choice}, other)")
    assert stored in space.distributions["x"].choices
    (line,) = space.overrides({"x": stored})
    assert OverridesParser.create().parse_override(line).value() == value


def test_an_empty_range_is_refused_with_its_override():
    with pytest.raises(ValueError, match=r"x=range\(3, 3\): the range is empty"):
        parse("x=range(3, 3)")


def test_hparams_search_optuna_composes_with_the_textlab_sweeper():
    from hydra import compose, initialize_config_dir
    from hydra.core.plugins import Plugins

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", ["hparams_search=optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ in Plugins.instance().class_name_to_class
    assert sweeper._target_.endswith("TextlabOptunaSweeper")
    assert sweeper.storage is None and sweeper.load_if_exists
    assert sweeper.direction.name == "maximize"
    space = parse(*(f"{key}={value}" for key, value in sweeper.params.items()))
    assert space.distributions["module.optimizer.lr"].log
    assert space.distributions["model.hidden_size"] == Categorical([32, 64, 96, 128])


# ---------------------------------------------------------------- the sweep loop, in-process


class FakeLauncher:
    """Runs no job: returns `objective(params)` for each, and records what it was given."""

    def __init__(self, objective=lambda params: float(params["x"]), before=None):
        self.objective = objective
        self.before = before  # called before the first launch, e.g. to run another sweeper
        self.launches: list[tuple[int, list[list[str]]]] = []

    def launch(self, job_overrides, initial_job_idx):
        if self.before is not None:
            before, self.before = self.before, None
            before()
        self.launches.append((initial_job_idx, [list(o) for o in job_overrides]))
        returns = []
        for overrides in job_overrides:
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            ret.return_value = self.objective(dict(o.split("=", 1) for o in overrides))
            returns.append(ret)
        return returns

    def job_numbers(self) -> list[int]:
        return [start + i for start, batch in self.launches for i in range(len(batch))]


def make_sweeper(sweep_dir: Path, launcher, **settings) -> TextlabOptunaSweeper:
    conf = dict(
        sampler=optuna.samplers.RandomSampler(seed=0),
        direction="maximize",
        study_name=STUDY,
        storage=None,
        load_if_exists=True,
        n_trials=3,
        n_jobs=1,
        max_failure_rate=1.0,
        stale_after_s=None,
        params={"x": "interval(0, 1)"},
    )
    sweeper = TextlabOptunaSweeper(**{**conf, **settings})
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}})
    sweeper.launcher = launcher
    return sweeper


def load(sweep_dir: Path, storage: str | None = None):
    return optuna.load_study(
        study_name=STUDY, storage=storage or f"sqlite:///{sweep_dir}/optuna.db"
    )


def test_each_trial_is_a_job_numbered_by_its_trial_and_its_value_is_told(tmp_path):
    launcher = FakeLauncher()
    make_sweeper(tmp_path, launcher, n_trials=5, n_jobs=2).sweep(["seed=3"])
    assert launcher.launches[0][0] == 0 and launcher.job_numbers() == [0, 1, 2, 3, 4]
    assert [len(batch) for _, batch in launcher.launches] == [2, 2, 1]
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [COMPLETE] * 5
    for trial in trials:
        assert trial.value == trial.params["x"]
        assert trial.user_attrs["overrides"] == [f"x={trial.params['x']}", "seed=3"]
        assert trial.user_attrs["job_dir"] == str(tmp_path / str(trial.number))
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert results.best_value == max(t.value for t in trials)
    assert results.trials.complete == 5


def test_a_rerun_continues_the_study_up_to_n_trials_with_new_values(tmp_path):
    first, second = FakeLauncher(), FakeLauncher()
    make_sweeper(tmp_path, first, n_trials=2).sweep([])
    # the same seed again: the rerun reseeds rather than repeat the first run's values
    make_sweeper(tmp_path, second, n_trials=4).sweep([])
    make_sweeper(tmp_path, FakeLauncher(), n_trials=4).sweep([])  # nothing left to run
    assert (first.job_numbers(), second.job_numbers()) == ([0, 1], [2, 3])
    trials = load(tmp_path).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert len({t.params["x"] for t in trials}) == 4


def test_a_second_sweeper_on_the_study_takes_the_trials_the_first_has_not(tmp_path):
    # B runs its whole sweep while A's first job runs: B must count A's RUNNING trial
    b = FakeLauncher()
    a = FakeLauncher(before=lambda: make_sweeper(tmp_path, b, n_trials=4).sweep([]))
    make_sweeper(tmp_path, a, n_trials=4).sweep([])
    assert (a.job_numbers(), b.job_numbers()) == ([0], [1, 2, 3])
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [COMPLETE] * 4
    assert len({t.params["x"] for t in trials}) == 4  # B reseeded its sampler


def test_a_batch_split_by_another_process_keeps_job_numbers_equal_to_trial_numbers():
    trials = [SimpleNamespace(number=n) for n in (5, 3, 6, 9)]
    assert [[t.number for t in group] for group in consecutive(trials)] == [[3], [5, 6], [9]]


def test_a_failed_job_fails_its_trial_with_the_error_line_and_the_sweep_goes_on(tmp_path):
    def objective(params):
        return (
            FailedJob("data.batch_size=0: expected a positive integer")
            if float(params["x"]) < 0.5
            else 1.0
        )

    launcher = FakeLauncher(objective)
    make_sweeper(tmp_path, launcher, n_trials=6).sweep([])
    trials = load(tmp_path).trials
    failed = [t for t in trials if t.state == FAIL]
    assert failed and len(failed) < 6  # seed 0 samples both sides of 0.5
    for trial in trials:
        if trial.params["x"] < 0.5:
            assert trial.state == FAIL
            assert trial.user_attrs["error"] == "data.batch_size=0: expected a positive integer"
        else:
            assert trial.state == COMPLETE and "error" not in trial.user_attrs


def test_more_failures_than_max_failure_rate_stop_the_sweep(tmp_path):
    launcher = FakeLauncher(lambda params: FailedJob("boom"))
    sweeper = make_sweeper(tmp_path, launcher, n_trials=5, max_failure_rate=0.5)
    with pytest.raises(RuntimeError, match=r"1 of 1 trials failed, more than .*rate=0.5"):
        sweeper.sweep([])
    assert [t.state for t in load(tmp_path).trials] == [FAIL]
    assert (tmp_path / "optimization_results.yaml").is_file()


def test_a_job_returning_no_number_fails_its_trial(tmp_path):
    make_sweeper(tmp_path, FakeLauncher(lambda params: float("nan")), n_trials=1).sweep([])
    (trial,) = load(tmp_path).trials
    assert trial.state == FAIL
    assert trial.user_attrs["error"] == "the job returned nan, not a number to optimise"


def test_an_interrupted_sweep_leaves_no_trial_running(tmp_path):
    def interrupted(params):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_sweeper(tmp_path, FakeLauncher(interrupted)).sweep([])
    (trial,) = load(tmp_path).trials
    assert trial.state == FAIL
    assert trial.user_attrs["error"] == "the sweep stopped: KeyboardInterrupt"


@pytest.mark.parametrize(("stale_after_s", "state"), [(0.0, FAIL), (None, RUNNING)])
def test_a_dead_processs_running_trial_is_failed_once_stale(tmp_path, stale_after_s, state):
    dead = optuna.create_study(
        study_name=STUDY, storage=f"sqlite:///{tmp_path}/optuna.db", direction="maximize"
    )
    dead.ask()  # trial 0, RUNNING for good: its process is gone
    launcher = FakeLauncher()
    make_sweeper(tmp_path, launcher, n_trials=2, stale_after_s=stale_after_s).sweep([])
    assert launcher.job_numbers() == [1]  # a running trial counts towards n_trials
    trial = load(tmp_path).trials[0]
    assert trial.state == state
    if state == FAIL:
        assert trial.user_attrs["error"].startswith("stale: still running after 0 s")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_whose_overrides_do_not_compose_fails_without_a_job(tmp_path):
    class Loader:
        def load_sweep_config(self, config, overrides):
            if "model=lstmz" in overrides:
                raise ValueError("Could not find 'model/lstmz'\nAvailable options: ...")

    launcher = FakeLauncher(lambda params: 1.0)
    sweeper = make_sweeper(
        tmp_path,
        launcher,
        n_trials=4,  # the sampler stops the sweep after both choices
        sampler=optuna.samplers.BruteForceSampler(seed=0),
        params={"model": "choice(lstm, lstmz)"},
    )
    sweeper.hydra_context = SimpleNamespace(config_loader=Loader())
    sweeper.sweep([])
    trials = load(tmp_path).trials
    assert len(trials) == 2
    states = {t.params["model"]: (t.state, t.user_attrs.get("error")) for t in trials}
    assert states == {
        "lstm": (COMPLETE, None),
        "lstmz": (FAIL, "ValueError: Could not find 'model/lstmz'"),
    }
    assert [batch for _, batch in launcher.launches] == [[["model=lstm"]]]


def test_a_journal_file_stores_the_study(tmp_path):
    storage = f"journal://{tmp_path}/study.journal"
    make_sweeper(tmp_path, FakeLauncher(), n_trials=2, storage=storage).sweep([])
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = JournalStorage(JournalFileBackend(str(tmp_path / "study.journal")))
    assert [t.state for t in load(tmp_path, journal).trials] == [COMPLETE] * 2
    assert not (tmp_path / "optuna.db").exists()


def test_a_study_created_for_the_other_direction_is_refused(tmp_path):
    optuna.create_study(study_name=STUDY, storage=f"sqlite:///{tmp_path}/optuna.db")
    with pytest.raises(ValueError, match="direction=maximize, but study 'test' .* to minimize"):
        make_sweeper(tmp_path, FakeLauncher()).sweep([])


# ---------------------------------------------------------------- real sweeps (run.py -m)

TINY = (
    "debug=fast",
    "trainer.accelerator=cpu",
    "model.hidden_size=8",  # fixed: the search is over the learning rate and dropout
    "model.embedding_dim=8",
    "logger=none",
)


def sweep_args(sweep_dir: Path, n_trials: int, *overrides: str) -> list[str]:
    return [
        "hparams_search=optuna",
        *TINY,
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweep.dir={sweep_dir}",
        *overrides,
    ]


def textlab_study(sweep_dir: Path):
    return optuna.load_study(study_name="textlab", storage=f"sqlite:///{sweep_dir}/optuna.db")


def summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / SUMMARY_CSV) as handle:
        return list(csv.DictReader(handle))


def run_sweep(tmp_path: Path, sweep_dir: Path, n_trials: int, *overrides: str):
    args = sweep_args(sweep_dir, n_trials, *overrides)
    return run_py("-m", *args, cache=tmp_path / "cache", cwd=tmp_path, check=True)


def test_a_sweep_keeps_its_study_in_the_sweep_dir(tmp_path):
    sweep_dir = tmp_path / "sweep"
    run_sweep(tmp_path, sweep_dir, 3)
    trials = textlab_study(sweep_dir).trials
    assert [(t.number, t.state) for t in trials] == [(n, COMPLETE) for n in range(3)]
    for trial in trials:
        job_dir = sweep_dir / str(trial.number)
        assert trial.user_attrs["job_dir"] == str(job_dir)
        metrics = json.loads((job_dir / "metrics.json").read_text())
        assert trial.value == metrics["val/acc_best"]
        lr = trial.params["module.optimizer.lr"]
        assert f"module.optimizer.lr={lr}" in trial.user_attrs["overrides"]
    rows = summary(sweep_dir)
    assert sorted(row["job"] for row in rows) == ["0", "1", "2"]
    assert all(row["status"] == "ok" for row in rows)


@pytest.mark.slow
def test_rerunning_a_sweep_continues_its_study(tmp_path):
    sweep_dir = tmp_path / "sweep"
    run_sweep(tmp_path, sweep_dir, 2)
    run_sweep(tmp_path, sweep_dir, 4)
    trials = textlab_study(sweep_dir).trials
    assert [(t.number, t.state) for t in trials] == [(n, COMPLETE) for n in range(4)]
    assert len({t.params["module.optimizer.lr"] for t in trials}) == 4
    assert sorted(row["job"] for row in summary(sweep_dir)) == ["0", "1", "2", "3"]


@pytest.mark.slow
def test_two_sweeper_processes_share_one_study_without_running_a_trial_twice(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, str(ROOT / "run.py"), "-m", *sweep_args(sweep_dir, 6)]
    env = {**os.environ, "TEXTLAB_CACHE_DIR": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    trials = textlab_study(sweep_dir).trials
    assert [(t.number, t.state) for t in trials] == [(n, COMPLETE) for n in range(6)]
    launched = [
        {int(line.split("#")[1].split(" ")[0]) for line in out.splitlines() if "\t#" in line}
        for out in outputs
    ]
    assert not launched[0] & launched[1] and launched[0] | launched[1] == set(range(6))
    assert sorted(int(row["job"]) for row in summary(sweep_dir)) == list(range(6))


@pytest.mark.slow
def test_a_failing_trial_is_failed_in_optuna_with_its_error_and_the_sweep_goes_on(tmp_path):
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    study = optuna.create_study(
        study_name="textlab", storage=f"sqlite:///{sweep_dir}/optuna.db", direction="maximize"
    )
    study.enqueue_trial({"data.batch_size": 0})  # trial 0 fails, trial 1 must still run
    study.enqueue_trial({"data.batch_size": 16})
    run_sweep(tmp_path, sweep_dir, 2, "data.batch_size=choice(0,16)")
    first, second = textlab_study(sweep_dir).trials
    assert (first.state, first.params["data.batch_size"]) == (FAIL, 0)
    assert first.user_attrs["error"] == "data.batch_size=0: expected a positive integer"
    assert (second.state, second.params["data.batch_size"]) == (COMPLETE, 16)
    rows = {row["job"]: row["status"] for row in summary(sweep_dir)}
    assert rows == {"0": "failed", "1": "ok"}
