"""From a checkpoint to a running app: the predictor for `serve.backend`, what /info says,
and serve.json in the run dir, from which each of `serve.workers` processes builds its own app."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from textlab.base import run_files
from textlab.base.atomic import write_json_atomic
from textlab.base.fingerprint import file_sha256
from textlab.checkpoint.format import SavedRun, load_checkpoint
from textlab.models.protocols import ShowsAttention
from textlab.run.provenance import code_git_state
from textlab.run.serving.app import Served, build_app
from textlab.run.serving.backends import export_for_serving, make_predictor
from textlab.run.serving.settings import ServeSettings

RUN_DIR_ENV = "TEXTLAB_SERVE_RUN_DIR"  # tells a worker process where serve.json is


def prepare(saved: SavedRun, settings: ServeSettings, run_dir: Path) -> dict[str, Any]:
    """Export the ONNX model if needed and write serve.json; returns its content."""
    onnx_path = export_for_serving(saved, run_dir) if settings.backend == "onnx" else None
    git = code_git_state()
    record = {
        "settings": settings.as_dict(),
        "ckpt_path": str(saved.path.resolve()),
        "onnx_path": str(onnx_path) if onnx_path else None,
        "info": {
            "model": saved.model_target,
            "labels": list(saved.label_names),
            "max_length": saved.max_length,
            "backend": settings.backend,
            "max_batch_size": settings.max_batch_size,
            "checkpoint": {"path": str(saved.path), "sha256": file_sha256(saved.path)},
            "commit": git["commit"],
            "dirty": git["dirty"],
        },
    }
    write_json_atomic(run_dir / run_files.SERVE_INFO, record)
    return record


def app_for(saved: SavedRun, record: dict[str, Any]) -> FastAPI:
    """The app serving `saved` as `record` (serve.json) says."""
    settings = ServeSettings(**record["settings"])
    onnx_path = Path(record["onnx_path"]) if record["onnx_path"] else None
    predictor = make_predictor(saved, settings.backend, settings.device, onnx_path)
    attention_net = None
    if settings.attention:  # onnx has no attention output: the PyTorch network gives it
        net = predictor.net if settings.backend == "torch" else saved.build_net()
        attention_net = net if isinstance(net, ShowsAttention) else None
    # the device is known only here, in the process that loaded the model
    info = {**record["info"], "device": predictor.runs_on()}
    served = Served(predictor, saved.label_names, info, attention_net)
    return build_app(served, settings)


def app_from_run_dir() -> FastAPI:
    """uvicorn's factory in each worker process (`serve.workers` > 1)."""
    record = json.loads((Path(os.environ[RUN_DIR_ENV]) / run_files.SERVE_INFO).read_text())
    return app_for(load_checkpoint(record["ckpt_path"]), record)
