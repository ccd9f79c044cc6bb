"""SLURM preemption: on the requeue signal, save last.ckpt between two batches, requeue, wait.

Lightning's own SLURM handler (`SLURMEnvironment(auto_requeue=True)`, its default) saves
`hpc_ckpt_N.ckpt` from inside the signal handler, wherever training was: possibly between a
batch's forward pass and its optimiser step, so the saved loader position and weights can
disagree by a batch. It writes that file beside the run's own files, where `resume=auto`
never looks, and a later run in the same dir under SLURM loads it silently, even with
`resume=never`. textlab turns that handler off (`run/trainer.py`) and uses this one: the signal
only sets a flag; at the next batch boundary, where the ranks agree, it writes
`checkpoints/last.ckpt` (the state a `every_n_train_steps` checkpoint has, which resumes
exactly) and asks SLURM to requeue the job; the requeued job's `resume=auto` starts there.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)

REQUEUE_SIGNAL = signal.SIGUSR1  # Lightning's; `sbatch --signal=USR1@60` sends it before the limit
REQUEUE_WAIT_S = 600  # longer than any KillWait (SLURM's default: 30 s)


def slurm_job_id(env: Mapping[str, str] = os.environ) -> str:
    """The id `scontrol requeue` takes: `ARRAYJOB_TASK` for a task of a job array (submitit)."""
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env["SLURM_JOB_ID"]


class RequeueOnSignal(Callback):
    """Save `last_checkpoint` and requeue the SLURM job when the job gets `REQUEUE_SIGNAL`."""

    def __init__(self, last_checkpoint: str | Path) -> None:
        self.last_checkpoint = Path(last_checkpoint)
        self.requested = False

    def _note(self, signum: int, frame: Any) -> None:
        self.requested = True  # acted on between batches: a handler may run mid-step

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Left installed after fit: the signal's default action ends the process, and a run
        # signalled during its test stage should rather finish (it has the grace time to)
        self.requested = False
        signal.signal(REQUEUE_SIGNAL, self._note)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        # the ranks get the signal at slightly different moments: any rank's flag counts, so all
        # of them save the same step (saving is collective); one all-reduce of a bool per step
        if not trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            return
        trainer.save_checkpoint(self.last_checkpoint)
        if trainer.is_global_zero:
            job_id = slurm_job_id()
            log.warning(
                "requeue signal: saved %s at step %d; requeueing SLURM job %s",
                self.last_checkpoint,
                trainer.global_step,
                job_id,
            )
            requeued = subprocess.run(["scontrol", "requeue", job_id], check=False)
            if requeued.returncode != 0:
                raise RuntimeError(
                    f"scontrol requeue {job_id} failed (exit {requeued.returncode}); "
                    f"resubmit the job with resume=auto to go on from {self.last_checkpoint}"
                )
        # SLURM now ends this process (SIGTERM, SIGKILL after KillWait). No collective from
        # here on: Lightning's SIGTERM handler runs one of its own, and returning would train on
        # (writing files the requeued job finds) or, under submitit, report this attempt as the
        # job's result. A rank whose rank 0 could not requeue gives up after REQUEUE_WAIT_S.
        deadline = time.monotonic() + REQUEUE_WAIT_S
        while time.monotonic() < deadline:
            time.sleep(1)
        raise RuntimeError(f"the job was not ended {REQUEUE_WAIT_S} s after its requeue")
