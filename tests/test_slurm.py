"""SLURM: the requeue handler (fast), and real jobs on a local cluster (slow).

The slow tests start a cluster of two nodes on this machine with scripts/slurm_local.sh (it
installs SLURM from Debian's packages if it must) and skip with the script's reason where it
cannot run. Every job trains a tiny LSTM on 2 CPU processes, as `trainer.devices=2` does
outside SLURM, and must end with the same metrics.json.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import ROOT, hydra_dirs, run_py
from config_compose import compose_config
from slurm_cluster import (
    local_cluster,
    log_span,
    sbatch_train,
    signal_after_the_first_epoch,
    wait_for_job,
)

from textlab.callbacks import requeue
from textlab.callbacks.requeue import RequeueOnSignal, slurm_job_id

TINY = ("debug=fast", "trainer.accelerator=cpu", "data.train_size=401", "data.test_size=101",
        "model.hidden_size=8", "model.embedding_dim=8", "logger=none")  # fmt: skip
# 4 epochs of 11 steps per rank: long enough to signal a job half-way
LONGER = ("trainer.accelerator=cpu", "data.train_size=1500", "data.test_size=101",
          "data.max_words=60", "tokenizer.vocab_size=500", "trainer.max_epochs=4",
          "model.hidden_size=8", "model.embedding_dim=8", "logger=none")  # fmt: skip


def test_requeue_takes_an_array_tasks_id_as_scontrol_wants_it():
    assert slurm_job_id({"SLURM_JOB_ID": "12"}) == "12"
    array_task = {"SLURM_JOB_ID": "14", "SLURM_ARRAY_JOB_ID": "12", "SLURM_ARRAY_TASK_ID": "1"}
    assert slurm_job_id(array_task) == "12_1"


class Stop(Exception):
    """Ends the callback's wait for SLURM's SIGTERM."""


class FakeStrategy:
    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return decision


class FakeTrainer:
    strategy = FakeStrategy()
    is_global_zero = True
    global_step = 7

    def __init__(self) -> None:
        self.saved: list[Path] = []

    def save_checkpoint(self, path: Path) -> None:
        self.saved.append(path)


def test_requeue_signal_saves_last_ckpt_between_batches_then_requeues(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.setattr(requeue.subprocess, "run", lambda cmd, **_: calls.append(cmd) or
                        subprocess.CompletedProcess(cmd, 0))  # fmt: skip
    monkeypatch.setattr(requeue.time, "sleep", lambda _: (_ for _ in ()).throw(Stop()))
    callback, trainer = RequeueOnSignal(tmp_path / "last.ckpt"), FakeTrainer()
    previous = signal.getsignal(requeue.REQUEUE_SIGNAL)
    callback.on_fit_start(trainer, None)
    try:
        callback.on_train_batch_end(trainer, None)
        assert trainer.saved == [] and calls == []  # no signal: nothing happens
        os.kill(os.getpid(), requeue.REQUEUE_SIGNAL)  # only noted by the handler
        assert callback.requested and trainer.saved == []
        with pytest.raises(Stop):  # saved, requeued, then waits to be ended
            callback.on_train_batch_end(trainer, None)
    finally:
        signal.signal(requeue.REQUEUE_SIGNAL, previous)
    assert trainer.saved == [tmp_path / "last.ckpt"]
    assert calls == [["scontrol", "requeue", "41"]]


def test_a_failed_requeue_ends_the_run_with_an_error_naming_the_saved_checkpoint(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setattr(
        requeue.subprocess, "run", lambda cmd, **_: subprocess.CompletedProcess(cmd, 1)
    )
    callback, trainer = RequeueOnSignal(tmp_path / "last.ckpt"), FakeTrainer()
    callback.requested = True
    with pytest.raises(RuntimeError, match="scontrol requeue 41 failed.*resume=auto.*last.ckpt"):
        callback.on_train_batch_end(trainer, None)
    assert trainer.saved == [tmp_path / "last.ckpt"]


def test_under_slurm_lightnings_own_requeue_handler_is_off_and_textlabs_is_on(
    tmp_path, monkeypatch
):
    from lightning.fabric.plugins.environments import SLURMEnvironment

    from textlab.run.trainer import build_trainer

    one_task = {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "textlab", "SLURM_JOB_ID": "9",
                "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}  # fmt: skip
    for key, value in one_task.items():
        monkeypatch.setenv(key, value)
    cfg = compose_config(tmp_path, "logger=none", "trainer.accelerator=cpu")
    trainer = build_trainer(cfg, [])
    environment = trainer._accelerator_connector.cluster_environment
    assert isinstance(environment, SLURMEnvironment) and not environment.auto_requeue
    (handler,) = [c for c in trainer.callbacks if isinstance(c, RequeueOnSignal)]
    assert handler.last_checkpoint == tmp_path / "run" / "checkpoints" / "last.ckpt"


def test_trainer_num_nodes_is_a_key_of_the_trainer_config(tmp_path):
    # the README's multi-node commands set it; Hydra refused it as an unknown key
    assert compose_config(tmp_path, "trainer.num_nodes=2").trainer.num_nodes == 2


# --- on a local cluster -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    yield from local_cluster()


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def assert_one_run_dir_contract(run_dir: Path, root: Path) -> None:
    """The run-dir contract once: one .hydra/ and metrics.json under `root`, each log line once."""
    assert [p.parent for p in root.rglob("metrics.json")] == [run_dir]
    assert hydra_dirs(root) == [run_dir]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    lines = (run_dir / "run.log").read_text().splitlines()
    assert len(lines) == len(set(lines)), "a line logged twice (once per rank?)"
    assert sum("Split train:" in line for line in lines) == 1
    matrix = json.loads((run_dir / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, matrix)) == 101  # every test review once, over both ranks


@pytest.mark.slow
def test_each_node_offers_every_core_even_to_a_caller_limited_to_one_thread(cluster):
    # the cluster fixture starts the script with OMP_NUM_THREADS=1, which plain nproc honours
    for node in ("node1", "node2"):
        shown = subprocess.run(
            ["scontrol", "show", "node", "-o", node], env=cluster, capture_output=True, text=True
        ).stdout
        fields = dict(item.split("=", 1) for item in shown.split() if "=" in item)
        assert int(fields["CPUTot"]) == os.cpu_count(), shown


@pytest.mark.slow
def test_submitit_sweep_runs_each_job_as_ddp_over_two_srun_tasks(cluster, tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "-m", "hydra/launcher=submitit_slurm",
         "hydra.launcher.tasks_per_node=2", "trainer.devices=2", "seed=1,2", *TINY,
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, env={**cluster, "TEXTLAB_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for job in ("0", "1"):
        assert_one_run_dir_contract(sweep_dir / job, sweep_dir / job)
    assert len(hydra_dirs(tmp_path)) == 2  # nothing outside the job dirs
    with open(sweep_dir / "summary.csv") as handle:
        rows = {row["seed"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["1", "2"] and {r["status"] for r in rows.values()} == {"ok"}
    for job, seed in (("0", "1"), ("1", "2")):  # the same run outside SLURM
        reference = tmp_path / f"reference{seed}"
        overrides = (*TINY, f"seed={seed}", "trainer.devices=2", f"hydra.run.dir={reference}")
        run_py(*overrides, cache=tmp_path / "cache", cwd=tmp_path, check=True)
        assert metrics(sweep_dir / job) == metrics(reference)
        assert float(rows[seed]["val/acc_best"]) == metrics(reference)["val/acc_best"]


@pytest.fixture(scope="module")
def sbatch_run(cluster, tmp_path_factory):
    """scripts/slurm_train.sbatch as a user submits it: 1 node, 2 tasks, no interruption."""
    cwd = tmp_path_factory.mktemp("sbatch")
    env = {**cluster, "TEXTLAB_CACHE_DIR": str(cwd / "cache")}
    job_id = sbatch_train(cwd, env, *LONGER)
    return cwd, job_id, wait_for_job(job_id, env)


@pytest.mark.slow
def test_a_plain_sbatch_script_runs_ddp_in_outputs_slurm_job_id(sbatch_run):
    cwd, job_id, fields = sbatch_run
    assert fields["JobState"] == "COMPLETED", (cwd / f"slurm-{job_id}.out").read_text()[-3000:]
    run_dir = cwd / "outputs" / "slurm" / job_id
    assert_one_run_dir_contract(run_dir, cwd)
    assert "epoch 4/4" in (run_dir / "run.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["signal", "requeue"])
def test_a_preempted_job_requeues_resumes_and_ends_as_if_never_stopped(
    cluster, sbatch_run, tmp_path, how
):
    env = {**cluster, "TEXTLAB_CACHE_DIR": str(tmp_path / "cache")}
    job_id = sbatch_train(tmp_path, env, *LONGER)
    run_dir = tmp_path / "outputs" / "slurm" / job_id
    signal_after_the_first_epoch(run_dir, job_id, env, how)
    fields = wait_for_job(job_id, env)
    output = (tmp_path / f"slurm-{job_id}.out").read_text()
    assert fields["JobState"] == "COMPLETED", output[-3000:]
    assert int(fields["Restarts"]) == 1
    log = (run_dir / "run.log").read_text()
    assert "resume=auto: resuming from" in log
    # with the signal the job saves and requeues itself; without, it resumes from epoch 1's
    assert ("requeue signal: saved" in log) == (how == "signal")
    assert_one_run_dir_contract_after_requeue(run_dir, tmp_path)
    uninterrupted_cwd, uninterrupted_id, _ = sbatch_run
    assert metrics(run_dir) == metrics(uninterrupted_cwd / "outputs" / "slurm" / uninterrupted_id)


@pytest.mark.slow
def test_a_preempted_submitit_job_resumes_and_the_sweep_records_it_once(
    cluster, sbatch_run, tmp_path
):
    sweep_dir = tmp_path / "sweep"
    env = {**cluster, "TEXTLAB_CACHE_DIR": str(tmp_path / "cache")}
    launcher = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "-m", "hydra/launcher=submitit_slurm",
         "hydra.launcher.tasks_per_node=2", "+hydra.launcher.additional_parameters.signal=USR1@60",
         "trainer.devices=2", "resume=auto", *LONGER, f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(sweep_dir.glob(".submitit/[0-9]*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    (job_id,) = {p.name for p in sweep_dir.glob(".submitit/[0-9]*")}
    signal_after_the_first_epoch(sweep_dir / "0", job_id, env)
    fields = wait_for_job(job_id, env)  # lets the requeued job start at once
    _, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, stderr[-3000:]
    assert fields["JobState"] == "COMPLETED" and int(fields["Restarts"]) == 1
    assert "resume=auto: resuming from" in (sweep_dir / "0" / "run.log").read_text()
    assert_one_run_dir_contract_after_requeue(sweep_dir / "0", sweep_dir)
    with open(sweep_dir / "summary.csv") as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["ok"]
    uninterrupted_cwd, uninterrupted_id, _ = sbatch_run
    uninterrupted = metrics(uninterrupted_cwd / "outputs" / "slurm" / uninterrupted_id)
    assert metrics(sweep_dir / "0") == uninterrupted


def assert_one_run_dir_contract_after_requeue(run_dir: Path, root: Path) -> None:
    # the requeued attempt logs into the same run.log: lines repeat across attempts, not ranks
    assert [p.parent for p in root.rglob("metrics.json")] == [run_dir]
    assert hydra_dirs(root) == [run_dir]
    assert not list(run_dir.glob("hpc_ckpt_*")), "Lightning's own requeue checkpoint"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


@pytest.mark.slow
def test_trainer_num_nodes_2_runs_one_rank_on_each_of_two_slurm_nodes(
    cluster, sbatch_run, tmp_path
):
    env = {**cluster, "TEXTLAB_CACHE_DIR": str(tmp_path / "cache")}
    nodes = ("--nodes=2", "--ntasks-per-node=1")
    job_id = sbatch_train(tmp_path, env, *LONGER, sbatch_args=nodes)
    fields = wait_for_job(job_id, env)
    assert fields["JobState"] == "COMPLETED", (tmp_path / f"slurm-{job_id}.out").read_text()[-3000:]
    assert fields["NodeList"] == "node[1-2]"
    run_dir = tmp_path / "outputs" / "slurm" / job_id
    assert_one_run_dir_contract(run_dir, tmp_path)
    # the same 2 ranks as 2 tasks on one node: the same result
    uninterrupted_cwd, uninterrupted_id, _ = sbatch_run
    assert metrics(run_dir) == metrics(uninterrupted_cwd / "outputs" / "slurm" / uninterrupted_id)


@pytest.mark.slow
def test_an_optuna_study_runs_its_trials_as_concurrent_slurm_jobs(cluster, tmp_path):
    optuna = pytest.importorskip("optuna", reason="needs the sweep extra")
    sweep_dir = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "-m", "hparams_search=optuna",
         "hydra/launcher=submitit_slurm", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4",
         # each job reports val/acc per epoch to its trial: both jobs write to the study at once
         "hydra.sweeper.pruner=median", *TINY, "trainer.max_epochs=2",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, env={**cluster, "TEXTLAB_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="textlab", storage=f"sqlite:///{sweep_dir}/optuna.db")
    complete = optuna.trial.TrialState.COMPLETE
    assert sorted((t.number, t.state) for t in study.trials) == [(n, complete) for n in range(4)]
    assert all(sorted(t.intermediate_values) == [0, 1] for t in study.trials)
    for trial in study.trials:
        assert metrics(sweep_dir / str(trial.number))["val/acc_best"] == trial.value
    # SLURM job arrays of 2: each pair of trials ran side by side
    arrays = {p.name.split("_")[0] for p in (sweep_dir / ".submitit").glob("[0-9]*_*")}
    assert len(arrays) == 2
    spans = [log_span(sweep_dir / str(n) / "run.log") for n in (0, 1)]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
