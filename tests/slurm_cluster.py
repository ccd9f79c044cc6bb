"""A local SLURM cluster for the slow tests (scripts/slurm_local.sh) and helpers to drive it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import ROOT

SCRIPT = ROOT / "scripts" / "slurm_local.sh"
SBATCH_SCRIPT = ROOT / "scripts" / "slurm_train.sbatch"
CANNOT_RUN = 3  # the script's exit code when the cluster cannot run here
DONE = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


def local_cluster() -> Iterator[dict[str, str]]:
    """Start (or reuse) the cluster; yields the environment its commands and jobs need."""
    already_running = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True)
    # started as the jobs run, one thread: the nodes must still offer every core
    started = subprocess.run(
        ["bash", str(SCRIPT), "start"],
        capture_output=True,
        text=True,
        timeout=900,  # may install SLURM first
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if started.returncode == CANNOT_RUN:
        pytest.skip(started.stderr.strip().splitlines()[-1])
    assert started.returncode == 0, started.stderr[-2000:]
    conf = started.stdout.strip().splitlines()[-1]
    # the tests' jobs share 2 cores; one thread each, as Lightning's launcher would set
    yield {**os.environ, "SLURM_CONF": conf, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if already_running.returncode != 0:  # a cluster someone else started stays up
        subprocess.run(["bash", str(SCRIPT), "stop"], timeout=120, check=False)


def job_fields(job_id: str, env: dict[str, str]) -> dict[str, str]:
    """`scontrol show job` as a dict (JobState, Restarts, ExitCode, ...)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], env=env, capture_output=True, text=True
    ).stdout
    return dict(item.split("=", 1) for item in out.split() if "=" in item)


def wait_for_job(job_id: str, env: dict[str, str], timeout_s: float = 420) -> dict[str, str]:
    """Poll until the job ends; a requeued job is let start at once (SLURM holds one back for
    a while after a requeue, Reason=BeginTime)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fields = job_fields(job_id, env)
        if fields.get("JobState") in DONE:
            return fields
        if fields.get("JobState") == "PENDING" and fields.get("Reason") == "BeginTime":
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], env=env)
        time.sleep(1)
    subprocess.run(["scancel", job_id], env=env)
    raise AssertionError(f"SLURM job {job_id} still running after {timeout_s} s")


def sbatch_train(
    cwd: Path, env: dict[str, str], *overrides: str, sbatch_args: tuple[str, ...] = ()
) -> str:
    """Submit scripts/slurm_train.sbatch from `cwd` with this Python and run.py; its job id."""
    env = {**env, "PYTHON": sys.executable, "RUN_PY": str(ROOT / "run.py")}
    submitted = subprocess.run(
        ["sbatch", "--parsable", *sbatch_args, str(SBATCH_SCRIPT), *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert submitted.returncode == 0, f"sbatch failed: {submitted.stderr.strip()[-1000:]}"
    return submitted.stdout.strip().split(";")[0]


# `scancel --signal=USR1`: what `sbatch --signal=USR1@60` sends before the time limit, or a
# site before preempting; `scontrol requeue`: a requeue without warning
PREEMPT = {"signal": ("scancel", "--signal=USR1"), "requeue": ("scontrol", "requeue")}


def signal_after_the_first_epoch(
    run_dir: Path, job_id: str, env: dict[str, str], how: str = "signal"
) -> None:
    """Preempt the job `how` (a key of PREEMPT) once its first epoch's last.ckpt is written."""
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    subprocess.run([*PREEMPT[how], job_id], env=env, check=True)


def log_span(path: Path) -> tuple[str, str]:
    """The first and last timestamp of a run.log (`[YYYY-MM-DD HH:MM:SS,mmm]...`)."""
    stamps = [line[1:24] for line in path.read_text().splitlines() if line.startswith("[")]
    return stamps[0], stamps[-1]
