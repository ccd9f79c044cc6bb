"""One Hydra job's scope: its torchrun peers learn its run dir, and in a sweep the job starts its
own DDP ranks and leaves none of them (nor their process group or variables) to the next job.

Why a sweep job starts its ranks itself: Lightning would re-run the command line for each rank,
which would start a second sweep in every worker (and with Optuna each would sample its own
hyperparameters). See distributed.py for the other ways ranks start.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from textlab.base import framework
from textlab.base.errors import UserError
from textlab.run.distributed import (
    hydra_quote,
    quiet_worker_logging,
    share_run_dir,
    started_by_torchrun,
)

log = logging.getLogger(__name__)

# what Lightning's launcher sets in the launching process's environment; a sweep job that
# launched ranks must not leave them for the next job, which would then believe it is a
# worker started by someone else and wait forever for its peers
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
THREADS_ENV = "OMP_NUM_THREADS"  # Lightning sets it (and torch's threads) to share the cores
# after a sweep job, how long its workers may take to exit before they are killed
WORKER_EXIT_GRACE_S = 60
FAILED_JOB_GRACE_S = 5


class SweepJobRanks:
    """The DDP workers one sweep job started (as single runs of its overrides, in its dir)."""

    def __init__(self) -> None:
        self.workers: list[subprocess.Popen] = []

    def launch(self, trainer: Any) -> None:
        """If `trainer` would launch DDP ranks, start them here instead and tell Lightning so."""
        launcher = framework.subprocess_launcher(trainer)
        if launcher is None or launcher.cluster_environment.creates_processes_externally:
            return
        from hydra.core.hydra_config import HydraConfig
        from hydra.utils import get_original_cwd, to_absolute_path

        cluster = launcher.cluster_environment
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
            self.workers.append(subprocess.Popen(command, env=env, cwd=get_original_cwd()))

    def stop(self, grace_s: float) -> None:
        """Wait for the workers to finish; kill those still running after `grace_s`."""
        workers, self.workers = self.workers, []
        for worker in workers:
            try:
                worker.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                # rank 0 failed alone, and the worker waits for it in a collective
                log.warning("DDP worker %d still running after the job; killing it", worker.pid)
                worker.kill()
                worker.wait()


@contextmanager
def job_scope(output_dir: str, in_sweep: bool) -> Iterator[SweepJobRanks | None]:
    """Around one Hydra job; yields the job's SweepJobRanks in a sweep, None in a single run."""
    if in_sweep and started_by_torchrun():
        raise UserError(
            "a sweep under torchrun would run in every process; run it without torchrun "
            "(each job launches its own ranks)"
        )
    share_run_dir(output_dir)
    quiet_worker_logging()
    if not in_sweep:
        yield None
        return
    import torch

    saved_env = {key: os.environ.get(key) for key in (*LAUNCH_ENV, THREADS_ENV)}
    threads = torch.get_num_threads()
    ranks = SweepJobRanks()
    grace_s = WORKER_EXIT_GRACE_S
    try:
        yield ranks
    except BaseException:
        grace_s = FAILED_JOB_GRACE_S
        raise
    finally:
        ranks.stop(grace_s)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        torch.set_num_threads(threads)
