"""Pruning in textlab's Optuna sweeper (`hydra.sweeper.pruner`): each job reports val/acc per
epoch to its trial, stops once the pruner says so, and ends PRUNED in the study and `pruned`
in the sweep summary.

The callback runs against a real SQLite study and a fake trainer; one sweep runs `run.py -m`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from cli_runner import ROOT, run_py
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict
from test_optuna_sweeper import FakeLauncher, load, make_sweeper, summary, textlab_study

from textlab.app.sweep_summary import SweepSummary, job_record, summary_rows
from textlab.base.run_files import pruned_at
from textlab.run import pruning
from textlab.run.pruning import PRUNED_FILE, SweepTrial, TrialPruning, build_pruner

optuna = pytest.importorskip("optuna", reason="needs the sweep extra")
COMPLETE, PRUNED = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
# prunes from the second trial on, never in the first epoch
MEDIAN = {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 1, "n_warmup_steps": 1}


class FakeStrategy:
    """Records what each rank broadcasts; `rank0_says`: what rank 0 sent (on other ranks)."""

    def __init__(self, rank0_says: bool | None = None) -> None:
        self.rank0_says = rank0_says
        self.sent: list[bool] = []

    def broadcast(self, obj, src=0):
        self.sent.append(obj)
        return obj if self.rank0_says is None else self.rank0_says


def fake_trainer(epoch: int, acc: float, rank: int = 0, strategy=None, sanity=False):
    return SimpleNamespace(
        sanity_checking=sanity,
        is_global_zero=rank == 0,
        strategy=strategy or FakeStrategy(),
        callback_metrics={"val/acc": torch.tensor(acc)},
        current_epoch=epoch,
        max_epochs=3,
        should_stop=False,
    )


def job_trial(tmp_path: Path, finished=(0.75, 0.75, 0.75), pruner=MEDIAN) -> SweepTrial:
    """A study with a finished trial (val/acc per epoch: `finished`) and the job's, running."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    done = study.ask()
    for step, value in enumerate(finished):
        done.report(value, step)
    study.tell(done, max(finished))
    running = study.ask()
    job_dir = tmp_path / str(running.number)
    job_dir.mkdir()
    return SweepTrial(url, "s", running.number, OmegaConf.create(pruner), job_dir)


def the_trial(trial: SweepTrial):
    return optuna.load_study(study_name="s", storage=trial.storage).trials[trial.number]


# ---------------------------------------------------------------- the callback


def test_a_trial_below_the_median_reports_each_epoch_and_stops_once_pruned(tmp_path, caplog):
    trial = job_trial(tmp_path)
    callback = TrialPruning(trial)
    strategy = FakeStrategy()
    first, second = fake_trainer(0, 0.5, strategy=strategy), fake_trainer(1, 0.5, strategy=strategy)
    with caplog.at_level(logging.INFO, logger="textlab.run.pruning"):
        callback.on_validation_end(first, None)  # a warm-up epoch: reported, never pruned
        assert not first.should_stop and pruned_at(trial.job_dir) is None
        callback.on_validation_end(second, None)
    assert second.should_stop and strategy.sent == [False, True]
    stored = the_trial(trial)
    assert stored.intermediate_values == {0: 0.5, 1: 0.5}
    assert stored.user_attrs["pruned_at_epoch"] == 2
    assert pruned_at(trial.job_dir) == {"trial": 1, "epoch": 2, "val/acc": 0.5}
    assert "trial 1 pruned at epoch 2 of 3: val/acc=0.5000" in caplog.text


def test_a_trial_as_good_as_the_others_trains_to_the_end(tmp_path):
    trial = job_trial(tmp_path)
    callback = TrialPruning(trial)
    for epoch in range(3):
        trainer = fake_trainer(epoch, 0.875)
        callback.on_validation_end(trainer, None)
        assert not trainer.should_stop
    assert the_trial(trial).intermediate_values == {0: 0.875, 1: 0.875, 2: 0.875}
    assert pruned_at(trial.job_dir) is None


def test_the_sanity_check_reports_nothing(tmp_path):
    trial = job_trial(tmp_path)
    strategy = FakeStrategy()
    TrialPruning(trial).on_validation_end(
        fake_trainer(0, 0.1, strategy=strategy, sanity=True), None
    )
    assert the_trial(trial).intermediate_values == {} and strategy.sent == []


