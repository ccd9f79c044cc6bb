"""`logger=mlflow`: runs, sweeps and resumed runs, read back from a real tracking store.

The store is SQLite in a temporary folder (`logger.mlflow.tracking_uri=sqlite:///...`), one per
module so its tables are created once; each test keeps to its own experiment. The slow test
does the same against a real `mlflow server` on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_runner import free_port, run_py
from in_process import main_error_line

from textlab.run import mlflow_tracking
from textlab.run.mlflow_tracking import (
    MAX_PARAM_VALUE,
    PARENT_RUN_ID_FILE,
    RUN_ID_FILE,
    TRUNCATED,
    TextlabMLFlowLogger,
    describe_run,
    flat_params,
    local_artifact_root,
    sweep_parent_run,
)

# mlflow 3.17's SQLite store uses a loader strategy SQLAlchemy 2.1 deprecates
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.*")
needs_mlflow = pytest.mark.skipif(
    find_spec("mlflow") is None,
    reason="mlflow is not installed (pip install torch==2.13.0 -e '.[mlflow]')",
)
TINY = ("debug=fast", "trainer.accelerator=cpu", "model.hidden_size=8", "model.embedding_dim=8")
# what every training run uploads; test-split reports too when the data has a test split
UPLOADED = {"metrics.json", "provenance.json", ".hydra/config.yaml", ".hydra/overrides.yaml",
            "confusion_matrix.png", "errors.jsonl"}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def client(store):
    from mlflow import MlflowClient

    return MlflowClient(store)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def artifact_paths(client, run_id: str, folder: str | None = None) -> set[str]:
    """Every file under `folder` of the run's artifacts, as paths relative to the root."""
    found = set()
    for entry in client.list_artifacts(run_id, folder):
        found |= artifact_paths(client, run_id, entry.path) if entry.is_dir else {entry.path}
    return found


def provenance_record(seed: int) -> dict:
    git = {"commit": "0123abc", "dirty": False}
    return {"config": {"seed": seed, "paths": {"root_dir": "/x"}}, "git": git, "versions": {}}


# -- a sweep: one parent run, a child per job -----------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, store, cache):
    """`-m seed=1,2` with TensorBoard and MLflow; (sweep dir, [job dirs])."""
    cwd = tmp_path_factory.mktemp("sweep")
    overrides = ("logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri={store}")
    named = "logger.mlflow.experiment_name=sweep"
    run_py("-m", *TINY, "seed=1,2", *overrides, named, cache=cache, cwd=cwd, check=True)
    (sweep_dir,) = (cwd / "outputs" / "multirun").glob("*/*")
    return sweep_dir, [sweep_dir / "0", sweep_dir / "1"]


def mlflow_run(client, run_dir: Path):
    return client.get_run((run_dir / RUN_ID_FILE).read_text().strip())


@needs_mlflow
def test_a_sweep_is_one_parent_run_with_a_child_per_job(sweep, client):
    sweep_dir, jobs = sweep
    experiment = client.get_experiment_by_name("sweep")
    runs = client.search_runs([experiment.experiment_id])
    parent_id = (sweep_dir / PARENT_RUN_ID_FILE).read_text().strip()
    children = [mlflow_run(client, job) for job in jobs]
    assert {run.info.run_id for run in runs} == {parent_id} | {c.info.run_id for c in children}
    assert [child.data.tags["mlflow.parentRunId"] for child in children] == [parent_id] * 2
    assert [child.data.params["seed"] for child in children] == ["1", "2"]
    parent = client.get_run(parent_id)
    assert parent.data.tags["textlab.sweep_dir"] == str(sweep_dir)
    assert {run.info.status for run in runs} == {"FINISHED"}


@needs_mlflow
def test_each_run_logs_its_resolved_config_as_flat_params(sweep, client):
    params = mlflow_run(client, sweep[1][0]).data.params
    assert params["model.hidden_size"] == "8"
    assert params["data.batch_size"] == "32"  # debug=fast
    assert params["trainer.max_epochs"] == "1"
    assert params["logger.mlflow.experiment_name"] == "sweep"
    assert params["model._target_"].endswith("RNNClassifier")
    assert not [key for key in params if key.startswith("paths.")]  # this machine's folders


