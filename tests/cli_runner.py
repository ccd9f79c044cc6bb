"""Run `run.py` in a real process, as a user does; shared by the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fault_env(**variables: str) -> dict[str, str]:
    """Environment for a child process with tests/faults/sitecustomize.py's hooks armed."""
    paths = [str(ROOT / "tests" / "faults"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), **variables}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (for a server or rendezvous a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_py(
    *overrides: str, cache: Path | None = None, cwd: Path = ROOT, check: bool = False
) -> subprocess.CompletedProcess:
    """`python run.py OVERRIDES` from `cwd`; with `check`, a non-zero exit fails the test."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if cache is not None:
        env["TEXTLAB_CACHE_DIR"] = str(cache)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, no traceback, exactly one `error:` line containing every fragment."""
    line = one_error_line(proc.returncode, proc.stderr)
    for fragment in fragments:
        assert fragment in line, line


def one_error_line(exit_code: object, stderr: str) -> str:
    """The single `error:` line of a run that exited 2 without a traceback."""
    assert exit_code == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr[-2000:]
    return lines[0]


def run_torchrun(
    nproc: int, *overrides: str, cache: Path | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node=NPROC run.py OVERRIDES` (torchrun as a module of this python)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if cache is not None:
        env["TEXTLAB_CACHE_DIR"] = str(cache)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return subprocess.run(
        [*command, f"--nproc_per_node={nproc}", str(ROOT / "run.py"), *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def hydra_dirs(root: Path) -> list[Path]:
    """Every run dir under `root`, found by the `.hydra/` folder Hydra writes into it."""
    return sorted(path.parent for path in root.rglob(".hydra"))
