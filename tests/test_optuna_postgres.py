"""textlab's Optuna sweeper on a real PostgreSQL server: two sweeper processes share one study.

Slow. The server is a throwaway one started by scripts/postgres_local.sh in a temporary folder
(it installs Debian's postgresql if it must); where it cannot run, the test is skipped with
the script's reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import ROOT
from test_optuna_sweeper import sweep_args

optuna = pytest.importorskip("optuna", reason="needs the sweep extra")
SCRIPT = ROOT / "scripts" / "postgres_local.sh"
CANNOT_RUN = 3  # the script's exit code when the server cannot run here
STUDY = "shared"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on a throwaway server, as a `postgresql+psycopg://` URL."""
    pytest.importorskip("psycopg", reason="needs the sweep extra's PostgreSQL driver")
    # not under pytest's tmp_path: its root is private to root, and the server runs as another user
    server_dir = Path(tempfile.mkdtemp(prefix="textlab-pg-"))
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(server_dir), "studies"],
            capture_output=True,
            text=True,
            timeout=900,  # may install postgresql first
        )
        if started.returncode == CANNOT_RUN:
            pytest.skip(started.stderr.strip().splitlines()[-1])
        assert started.returncode == 0, started.stderr[-2000:]
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(server_dir)], timeout=120, check=False)
        shutil.rmtree(server_dir, ignore_errors=True)


@pytest.mark.slow
def test_two_sweeper_processes_share_one_postgresql_study(tmp_path, postgres_url):
    env = {**os.environ, "TEXTLAB_CACHE_DIR": str(tmp_path / "cache")}
    sweep_dirs = [tmp_path / "a", tmp_path / "b"]  # one per process, as on two machines
    commands = [
        [
            sys.executable,
            str(ROOT / "run.py"),
            "-m",
            *sweep_args(
                sweep_dir,
                4,
                f"hydra.sweeper.storage={postgres_url}",
                f"hydra.sweeper.study_name={STUDY}",
            ),
        ]
        for sweep_dir in sweep_dirs
    ]
    procs = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        for command in commands
    ]
    for proc in procs:
        proc.communicate(timeout=600)
    assert [proc.returncode for proc in procs] == [0, 0]
    trials = optuna.load_study(study_name=STUDY, storage=postgres_url).trials
    complete = optuna.trial.TrialState.COMPLETE
    assert sorted((t.number, t.state) for t in trials) == [(n, complete) for n in range(4)]
    # each trial ran once, in the sweep dir of the process that asked for it
    jobs = [{int(p.name) for p in d.iterdir() if p.name.isdigit()} for d in sweep_dirs]
    assert not jobs[0] & jobs[1] and jobs[0] | jobs[1] == set(range(4))
    assert not any((d / "optuna.db").exists() for d in sweep_dirs)


# a sweeper process whose jobs take no time (test_optuna_sweeper's fake launcher)
RACER = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(ROOT / "tests")!r})
from test_optuna_sweeper import FakeLauncher, make_sweeper
sweep_dir, storage, n_trials = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
make_sweeper(sweep_dir, FakeLauncher(), n_trials=n_trials, storage=storage).sweep([])
"""


@pytest.mark.slow
def test_sweepers_starting_and_asking_at_the_same_moment_run_exactly_n_trials(
    tmp_path, postgres_url
):
    # without the sweeper's advisory lock, some of these processes die creating the schema
    # (a unique violation in pg_type) and the others run a trial or two over n_trials
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / str(n)), postgres_url, "40"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    errors = [proc.communicate(timeout=300)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, errors
    trials = optuna.load_study(study_name="test", storage=postgres_url).trials
    assert sorted(t.number for t in trials) == list(range(40))