@needs_mlflow
def test_final_metrics_in_mlflow_are_those_of_metrics_json(sweep, client):
    for job in sweep[1]:
        final = json.loads((job / "metrics.json").read_text())
        logged = mlflow_run(client, job).data.metrics
        assert {name: logged[name] for name in final} == final


@needs_mlflow
def test_metrics_are_logged_as_lightning_logs_them_during_the_run(sweep, client):
    run = mlflow_run(client, sweep[1][0])
    assert {"train/loss", "epoch", "lr-AdamW"} <= set(run.data.metrics)
    # one val/acc from the epoch's validation, one with the final metrics
    assert len(client.get_metric_history(run.info.run_id, "val/acc")) == 2


@needs_mlflow
def test_runs_are_tagged_with_the_commit_dirty_flag_and_textlab_version(sweep, client):
    job = sweep[1][0]
    git = json.loads((job / "provenance.json").read_text())["git"]
    tags = mlflow_run(client, job).data.tags
    assert git["commit"] and tags["mlflow.source.git.commit"] == git["commit"]
    assert tags["textlab.git_dirty"] == str(git["dirty"])
    assert tags["textlab.version"] == version("textlab")
    assert tags["textlab.run_dir"] == str(job)


@needs_mlflow
def test_run_files_are_uploaded_at_the_end_but_no_checkpoint_by_default(sweep, client, tmp_path):
    job = sweep[1][0]
    run_id = mlflow_run(client, job).info.run_id
    assert artifact_paths(client, run_id) == UPLOADED
    copy = client.download_artifacts(run_id, "metrics.json", str(tmp_path))
    assert Path(copy).read_text() == (job / "metrics.json").read_text()


@needs_mlflow
def test_tensorboard_still_logs_beside_mlflow(sweep):
    for job in sweep[1]:
        assert list((job / "tensorboard").glob("events.out.tfevents.*"))


# -- resuming, a missing package --------------------------------------------------------------


@needs_mlflow
def test_a_resumed_run_continues_its_mlflow_run(tmp_path, store, client, cache):
    run_dir = tmp_path / "run"
    command = (*TINY, "resume=auto", "logger=mlflow", f"logger.mlflow.tracking_uri={store}",
               "logger.mlflow.experiment_name=resume", "logger.mlflow.log_model=true",
               f"hydra.run.dir={run_dir}")  # fmt: skip
    run_py(*command, cache=cache, check=True)
    first = (run_dir / RUN_ID_FILE).read_text()
    again = run_py(*command, cache=cache, check=True)
    assert "resume=auto: resuming from" in again.stderr + again.stdout
    assert (run_dir / RUN_ID_FILE).read_text() == first

    experiment = client.get_experiment_by_name("resume")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == first.strip() and run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val/acc")
    assert len(history) == 4  # each part: the epoch's (or resume's) validation, the final one
    assert run.data.params["ckpt_path"] == "None"  # params keep what the first part logged
    assert "checkpoints/best.ckpt" in artifact_paths(client, run.info.run_id)  # log_model=true


def test_logger_mlflow_without_mlflow_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now fails
    line = main_error_line(tmp_path, capsys, *TINY, "logger=mlflow")
    for fragment in ("logger.mlflow:", "mlflow is not installed", "-e '.[mlflow]'"):
        assert fragment in line, line


# -- the parts, without training ---------------------------------------------------------------


def test_params_are_flat_dotted_keys_with_long_values_cut_and_marked():
    params = flat_params({"a": {"b": {"c": 1}, "d": None, "e": {}}, "long": "x" * 2000})
    assert params["a.b.c"] == "1" and params["a.d"] == "None" and params["a.e"] == "{}"
    assert len(params["long"]) == MAX_PARAM_VALUE and params["long"].endswith(TRUNCATED)


@needs_mlflow
def test_more_params_than_one_batch_takes_are_all_logged(client):
    run_id = client.create_run(client.create_experiment("many-params")).info.run_id
    config = {f"group{g}": {f"key{k}": k for k in range(50)} for g in range(5)}  # 250 params
    describe_run(client, run_id, {"config": config, "git": {}, "versions": {}})
    assert len(client.get_run(run_id).data.params) == 250


