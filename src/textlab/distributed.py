"""One run dir per run however its DDP ranks start: Lightning, a sweep job, torchrun or SLURM.

Rank 0 owns the run dir: only it writes `.hydra/`, `run.log`, checkpoints and metrics. The
other ranks ("workers") run the same config, keep no log file, print warnings only, and
write nothing. Who starts the workers:

- `python run.py trainer.devices=N`: Lightning re-runs the command line with
  `hydra.run.dir=<rank 0's dir>` (its `_hydra_subprocess_cmd`).
- a job of `python run.py -m ...`: the job starts them itself (`launch_sweep_job_ranks`),
  as single runs of this job's overrides in this job's dir. Re-running the command line, as
  Lightning would, would start a second sweep in every worker, and with Optuna each would
  sample its own hyperparameters.
- torchrun: every rank runs the command line; workers take rank 0's run dir from torchrun's
  key-value store (`share_run_dir` / `argv_for_this_rank`).
- SLURM (srun, submitit): every task runs the same command or job; see README.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from textlab.errors import UserError

log = logging.getLogger(__name__)

# appended to a worker's command line before Hydra starts: no .hydra/, no log file
WORKER_OVERRIDES = ("hydra.output_subdir=null", "hydra/job_logging=worker")
# what Lightning's launcher sets in the launching process's environment; a sweep job that
# launched ranks must not leave them for the next job, which would then believe it is a
# worker started by someone else and wait forever for its peers
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
THREADS_ENV = "OMP_NUM_THREADS"  # Lightning sets it (and torch's threads) to share the cores
RUN_DIR_KEY = "textlab/run_dir"
RUN_DIR_TIMEOUT = timedelta(minutes=5)  # how long torchrun workers wait for rank 0's run dir
# after a sweep job, how long its workers may take to exit before they are killed
WORKER_EXIT_GRACE_S = 60
FAILED_JOB_GRACE_S = 5

# workers started by the current sweep job (None outside a sweep job)
_job_workers: list[subprocess.Popen] | None = None


def is_worker(env: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is a DDP rank other than 0, judged by its launcher's variables."""
    if "RANK" in env:  # torchrun
        return int(env["RANK"]) != 0
    if int(env.get("SLURM_NTASKS", "1")) > 1:  # srun, submitit
        return int(env.get("SLURM_PROCID", "0")) != 0
    # Lightning's launcher and our sweep jobs set only these
    return int(env.get("LOCAL_RANK", "0")) != 0 or int(env.get("NODE_RANK", "0")) != 0


def started_by_torchrun(env: Mapping[str, str] = os.environ) -> bool:
    return "TORCHELASTIC_RUN_ID" in env and int(env.get("WORLD_SIZE", "1")) > 1


def argv_for_this_rank(argv: list[str], env: Mapping[str, str] = os.environ) -> list[str]:
    """`run.py`'s command line for this process, before Hydra reads it (see module doc)."""
    if started_by_torchrun(env) and ({"-m", "--multirun"} & set(argv)):
        raise UserError(
            "torchrun starts one run per process, so -m would start a sweep in each; "
            "run the sweep without torchrun: `python run.py -m trainer.devices=N ...` "
            "launches every job's ranks itself"
        )
    if not is_worker(env):
        return argv
    extra = list(WORKER_OVERRIDES)
    if started_by_torchrun(env) and not any(a.startswith("hydra.run.dir=") for a in argv):
        run_dir = _rank_zero_run_dir(env)
        if run_dir is not None:
            extra.append(f"hydra.run.dir={hydra_quote(run_dir)}")
    return argv + extra


def hydra_quote(value: str) -> str:
    """`value` as a quoted Hydra override value (paths may hold characters Hydra parses)."""
    return "'" + value.replace("'", "\\'") + "'"


def _torchrun_store(env: Mapping[str, str]) -> Any:
    """torchrun's own key-value store (its agent hosts it at MASTER_ADDR:MASTER_PORT)."""
    from torch.distributed import TCPStore

    return TCPStore(
        env["MASTER_ADDR"], int(env["MASTER_PORT"]), is_master=False, timeout=RUN_DIR_TIMEOUT
    )


