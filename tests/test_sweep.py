"""Sweeps (`python run.py -m ...`): a dir per job, a summary of all, failures recorded not fatal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cli_runner import hydra_dirs, run_py
from hydra.core.utils import JobReturn, JobStatus

from textlab.app.sweep_summary import (
    JOB_FILE,
    SUMMARY_CSV,
    SUMMARY_MD,
    FailedJob,
    SweepSummary,
    failed_job,
    job_record,
    write_summary,
)
from textlab.base.errors import ConfigValueError

TINY = ("debug=fast", "trainer.accelerator=cpu", "model.hidden_size=8", "model.embedding_dim=8")


def fake_job(sweep_dir: Path, num: int, overrides: list[str], objective, error=None) -> None:
    job_dir = sweep_dir / str(num)
    job_dir.mkdir(parents=True)
    record = {
        "job": num,
        "overrides": overrides,
        "status": "failed" if error else "ok",
        "error": error,
        "objective": objective,
        "metrics": {} if error else {"val/acc_best": objective, "test/acc": objective - 0.01},
        "runtime_s": 10.0 + num,
    }
    (job_dir / JOB_FILE).write_text(json.dumps(record))


def test_summary_lists_jobs_best_objective_first_and_failures_last(tmp_path):
    fake_job(tmp_path, 0, ["model=lstm", "seed=1", "debug=fast"], 0.80)
    fake_job(tmp_path, 1, ["model=bow", "seed=1", "debug=fast"], None, "data.batch_size=0: bad")
    fake_job(tmp_path, 2, ["model=lstm", "seed=2", "debug=fast"], 0.90)
    fake_job(tmp_path, 3, ["model=bow", "seed=2", "debug=fast"], 0.60)

    rows = write_summary(tmp_path)

    assert [row["job"] for row in rows] == [2, 0, 3, 1]
    with open(tmp_path / SUMMARY_CSV) as handle:
        table = list(csv.DictReader(handle))
    assert [row["job"] for row in table] == ["2", "0", "3", "1"]
    assert table[0]["model"] == "lstm" and table[0]["seed"] == "2"
    assert table[0]["val/acc_best"] == "0.9" and table[0]["status"] == "ok"
    assert table[-1]["status"] == "failed" and table[-1]["error"] == "data.batch_size=0: bad"
    assert table[-1]["val/acc_best"] == ""

    markdown = (tmp_path / SUMMARY_MD).read_text().splitlines()
    assert "Every job: `debug=fast`" in markdown
    header = next(line for line in markdown if line.startswith("| job"))
    assert "debug" not in header  # the same for every job: listed once above the table
    assert markdown[-4].startswith("| 2 | lstm | 2 | 0.9000 | 0.8900 |")
    assert markdown[-1].endswith("| failed | data.batch_size=0: bad | 1 |")


def test_summary_can_sort_for_an_objective_to_minimise(tmp_path):
    fake_job(tmp_path, 0, ["seed=1"], 0.3)
    fake_job(tmp_path, 1, ["seed=2"], 0.1)
    assert [row["job"] for row in write_summary(tmp_path, maximize=False)] == [1, 0]


def job_return(value, status=JobStatus.COMPLETED) -> JobReturn:
    ret = JobReturn(overrides=["seed=1"], status=status)
    ret.return_value = value
    return ret


def test_job_record_reads_the_objective_and_the_job_dirs_metrics(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"val/acc_best": 0.7, "test/acc": 0.65}))
    record = job_record(job_return(0.7), tmp_path, runtime_s=12.34)
    assert record == {
        "overrides": ["seed=1"],
        "status": "ok",
        "error": None,
        "objective": 0.7,
        "metrics": {"val/acc_best": 0.7, "test/acc": 0.65},
        "runtime_s": 12.3,
    }


def test_job_record_marks_a_failed_job_with_its_error_line(tmp_path):
    failed = job_record(job_return(FailedJob("seed=x: bad")), tmp_path, 1.0)
    assert (failed["status"], failed["error"], failed["objective"]) == (
        "failed",
        "seed=x: bad",
        None,
    )
    raised = job_record(job_return(RuntimeError("boom"), JobStatus.FAILED), tmp_path, 1.0)
    assert (raised["status"], raised["error"]) == ("failed", "RuntimeError: boom")


def test_failed_job_keeps_user_errors_whole_and_names_other_exceptions():
    assert failed_job(ConfigValueError("data.batch_size=0: expected")).error == (
        "data.batch_size=0: expected"
    )
    assert failed_job(ValueError("shapes differ\nmore detail")).error == "ValueError: shapes differ"
    with pytest.raises(TypeError):
        float(FailedJob("x"))  # the Optuna sweeper then marks the trial failed


def hydra_config(sweep_dir: Path, num: int):
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    job_dir = sweep_dir / str(num)
    job_dir.mkdir(parents=True)
    hydra = {
        "mode": RunMode.MULTIRUN,
        "runtime": {"output_dir": str(job_dir)},
        "job": {"num": num},
        "sweep": {"dir": str(sweep_dir)},
    }
    return OmegaConf.create({"hydra": hydra})


@pytest.mark.parametrize(("env", "writes"), [({}, True), ({"LOCAL_RANK": "1"}, False)])
def test_callback_writes_job_json_and_summary_on_rank_zero_only(tmp_path, monkeypatch, env, writes):
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_NTASKS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    callback = SweepSummary()
    config = hydra_config(tmp_path, 3)
    callback.on_job_start(config, task_function=None)
    callback.on_job_end(config, job_return(0.5))
    assert (tmp_path / "3" / JOB_FILE).is_file() == writes
    assert (tmp_path / SUMMARY_CSV).is_file() == writes
    if writes:
        assert json.loads((tmp_path / "3" / JOB_FILE).read_text())["job"] == 3


def sweep_dirs(cwd: Path) -> list[Path]:
    return sorted((cwd / "outputs" / "multirun").glob("*/*"))


def summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / SUMMARY_CSV) as handle:
        return list(csv.DictReader(handle))


def assert_job_dirs_hold_the_run_dir_contract(job_dirs: list[Path]) -> None:
    for job_dir in job_dirs:
        for name in (".hydra/config.yaml", "run.log", "metrics.json", "provenance.json"):
            assert (job_dir / name).is_file(), job_dir / name
        assert (job_dir / "checkpoints" / "best.ckpt").is_file()


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path):
    # job 0 fails on a bad value, job 1 still runs; the sweep itself succeeds
    proc = run_py("-m", *TINY, "data.batch_size=0,16", cache=tmp_path / "cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    rows = summary(sweep_dir)
    assert [(row["data.batch_size"], row["status"]) for row in rows] == [
        ("16", "ok"),
        ("0", "failed"),
    ]
    assert rows[1]["error"] == "data.batch_size=0: expected a positive integer"
    assert float(rows[0]["val/acc_best"]) == float(rows[0]["objective"]) > 0
    assert float(rows[0]["runtime_s"]) > 0
    assert_job_dirs_hold_the_run_dir_contract([sweep_dir / "1"])
    assert "data.batch_size=0: expected" in (sweep_dir / "0" / "run.log").read_text()
    assert hydra_dirs(tmp_path) == [sweep_dir / "0", sweep_dir / "1"]


@pytest.mark.slow
def test_tensorboard_on_the_sweep_dir_shows_hparams_of_every_job(tmp_path):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    proc = run_py("-m", *TINY, "seed=1,2", cache=tmp_path / "cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    # what `tensorboard --logdir <sweep dir>` loads
    runs = EventMultiplexer().AddRunsFromDirectory(str(sweep_dir)).Reload()
    hparams = runs.PluginRunToTagToContent("hparams")
    assert {run.split("/")[0] for run in hparams} == {"0", "1"}
    for tags in hparams.values():
        assert "_hparams_/session_start_info" in tags


@pytest.mark.slow
def test_grid_sweep_gives_a_full_run_dir_per_job_and_a_summary(tmp_path):
    proc = run_py(
        "-m",
        "debug=fast",
        "trainer.accelerator=cpu",
        "logger=none",
        "model=lstm,transformer",
        "seed=1,2",
        cache=tmp_path / "cache",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    job_dirs = [sweep_dir / str(num) for num in range(4)]
    assert hydra_dirs(tmp_path) == job_dirs
    assert_job_dirs_hold_the_run_dir_contract(job_dirs)
    rows = summary(sweep_dir)
    assert sorted((row["model"], row["seed"]) for row in rows) == [
        ("lstm", "1"),
        ("lstm", "2"),
        ("transformer", "1"),
        ("transformer", "2"),
    ]
    assert all(row["status"] == "ok" for row in rows)
    objectives = [float(row["objective"]) for row in rows]
    assert objectives == sorted(objectives, reverse=True)
    assert "| model | seed |" in (sweep_dir / SUMMARY_MD).read_text()


@pytest.mark.slow
def test_sweep_jobs_on_two_processes_each_run_their_own_config_in_their_own_dir(tmp_path):
    proc = run_py(
        "-m", *TINY, "trainer.devices=2", "seed=1,2", cache=tmp_path / "cache", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # no second sweep (or run dir) started by a worker re-running the command line
    (sweep_dir,) = sweep_dirs(tmp_path)
    assert hydra_dirs(tmp_path) == [sweep_dir / "0", sweep_dir / "1"]
    assert not list((tmp_path / "outputs").glob("[0-9]*"))
    assert_job_dirs_hold_the_run_dir_contract([sweep_dir / "0", sweep_dir / "1"])
    assert [row["status"] for row in summary(sweep_dir)] == ["ok", "ok"]
    output = proc.stdout + proc.stderr
    assert output.count("All distributed processes registered. Starting with 2 processes") == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sweep", "failing", "error"),
    [
        # 361 training reviews cannot fill 2 x 181 batches: both ranks raise while fitting
        ("data.batch_size=1,16", "1", "cannot fill 362 batches"),
        # the loss turns NaN within a few steps: both ranks stop at the same step
        ("module.optimizer.lr=1e30,0.004", "1e+30", "nan"),
    ],
)
def test_a_job_failing_on_every_rank_mid_training_does_not_stop_the_sweep(
    tmp_path, sweep, failing, error
):
    proc = run_py(
        "-m",
        *TINY,
        "trainer.devices=2",
        "logger=none",
        "data.train_size=401",
        sweep,
        cache=tmp_path / "cache",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    key = sweep.split("=")[0]
    statuses = {row[key]: (row["status"], row["error"]) for row in summary(sweep_dir)}
    assert len(statuses) == 2
    status, message = statuses.pop(failing)
    assert status == "failed" and error in message
    assert [status for status, _ in statuses.values()] == ["ok"]


def run_optuna(cwd: Path, *overrides: str):
    pytest.importorskip("optuna", reason="needs the sweep extra")
    proc = run_py(
        "-m",
        "hparams_search=optuna",
        *TINY[:2],
        "model.embedding_dim=8",
        "logger=none",
        *overrides,
        cache=cwd / "cache",
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(cwd)
    return sweep_dir, summary(sweep_dir)


@pytest.mark.slow
def test_optuna_trials_on_two_processes_train_the_sampled_config(tmp_path):
    sweep_dir, rows = run_optuna(tmp_path, "hydra.sweeper.n_trials=3", "trainer.devices=2")
    assert hydra_dirs(tmp_path) == [sweep_dir / str(num) for num in range(3)]
    assert len(rows) == 3 and all(row["status"] == "ok" for row in rows)
    assert len({row["module.optimizer.lr"] for row in rows}) == 3
    for row in rows:
        # the trial's sampled values are the config its job trained with; a worker with
        # other values would have failed DDP's check that every rank's parameters match
        config = json.loads((sweep_dir / row["dir"] / "provenance.json").read_text())["config"]
        assert config["model"]["hidden_size"] == int(row["model.hidden_size"])
        assert config["module"]["optimizer"]["lr"] == float(row["module.optimizer.lr"])
    best = (sweep_dir / "optimization_results.yaml").read_text()
    assert f"best_value: {float(rows[0]['objective'])}" in best