@needs_mlflow
def test_config_is_logged_as_soon_as_the_run_exists_but_not_from_an_older_run(tmp_path, store):
    from mlflow import MlflowClient

    stale_dir, fresh_dir = tmp_path / "stale", tmp_path / "fresh"
    stale_dir.mkdir()
    stale = stale_dir / "provenance.json"
    stale.write_text(json.dumps(provenance_record(seed=1)))
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    stale_logger = TextlabMLFlowLogger("early", tracking_uri=store, run_dir=str(stale_dir))
    fresh_logger = TextlabMLFlowLogger("early", tracking_uri=store, run_dir=str(fresh_dir))
    fresh_dir.mkdir()
    (fresh_dir / "provenance.json").write_text(json.dumps(provenance_record(seed=2)))

    stale_logger.log_metrics({"train/loss": 1.0}, step=0)  # the first metric opens the run
    fresh_logger.log_metrics({"train/loss": 1.0}, step=0)
    client = MlflowClient(store)
    assert client.get_run(stale_logger.run_id).data.params == {}
    fresh = client.get_run(fresh_logger.run_id)
    assert fresh.data.params == {"seed": "2"}  # `paths` left out
    assert fresh.data.tags["mlflow.source.git.commit"] == "0123abc"
    assert (fresh_dir / RUN_ID_FILE).read_text().strip() == fresh_logger.run_id


def test_concurrent_sweep_jobs_agree_on_one_parent_run(tmp_path):
    created = []

    class SlowClient:
        def create_run(self, experiment, run_name, tags):
            time.sleep(0.05)  # wide open for a race without the lock
            created.append(run_name)
            return SimpleNamespace(info=SimpleNamespace(run_id=f"run{len(created)}"))

    found = []
    jobs = [
        threading.Thread(target=lambda: found.append(sweep_parent_run(SlowClient(), "1", tmp_path)))
        for _ in range(4)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert len(created) == 1 and found == ["run1"] * 4
    assert (tmp_path / PARENT_RUN_ID_FILE).read_text().strip() == "run1"


def test_a_sqlite_store_keeps_artifacts_beside_its_database():
    assert local_artifact_root("sqlite:////data/mlflow.db") == "/data/mlartifacts"
    assert local_artifact_root("sqlite:///:memory:") is None
    assert local_artifact_root("http://127.0.0.1:5000") is None  # the server decides
    assert local_artifact_root(None) is None


def test_the_tracking_uri_is_the_env_var_else_a_sqlite_file_under_outputs(tmp_path, monkeypatch):
    from config_compose import compose_config

    def tracking_uri(*overrides: str) -> str:
        return compose_config(tmp_path, "logger=mlflow", *overrides).logger.mlflow.tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == f"sqlite:///{tmp_path}/outputs/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri() == "http://127.0.0.1:5000"
    assert tracking_uri("logger.mlflow.tracking_uri=sqlite:///x.db") == "sqlite:///x.db"


# -- a real tracking server ------------------------------------------------------------------


def wait_until_it_answers(url: str, server: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, "mlflow server exited before it answered"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow server did not answer at {url} within {timeout_s} s")


@pytest.fixture
def tracking_server(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
               "--artifacts-destination", str(tmp_path / "artifacts")]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job workers
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 (closed below)
    # its own process group: the server's workers stop with it
    server = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_it_answers(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@needs_mlflow
@pytest.mark.slow
def test_a_run_logs_to_a_tracking_server(tracking_server, tmp_path, cache):
    from mlflow import MlflowClient

    run_dir = tmp_path / "run"
    uri = f"logger.mlflow.tracking_uri={tracking_server}"
    run_py(*TINY, "logger=mlflow", uri, f"hydra.run.dir={run_dir}", cache=cache, check=True)
    client = MlflowClient(tracking_server)
    run = mlflow_run(client, run_dir)
    assert run.info.status == "FINISHED"
    final = json.loads((run_dir / "metrics.json").read_text())
    assert {name: run.data.metrics[name] for name in final} == final
    assert run.data.params["model.hidden_size"] == "8"
    assert artifact_paths(client, run.info.run_id) == UPLOADED
    assert mlflow_tracking.RUN_ID_FILE in {path.name for path in run_dir.iterdir()}