def _run_dir_key(env: Mapping[str, str]) -> str:
    # a restarted worker group (torchrun --max-restarts) gets a fresh run dir from its rank 0
    return f"{RUN_DIR_KEY}/{env.get('TORCHELASTIC_RESTART_COUNT', '0')}"


def _rank_zero_run_dir(env: Mapping[str, str]) -> str | None:
    if env.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        # an old torchrun: no store to ask; this worker makes an empty dir of its own
        return None
    return _torchrun_store(env).get(_run_dir_key(env)).decode()


def share_run_dir(output_dir: str, env: Mapping[str, str] = os.environ) -> None:
    """On torchrun's rank 0: tell the workers, waiting in `argv_for_this_rank`, the run dir."""
    agent_store = env.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    if started_by_torchrun(env) and not is_worker(env) and agent_store:
        _torchrun_store(env).set(_run_dir_key(env), output_dir)


def quiet_worker_logging() -> None:
    """Workers that Hydra started without `WORKER_OVERRIDES` (submitit): drop log files."""
    if not is_worker():
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.WARNING)


@contextmanager
def job_scope(output_dir: str, in_sweep: bool) -> Iterator[None]:
    """Around one Hydra job: share the run dir with torchrun workers; in a sweep, leave no
    workers, process group or launcher variables behind for the next job."""
    global _job_workers
    if in_sweep and started_by_torchrun():
        raise UserError(
            "a sweep under torchrun would run in every process; run it without torchrun "
            "(each job launches its own ranks)"
        )
    share_run_dir(output_dir)
    quiet_worker_logging()
    if not in_sweep:
        yield
        return
    import torch

    saved_env = {key: os.environ.get(key) for key in (*LAUNCH_ENV, THREADS_ENV)}
    threads = torch.get_num_threads()
    _job_workers = []
    grace_s = WORKER_EXIT_GRACE_S
    try:
        yield
    except BaseException:
        grace_s = FAILED_JOB_GRACE_S
        raise
    finally:
        workers, _job_workers = _job_workers, None
        _stop(workers, grace_s)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        torch.set_num_threads(threads)


def _stop(workers: list[subprocess.Popen], grace_s: float) -> None:
    for worker in workers:
        try:
            worker.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            # rank 0 failed alone, and the worker waits for it in a collective
            log.warning("DDP worker %d still running after the job; killing it", worker.pid)
            worker.kill()
            worker.wait()


def launch_sweep_job_ranks(trainer: Any) -> None:
    """In a sweep job whose Trainer would launch DDP ranks, start them as single runs of
    this job (its overrides, its run dir) instead, and tell Lightning they exist."""
    from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

    launcher = trainer.strategy.launcher
    if _job_workers is None or not isinstance(launcher, _SubprocessScriptLauncher):
        return
    cluster = launcher.cluster_environment
    if cluster.creates_processes_externally:
        return
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd, to_absolute_path

    hydra_cfg = HydraConfig.get()
    command = [
        sys.executable,
        to_absolute_path(sys.argv[0]),
        *hydra_cfg.overrides.task,
        "hydra.mode=RUN",  # a config may ask for MULTIRUN (hparams_search=optuna does)
        f"hydra.run.dir={hydra_quote(hydra_cfg.runtime.output_dir)}",
    ]
    # Lightning's launcher would set the same; LOCAL_RANK=0 here then tells it not to launch
    os.environ.update(
        MASTER_ADDR=cluster.main_address,
        MASTER_PORT=str(cluster.main_port),
        NODE_RANK=str(cluster.node_rank()),
        LOCAL_RANK="0",
        WORLD_SIZE=str(launcher.num_processes * launcher.num_nodes),
    )
    for local_rank in range(1, launcher.num_processes):
        env = {**os.environ, "LOCAL_RANK": str(local_rank)}
        _job_workers.append(subprocess.Popen(command, env=env, cwd=get_original_cwd()))
