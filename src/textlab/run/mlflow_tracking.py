"""`logger=mlflow`: every run an MLflow run; a sweep a parent run with its jobs as children.

- A run dir holds one MLflow run: its id is kept in `<run dir>/mlflow_run_id`, and a later run
  in that dir (`resume=auto`, `ckpt_path=` with the run's `hydra.run.dir`) continues it.
- In a sweep (`-m`), the first job to start creates the parent run and writes its id to
  `<sweep dir>/mlflow_parent_run_id` under a file lock, so concurrent jobs agree; each job's
  run carries it as its `mlflow.parentRunId` tag.
- Lightning logs the metrics as the run goes. The config (flattened to `a.b.c` params) and the
  tags (git commit, dirty flag, textlab version) come from this run's provenance.json as soon
  as the MLflow run exists (training writes it before `fit`), and again at the end, when
  `record_outcome` (called by outcome.finish_run) adds the final metrics and the run's files.

Everything that talks to MLflow runs on rank 0: Lightning hands the other ranks a dummy
`experiment`, and finish_run returns early there.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, MLFlowLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from textlab.base import run_files
from textlab.base.atomic import write_text_atomic
from textlab.base.errors import UserError
from textlab.base.locks import file_lock

log = logging.getLogger(__name__)

RUN_ID_FILE = run_files.MLFLOW_RUN_ID  # in the run dir
PARENT_RUN_ID_FILE = run_files.MLFLOW_PARENT_RUN_ID  # in the sweep dir
INSTALL_HINT = "pip install torch==2.13.0 -e '.[mlflow]'"
# run-dir files uploaded at the end, whichever exist; artifact paths are run-dir paths
ARTIFACTS = (
    run_files.METRICS,
    run_files.PROVENANCE,
    ".hydra/config.yaml",
    ".hydra/overrides.yaml",
    run_files.CONFUSION_PNG,
    run_files.ERRORS,
)
# What a tracking server accepts: MLflow 3 takes 6000 characters per param value, older
# servers as few as 500; log_batch takes at most 100 params.
MAX_PARAM_VALUE = 500
TRUNCATED = "...[truncated]"
MAX_PARAMS_PER_BATCH = 100
PARENT_TAG = "mlflow.parentRunId"  # what MLflow's UI nests runs by
# provenance.json older than the logger (by more than filesystem time stamps can be off) was
# left by an earlier run in the same dir
CLOCK_SLACK_S = 2.0


class TextlabMLFlowLogger(MLFlowLogger):
    """Lightning's MLFlowLogger, keeping one MLflow run per run dir (a child of its sweep's)."""

    def __init__(
        self,
        experiment_name: str = "textlab",
        tracking_uri: str | None = None,
        artifact_location: str | None = None,
        run_name: str | None = None,
        log_model: bool = False,
        run_dir: str | None = None,
    ) -> None:
        """`run_dir` None: this Hydra job's output dir. Not from the config: a checkpoint's
        config would bring back the dir of the run that wrote it."""
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise UserError(f"mlflow is not installed; install it with `{INSTALL_HINT}`") from None
        self._run_dir = Path(run_dir or hydra_run_dir()).absolute()
        self.log_best_checkpoint = log_model  # Lightning's own log_model uploads every new file
        super().__init__(
            experiment_name=experiment_name,
            run_name=run_name or display_name(self._run_dir),
            tracking_uri=tracking_uri,
            artifact_location=artifact_location or local_artifact_root(tracking_uri),
        )
        self._sweep_dir = sweep_dir()
        self._parent_run_id: str | None = None
        self._built_at = time.time()

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The MlflowClient; the first call starts or continues this run dir's MLflow run."""
        if not self._initialized:
            self._open_run()
        return super().experiment

    def _open_run(self) -> None:
        client = self._mlflow_client
        continued = self._stored_run()
        if continued is not None:
            self._run_id = continued.info.run_id
            self._parent_run_id = continued.data.tags.get(PARENT_TAG)
            client.update_run(self._run_id, status="RUNNING")
            log.info("MLflow: continuing run %s of %s", self._run_id, self._run_dir)
        else:
            uri, name = self._tracking_uri, self._experiment_name
            self._experiment_id = experiment_id(client, uri, name, self._artifact_location)
            self.tags = {"textlab.run_dir": str(self._run_dir)}
            if self._sweep_dir is not None:
                self._parent_run_id = sweep_parent_run(client, self._experiment_id, self._sweep_dir)
                self.tags[PARENT_TAG] = self._parent_run_id
        if self._parent_run_id is not None:
            client.update_run(self._parent_run_id, status="RUNNING")
        client = super().experiment  # creates the run, or opens the continued one
        run_id = str(self._run_id)
        write_text_atomic(self._run_dir / RUN_ID_FILE, f"{run_id}\n")
        provenance = self._run_dir / run_files.PROVENANCE
        if provenance.is_file() and provenance.stat().st_mtime >= self._built_at - CLOCK_SLACK_S:
            describe_run(client, run_id, json.loads(provenance.read_text()))

    def _stored_run(self) -> Any | None:
        """The MLflow run named in the run dir's mlflow_run_id, if this tracking store has it."""
        from mlflow.exceptions import MlflowException

        path = self._run_dir / RUN_ID_FILE
        if not path.is_file():
            return None
        run_id = path.read_text().strip()
        try:
            run = self._mlflow_client.get_run(run_id)
        except MlflowException:
            run = None
        if run is None or run.info.lifecycle_stage == "deleted":
            log.warning(
                "MLflow: %s names run %s, which %s lacks or has deleted; starting a new run",
                path,
                run_id,
                self._tracking_uri,
            )
            return None
        return run

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        super().finalize(status)
        if self._parent_run_id is not None:
            # a sweep goes on after a failed job: the parent ends when its latest job ends
            self._mlflow_client.set_terminated(self._parent_run_id, "FINISHED")


