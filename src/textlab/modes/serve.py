"""`mode=serve`: the checkpoint behind an HTTP API with dynamic batching and a demo page.

The server itself is run/serving/ (FastAPI + uvicorn); this mode checks `serve.*`, prepares
the backend and runs uvicorn until SIGTERM or Ctrl-C, which let in-flight requests finish.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from textlab.base.errors import UserError
from textlab.base.typecheck import check_values
from textlab.checkpoint.format import SavedRun
from textlab.run.serving.settings import ServeSettings

log = logging.getLogger(__name__)


def serve_settings(cfg: DictConfig) -> ServeSettings:
    """`cfg.serve` checked against ServeSettings' hints and ranges."""
    values = OmegaConf.to_container(cfg.get("serve") or {}, resolve=True)
    assert isinstance(values, dict)
    known = tuple(ServeSettings.__dataclass_fields__)  # in conf/config.yaml's order
    unknown = sorted(str(key) for key in values if key not in known)
    if unknown:
        raise UserError(f"serve.{unknown[0]}: unknown key; expected one of {', '.join(known)}")
    check_values(ServeSettings, values, "serve")
    return ServeSettings(**{str(key): value for key, value in values.items()})


def serve(cfg: DictConfig, saved: SavedRun) -> None:
    """Serve `saved` on serve.host:serve.port until stopped."""
    settings = serve_settings(cfg)
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise UserError("mode=serve needs the serve extra: pip install -e '.[serve]'")
    import uvicorn

    from textlab.run.serving.startup import RUN_DIR_ENV, app_for, prepare

    check_address(settings.host, settings.port)
    run_dir = Path(cfg.paths.output_dir)
    record = prepare(saved, settings, run_dir)
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # keep Hydra's logging: uvicorn's lines go to the console and run.log
        "access_log": settings.access_log,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    print(
        f"Serving {saved.model_target} on http://{settings.host}:{settings.port} "
        f"(backend {settings.backend}, max_batch_size {settings.max_batch_size}, "
        f"workers {settings.workers})",
        flush=True,
    )
    with signals_end_uvicorn_only():
        if settings.workers == 1:
            uvicorn.run(app_for(saved, record), **options)
        else:  # each worker process loads the checkpoint itself, from serve.json
            os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
            target = "textlab.run.serving.startup:app_from_run_dir"
            uvicorn.run(target, factory=True, workers=settings.workers, **options)
    log.info("Server stopped; every request it accepted was answered")


def check_address(host: str, port: int) -> None:
    """A one-line error now rather than uvicorn's exit code 3 after loading the model."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as err:
        raise UserError(
            f"serve.host={host} serve.port={port}: cannot listen there ({err.strerror or err})"
        ) from None


@contextlib.contextmanager
def signals_end_uvicorn_only() -> Iterator[None]:
    """uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    handler it found (checked with uvicorn 0.54). Finding a no-op there lets the run end
    normally (exit 0, run.log complete) instead of dying by the default action."""
    caught = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.signal(number, lambda *_: None) for number in caught}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