@pytest.mark.parametrize("rank0_says", [True, False])
def test_other_ranks_follow_rank_0_without_opening_the_study(tmp_path, rank0_says):
    trial = job_trial(tmp_path)
    trainer = fake_trainer(1, 0.1, rank=1, strategy=FakeStrategy(rank0_says))
    TrialPruning(trial).on_validation_end(trainer, None)
    assert trainer.should_stop is rank0_says
    assert the_trial(trial).intermediate_values == {}  # rank 1 reported nothing
    assert pruned_at(trial.job_dir) is None


@pytest.mark.parametrize(
    ("setting", "kind"),
    [
        ("median", "MedianPruner"),
        ("hyperband", "HyperbandPruner"),
        (OmegaConf.create(MEDIAN), "MedianPruner"),
        ("none", None),
        (None, None),
    ],
)
def test_pruner_settings_become_optuna_pruners(setting, kind):
    pruner = build_pruner(setting)
    assert (type(pruner).__name__ if pruner is not None else None) == kind


@pytest.mark.parametrize(
    ("setting", "message"),
    [("medain", "expected one of median, hyperband, none"), ({"n_warmup_steps": 1}, "_target_")],
)
def test_a_bad_pruner_setting_is_refused_naming_the_key(setting, message):
    with pytest.raises(ValueError, match=f"hydra.sweeper.pruner=.*{message}"):
        build_pruner(setting)


# ---------------------------------------------------------------- which jobs prune


