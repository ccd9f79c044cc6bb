"""A real `python run.py mode=serve` process on 127.0.0.1 and a plain HTTP client for it;
shared by the serving tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli_runner import free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def request(
        self, method: str, path: str, body: bytes | str | dict | None = None, timeout: float = 60
    ) -> tuple[int, Any]:
        """(status, parsed JSON or text) of one request on a fresh connection."""
        if isinstance(body, dict):
            body = json.dumps(body)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body)
            response = connection.getresponse()
            raw = response.read().decode()
        finally:
            connection.close()
        kind = response.getheader("content-type", "")
        return response.status, json.loads(raw) if kind.startswith("application/json") else raw

    def post(self, path: str, body: bytes | str | dict, timeout: float = 60) -> tuple[int, Any]:
        return self.request("POST", path, body, timeout)

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a process manager stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_server(
    checkpoint: Path, run_dir: Path, *overrides: str, wait: float = 180, env: dict | None = None
) -> Server:
    """`run.py mode=serve` on a free port, `env` added to ours; returns once /health answers."""
    port = free_port()
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir.parent / f"{run_dir.name}.out"
    command = [sys.executable, str(ROOT / "run.py"), "mode=serve", f"ckpt_path={checkpoint}"]
    command += [f"serve.port={port}", f"hydra.run.dir={run_dir}", *overrides]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TEXTLAB_CACHE_DIR": str(run_dir / "cache"),
        **(env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            if server.get("/health")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.process.kill()
    raise AssertionError(f"server did not answer within {wait} s:\n{server.output()}")


def raw_exchange(port: int, head: bytes, body_parts: list[bytes], pause: float = 0) -> bytes:
    """Send `head` and the body in parts, `pause` seconds apart; everything the server sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(head)
        for part in body_parts:
            time.sleep(pause)
            connection.sendall(part)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
