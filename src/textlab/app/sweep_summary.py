"""Sweep summary: a table of every job's overrides, metrics, runtime and status, best first.

`SweepSummary` is a Hydra callback (registered in conf/hydra/default.yaml). At the end of each
sweep job it writes `job.json` into the job's dir; after every job and at the end of the sweep
it rebuilds `summary.csv` and `summary.md` in the sweep dir from all `job.json` files. Reading
files rather than memory means jobs run by other launchers (joblib, SLURM) are counted too,
and a sweep stopped half-way still leaves a summary of the jobs that finished.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from textlab.base import framework, run_files
from textlab.base.atomic import write_json_atomic, write_text_atomic
from textlab.base.errors import UserError
from textlab.run.distributed import is_worker

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
METRICS = ("val/acc_best", "test/acc")


@dataclass(frozen=True)
class FailedJob:
    """What a failed sweep job returns instead of its objective.

    Not a number, so the Optuna sweeper marks the trial failed; the basic sweeper ignores
    return values. Either way the next job runs.
    """

    error: str

    def __str__(self) -> str:
        return self.error


def failed_job(err: Exception) -> FailedJob:
    """Log why a sweep job failed (with the traceback unless it is a user error)."""
    if isinstance(err, UserError):
        log.error("%s", err)
        return FailedJob(str(err))
    log.error("job failed:\n%s", "".join(traceback.format_exception(err)))
    first_line = (str(err).strip().splitlines() or [""])[0]
    return FailedJob(f"{type(err).__name__}: {first_line}")


class SweepSummary(Callback):
    """Hydra callback writing job.json per sweep job and the summary of the sweep.

    Rows are sorted by the objective each job returned (`maximize`: largest first); jobs
    their Optuna pruner stopped early (`pruned`) come after those that ran in full, failed
    jobs last.
    """

    def __init__(self, metrics: tuple[str, ...] | list[str] = METRICS, maximize: bool = True):
        self.metrics = tuple(metrics)
        self.maximize = maximize
        self._started = time.monotonic()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._started = time.monotonic()
        if config.hydra.mode == RunMode.MULTIRUN and not is_worker():
            run_files.forget_pruned(Path(config.hydra.runtime.output_dir))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        # A DDP worker's job is a single run in rank 0's dir; rank 0 reports for it.
        if config.hydra.mode != RunMode.MULTIRUN or is_worker():
            return
        job_dir = Path(config.hydra.runtime.output_dir)
        record = job_record(job_return, job_dir, time.monotonic() - self._started)
        record["job"] = int(config.hydra.job.num)
        write_json_atomic(job_dir / JOB_FILE, record)
        write_summary(Path(config.hydra.sweep.dir), self.metrics, self.maximize)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = write_summary(sweep_dir, self.metrics, self.maximize)
        statuses = [row["status"] for row in rows]
        log.info(
            "Sweep summary (%d jobs, %d failed, %d pruned): %s",
            len(rows),
            statuses.count("failed"),
            statuses.count("pruned"),
            sweep_dir / SUMMARY_MD,
        )


def job_record(job_return: JobReturn, job_dir: Path, runtime_s: float) -> dict[str, Any]:
    """What job.json holds: overrides, status (ok, pruned or failed), error line, objective,
    metrics, runtime."""
    error = None
    objective = None
    value = framework.job_return_value(job_return)
    if job_return.status == JobStatus.FAILED:
        # an exception the task did not turn into a FailedJob
        error = f"{type(value).__name__}: {value}"
    elif isinstance(value, FailedJob):
        error = value.error
    elif isinstance(value, (int, float)):
        objective = float(value)
    metrics_file = run_files.metrics_path(job_dir)
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    status = "failed" if error else "pruned" if run_files.pruned_at(job_dir) else "ok"
    return {
        "overrides": list(job_return.overrides or []),
        "status": status,
        "error": error,
        "objective": objective,
        "metrics": metrics,
        "runtime_s": round(runtime_s, 1),
    }


def read_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    jobs = []
    for path in sorted(sweep_dir.rglob(JOB_FILE)):
        record = json.loads(path.read_text())
        record["dir"] = str(path.parent.relative_to(sweep_dir))
        jobs.append(record)
    return jobs


def split_overrides(overrides: list[str]) -> dict[str, str]:
    """`["model=lstm", "seed=1"]` → `{"model": "lstm", "seed": "1"}`."""
    return dict(override.split("=", 1) for override in overrides if "=" in override)


def summary_rows(
    jobs: list[dict[str, Any]], metrics: tuple[str, ...] = METRICS, maximize: bool = True
) -> list[dict[str, Any]]:
    """One flat row per job, sorted: best objective first, jobs without one next, then pruned
    ones (best first), failed last."""

    def order(job: dict[str, Any]) -> tuple[int, float, int]:
        objective = job.get("objective")
        if job["status"] == "failed":
            return (3, 0.0, job.get("job", 0))
        if objective is None or math.isnan(objective):
            return (2, 0.0, job.get("job", 0))
        group = 1 if job["status"] == "pruned" else 0
        return (group, -objective if maximize else objective, job.get("job", 0))

    rows = []
    for job in sorted(jobs, key=order):
        row: dict[str, Any] = {"job": job.get("job"), "dir": job["dir"]}
        row.update(split_overrides(job["overrides"]))
        row.update({name: job["metrics"].get(name) for name in metrics})
        row.update(
            objective=job.get("objective"),
            runtime_s=job["runtime_s"],
            status=job["status"],
            error=job["error"] or "",
        )
        rows.append(row)
    return rows


def write_summary(
    sweep_dir: Path, metrics: tuple[str, ...] = METRICS, maximize: bool = True
) -> list[dict[str, Any]]:
    """Rebuild summary.csv and summary.md in `sweep_dir` from its jobs; returns the rows."""
    jobs = read_jobs(sweep_dir)
    rows = summary_rows(jobs, metrics, maximize)
    override_keys = _override_keys(jobs)
    columns = ["job", *override_keys, *metrics, "objective", "runtime_s", "status", "error", "dir"]
    write_text_atomic(sweep_dir / SUMMARY_CSV, to_csv(rows, columns))
    write_text_atomic(sweep_dir / SUMMARY_MD, to_markdown(rows, columns, override_keys))
    return rows


def _override_keys(jobs: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}  # first-seen order, like the command line
    for job in sorted(jobs, key=lambda job: job.get("job", 0)):
        keys.update(dict.fromkeys(split_overrides(job["overrides"])))
    return list(keys)


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_markdown(rows: list[dict[str, Any]], columns: list[str], override_keys: list[str]) -> str:
    """A Markdown table; overrides that every job shares are listed once above it."""
    shared = [
        key
        for key in override_keys
        if len(rows) > 1 and len({str(row.get(key)) for row in rows}) == 1
    ]
    shown = [column for column in columns if column not in shared]
    lines = [f"# Sweep summary ({len(rows)} jobs, best objective first)", ""]
    if shared:
        lines += ["Every job: " + " ".join(f"`{key}={rows[0][key]}`" for key in shared), ""]
    lines.append("| " + " | ".join(shown) + " |")
    lines.append("|" + "|".join("---:" if _numeric(rows, c) else "---" for c in shown) + "|")
    for row in rows:
        cells = [_cell(row.get(column), column) for column in shown]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _numeric(rows: list[dict[str, Any]], column: str) -> bool:
    values = [row.get(column) for row in rows if row.get(column) is not None]
    return bool(values) and all(isinstance(value, (int, float)) for value in values)


def _cell(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}" if column == "runtime_s" else f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")
