"""One run dir per run however its DDP ranks start: Lightning, a sweep job, torchrun or SLURM.

Rank 0 owns the run dir: only it writes `.hydra/`, `run.log`, checkpoints and metrics. The
other ranks ("workers") run the same config, keep no log file, print warnings only, and
write nothing. Who starts the workers:

- `python run.py trainer.devices=N`: Lightning re-runs the command line with
  `hydra.run.dir=<rank 0's dir>` (its `_hydra_subprocess_cmd`).
- a job of `python run.py -m ...`: the job starts them itself (sweep_ranks.py), as single
  runs of this job's overrides in this job's dir. Re-running the command line, as
  Lightning would, would start a second sweep in every worker, and with Optuna each would
  sample its own hyperparameters.
- torchrun: every rank runs the command line; workers take rank 0's run dir from torchrun's
  key-value store (`share_run_dir` / `argv_for_this_rank`).
- SLURM (srun, submitit): every task runs the same command or job; see README.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from textlab.base.errors import UserError

log = logging.getLogger(__name__)

# appended to a worker's command line before Hydra starts: no .hydra/, no log file
WORKER_OVERRIDES = ("hydra.output_subdir=null", "hydra/job_logging=worker")
RUN_DIR_KEY = "textlab/run_dir"
RUN_DIR_TIMEOUT = timedelta(minutes=5)  # how long torchrun workers wait for rank 0's run dir


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