def record_outcome(
    loggers: Sequence[Logger],
    run_dir: Path,
    metrics: dict[str, float],
    record: dict[str, Any],
    step: int,
    best_checkpoint: str | None = None,
) -> None:
    """At the end of a run, on rank 0: each MLflow logger's run gets the config and tags, the
    final metrics (at `step`), the run's files and, when asked, the best checkpoint."""
    for logger in loggers:
        if not isinstance(logger, MLFlowLogger):
            continue
        client, run_id = logger.experiment, logger.run_id
        describe_run(client, run_id, record)
        logger.log_metrics(metrics, step=step)
        for name in ARTIFACTS:
            if (run_dir / name).is_file():
                folder = str(Path(name).parent)
                client.log_artifact(run_id, str(run_dir / name), None if folder == "." else folder)
        if best_checkpoint and getattr(logger, "log_best_checkpoint", False):
            client.log_artifact(run_id, best_checkpoint, run_files.CHECKPOINTS)
        client.set_terminated(run_id, "FINISHED")


def describe_run(client: Any, run_id: str, record: dict[str, Any]) -> None:
    """Params (the resolved config but `paths`, flattened) and tags (git commit, dirty flag,
    textlab version) from a provenance record. A param the run already has keeps its value:
    MLflow refuses changes, and a resumed run differs in `ckpt_path` at least."""
    from mlflow.entities import Param, RunTag

    params = flat_params({key: v for key, v in record["config"].items() if key != "paths"})
    logged = client.get_run(run_id).data.params
    kept = sorted(key for key, value in params.items() if logged.get(key, value) != value)
    if kept:
        log.info("MLflow: params keep the values the run first logged: %s", ", ".join(kept))
    new = [Param(key, value) for key, value in params.items() if key not in logged]
    for start in range(0, len(new), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=new[start : start + MAX_PARAMS_PER_BATCH])
    git = record.get("git") or {}
    tags = {
        "mlflow.source.git.commit": git.get("commit"),
        "textlab.git_dirty": git.get("dirty"),
        "textlab.version": (record.get("versions") or {}).get("textlab"),
    }
    client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items() if v is not None])


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"a": {"b": 1}}` → `{"a.b": "1"}`; values longer than a server takes are cut, marked."""
    params: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            params.update(flat_params(value, f"{prefix}{key}."))
            continue
        text = str(value)
        if len(text) > MAX_PARAM_VALUE:
            text = text[: MAX_PARAM_VALUE - len(TRUNCATED)] + TRUNCATED
        params[f"{prefix}{key}"] = text
    return params


def experiment_id(client: Any, uri: str, name: str, artifact_location: str | None) -> str:
    """The id of experiment `name`, created if missing (by whichever concurrent job is first)."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException:
            experiment = client.get_experiment_by_name(name)  # another job created it
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        raise UserError(
            f"logger.mlflow.experiment_name={name}: that experiment is deleted in {uri}; "
            "restore it (`mlflow experiments restore`) or choose another name"
        )
    return str(experiment.experiment_id)


def sweep_parent_run(client: Any, experiment: str, sweep: Path) -> str:
    """The sweep's parent run: created by the first job to get here, read by the others."""
    path = sweep / PARENT_RUN_ID_FILE
    with file_lock(sweep / f".{PARENT_RUN_ID_FILE}.lock"):
        if path.is_file():
            return path.read_text().strip()
        run = client.create_run(
            experiment, run_name=display_name(sweep), tags={"textlab.sweep_dir": str(sweep)}
        )
        write_text_atomic(path, f"{run.info.run_id}\n")
        return str(run.info.run_id)


def hydra_run_dir() -> Path:
    """This Hydra job's output dir, the run dir."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        raise UserError("logger.mlflow.run_dir: expected a folder (no Hydra run to take it from)")
    return Path(HydraConfig.get().runtime.output_dir)


def sweep_dir() -> Path | None:
    """The sweep dir when this process runs a Hydra multirun job, else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from hydra.utils import to_absolute_path

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return Path(to_absolute_path(str(HydraConfig.get().sweep.dir)))


def display_name(folder: Path) -> str:
    """A run's name in MLflow: its folder, relative to the working directory when inside it."""
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def local_artifact_root(tracking_uri: str | None) -> str | None:
    """Beside a SQLite store, `<db dir>/mlartifacts`; None (the server's choice) otherwise."""
    prefix = "sqlite:///"
    if not tracking_uri or not tracking_uri.startswith(prefix):
        return None
    database = tracking_uri[len(prefix) :].split("?")[0]
    if database in ("", ":memory:"):
        return None
    return str(Path(database).absolute().parent / "mlartifacts")