@pytest.fixture
def hydra_job(tmp_path):
    """Set HydraConfig as a sweep job (number 3) of `hparams_search=optuna` + overrides."""
    from hydra import compose, initialize_config_dir

    def as_job(*overrides: str):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("config", list(overrides), return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.job.num = 3
            cfg.hydra.sweep.dir = "sweep"
            cfg.hydra.runtime.cwd = str(tmp_path)
            cfg.hydra.runtime.output_dir = str(tmp_path / "sweep" / "3")
        HydraConfig.instance().set_config(cfg)

    yield as_job
    HydraConfig.instance().cfg = None


def test_a_job_of_the_optuna_sweeper_with_a_pruner_finds_its_trial(hydra_job, tmp_path):
    hydra_job("hparams_search=optuna", "hydra.sweeper.pruner=median")
    assert pruning.this_trial() == SweepTrial(
        storage=f"sqlite:///{tmp_path}/sweep/optuna.db",
        study_name="textlab",
        number=3,
        pruner="median",
        job_dir=tmp_path / "sweep" / "3",
    )
    assert [type(c) for c in pruning.pruning_callbacks()] == [TrialPruning]


@pytest.mark.parametrize("overrides", [["hparams_search=optuna"], ["hydra.mode=MULTIRUN"]])
def test_no_pruner_or_another_sweeper_adds_no_callback(hydra_job, overrides):
    hydra_job(*overrides)
    assert pruning.this_trial() is None and pruning.pruning_callbacks() == []


def test_the_ddp_ranks_a_pruning_job_starts_prune_too_and_the_next_job_does_not(monkeypatch):
    monkeypatch.delenv(pruning.PRUNING_ENV, raising=False)
    with pruning.ranks_prune_too([TrialPruning(None)]):
        assert [c.trial for c in pruning.pruning_callbacks()] == [None]  # a rank: follows rank 0
    assert pruning.PRUNING_ENV not in os.environ
    with pruning.ranks_prune_too([]):
        assert pruning.pruning_callbacks() == []


# ---------------------------------------------------------------- the sweeper and the summary


def test_the_sweeper_tells_a_pruned_job_pruned(tmp_path):
    class PruningLauncher(FakeLauncher):
        """Jobs with x < 0.5 leave pruned.json, as TrialPruning does."""

        def launch(self, job_overrides, initial_job_idx):
            for number, overrides in enumerate(job_overrides, start=initial_job_idx):
                if float(dict(o.split("=", 1) for o in overrides)["x"]) < 0.5:
                    job_dir = tmp_path / str(number)
                    job_dir.mkdir()
                    (job_dir / PRUNED_FILE).write_text(json.dumps({"trial": number, "epoch": 1}))
            return super().launch(job_overrides, initial_job_idx)

    make_sweeper(tmp_path, PruningLauncher(), n_trials=6, pruner="median").sweep([])
    states = {t.state for t in load(tmp_path).trials if t.params["x"] < 0.5}
    assert states == {PRUNED}  # seed 0 samples both sides of 0.5
    assert {t.state for t in load(tmp_path).trials if t.params["x"] >= 0.5} == {COMPLETE}
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert results.trials.pruned == len([t for t in load(tmp_path).trials if t.state == PRUNED])


def test_a_pruned_job_is_listed_after_full_runs_and_before_failures(tmp_path):
    def job(number, status, objective):
        return {"job": number, "dir": str(number), "overrides": [], "metrics": {}}, {
            "status": status,
            "objective": objective,
            "runtime_s": 1.0,
            "error": "boom" if status == "failed" else None,
        }

    jobs = [
        {**a, **b} for a, b in (job(0, "pruned", 0.9), job(1, "failed", None), job(2, "ok", 0.6))
    ]
    assert [(row["job"], row["status"]) for row in summary_rows(jobs)] == [
        (2, "ok"),
        (0, "pruned"),
        (1, "failed"),
    ]


def test_a_reused_job_dir_forgets_an_earlier_studys_pruned_file(tmp_path):
    from hydra.core.utils import JobReturn, JobStatus

    (tmp_path / PRUNED_FILE).write_text("{}")  # a study of another name had trial 0 here
    config = OmegaConf.create(
        {"hydra": {"mode": "MULTIRUN", "runtime": {"output_dir": str(tmp_path)}}}
    )
    SweepSummary().on_job_start(config)
    finished = JobReturn(overrides=[], status=JobStatus.COMPLETED)
    finished.return_value = 0.7
    assert job_record(finished, tmp_path, 1.0)["status"] == "ok"


# ---------------------------------------------------------------- a real sweep


# on 2 processes: rank 0 reports, the rank its job starts follows (or the job would hang)
@pytest.mark.parametrize("devices", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_a_sweep_with_a_median_pruner_prunes_a_hopeless_trial(tmp_path, devices):
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    study = optuna.create_study(
        study_name="textlab", storage=f"sqlite:///{sweep_dir}/optuna.db", direction="maximize"
    )
    # fixed order, whatever the sampler: one that learns in an epoch, then one that cannot
    study.enqueue_trial({"module.optimizer.lr": 2e-2})
    study.enqueue_trial({"module.optimizer.lr": 1e-6})
    run_py(
        "-m",
        "hparams_search=optuna",
        "debug=fast",
        "trainer.accelerator=cpu",
        "logger=none",
        "model=bow",  # learns within an epoch of debug=fast's data; a tiny LSTM does not
        "model.embedding_dim=16",
        "hydra.sweeper.params=null",  # the LSTM's search space
        "module.optimizer.lr=choice(1e-6, 2e-2)",
        "trainer.max_epochs=3",
        f"trainer.devices={devices}",
        "hydra.sweeper.pruner={_target_:optuna.pruners.MedianPruner,n_startup_trials:1}",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={sweep_dir}",
        cache=tmp_path / "cache",
        cwd=tmp_path,
        check=True,
    )
    good, hopeless = textlab_study(sweep_dir).trials
    assert (good.state, len(good.intermediate_values)) == (COMPLETE, 3)
    assert hopeless.state == PRUNED
    assert len(hopeless.intermediate_values) < 3  # stopped before its last epoch
    assert hopeless.user_attrs["pruned_at_epoch"] == len(hopeless.intermediate_values)
    rows = {row["job"]: row["status"] for row in summary(sweep_dir)}
    assert rows == {"0": "ok", "1": "pruned"}
    job = json.loads((sweep_dir / "1" / "job.json").read_text())
    assert job["status"] == "pruned" and job["metrics"]["test/acc"] is not None
    run_log = (sweep_dir / "1" / "run.log").read_text()
    assert f"trial 1 pruned at epoch {len(hopeless.intermediate_values)} of 3" in run_log
