"""Load test for `mode=serve`: N concurrent clients on 127.0.0.1 for a bounded time, each
sending one review per request over a keep-alive connection; requests/s, p50/p99 latency and
errors for dynamic batching on (serve.max_batch_size=32) and off (1), PyTorch vs ONNX Runtime,
LSTM vs transformer.

Run: python benchmarks/serve_load.py [--clients 32] [--rounds 3] [--duration 8] [--words N]
     [--models lstm,transformer] [--backends torch,onnx] [--ckpt-lstm PATH]
     [--ckpt-transformer PATH] [--no-pin]

Without --ckpt-*, a checkpoint of each model's default shape (conf/: max_length 256, BPE 8000)
is trained for a few steps first: serving speed depends on the shapes, not on the accuracy.
Reviews come from the embedded corpus (median 62 words; --words N cuts each to N words). With
pinning (the default, Linux) the server runs on core 1 with one torch thread and the load
generator on core 0, so the two do not fight over a core. Batching on and off run as two
servers at once, loaded in turn, round after round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from textlab.data.sources.synthetic import generate_reviews

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"lstm": [], "transformer": ["model=transformer"]}
TRAIN = ["trainer.max_epochs=1", "+trainer.limit_train_batches=5", "data.train_size=2000"]
TRAIN += ["data.test_size=50", "logger=none"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_checkpoint(model: str, folder: Path) -> Path:
    run_dir = folder / f"train-{model}"
    command = [sys.executable, str(ROOT / "run.py"), *MODELS[model], *TRAIN]
    subprocess.run([*command, f"hydra.run.dir={run_dir}"], check=True, capture_output=True)
    return run_dir / "checkpoints" / "best.ckpt"


def start_server(checkpoint: Path, folder: Path, pin: bool, *overrides: str):
    port = free_port()
    command = [sys.executable, str(ROOT / "run.py"), "mode=serve", f"ckpt_path={checkpoint}"]
    command += [f"serve.port={port}", f"hydra.run.dir={folder / 'run'}", *overrides]
    env = {**os.environ}
    if pin:
        command = ["taskset", "-c", "1", *command]
        env["OMP_NUM_THREADS"] = "1"
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "server.out").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited {process.returncode}; see {log.name}")
        try:
            asyncio.run(request(port, "GET", "/health", b""))
            return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("server did not start")


async def request(port: int, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await exchange(reader, writer, method, path, body)
    finally:
        writer.close()


async def exchange(reader, writer, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on an open connection: (status, body)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return int(status_line.split()[1]), await reader.readexactly(length)


async def client(port: int, texts: list[str], start: int, until: float, stats: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = start
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        body = json.dumps({"text": texts[index % len(texts)]}).encode()
        index += 1
        sent = loop.time()
        try:
            status, _ = await exchange(reader, writer, "POST", "/predict", body)
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            stats["errors"] += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        if status != 200:
            stats["errors"] += 1
        elif stats["measuring"]:
            stats["latencies"].append(loop.time() - sent)
    writer.close()


async def load(port: int, texts: list[str], clients: int, warmup: float, duration: float):
    """Requests/s, latencies and errors over `duration` s after `warmup` s of the same load."""
    loop = asyncio.get_running_loop()
    stats = {"latencies": [], "errors": 0, "measuring": False}
    until = loop.time() + warmup + duration
    step = len(texts) // clients
    tasks = [
        asyncio.create_task(client(port, texts, i * step, until, stats)) for i in range(clients)
    ]
    await asyncio.sleep(warmup)
    batches_before = json.loads((await request(port, "GET", "/health", b""))[1])["batches"]
    stats["measuring"], started = True, loop.time()
    await asyncio.sleep(duration)
    stats["measuring"], elapsed = False, loop.time() - started
    batches = json.loads((await request(port, "GET", "/health", b""))[1])["batches"]
    await asyncio.gather(*tasks)
    return stats, elapsed, batches - batches_before


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def measure_pair(checkpoint: Path, folder: Path, args, backend: str, texts) -> dict[int, dict]:
    """Batching on (32) and off (1): both servers up at once, loaded in turn for `args.rounds`
    rounds, so a neighbour's load on a shared machine hits both alike. Per setting: the median
    requests/s over rounds, p50/p99 over every request, errors, texts per forward pass."""
    servers = {}
    try:
        for batch in (32, 1):
            overrides = (f"serve.backend={backend}", f"serve.max_batch_size={batch}")
            servers[batch] = start_server(checkpoint, folder / str(batch), args.pin, *overrides)
        runs: dict[int, list] = {32: [], 1: []}
        for _ in range(args.rounds):
            for batch, (_, port) in servers.items():
                runs[batch].append(
                    asyncio.run(load(port, texts, args.clients, args.warmup, args.duration))
                )
    finally:
        for process, _ in servers.values():
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    return {batch: summary(rounds) for batch, rounds in runs.items()}


def summary(rounds: list) -> dict:
    latencies = [value for stats, _, _ in rounds for value in stats["latencies"]]
    rates = sorted(len(stats["latencies"]) / elapsed for stats, elapsed, _ in rounds)
    batches = sum(count for _, _, count in rounds)
    return {
        "rps": rates[len(rates) // 2],
        "rps_range": (rates[0], rates[-1]),
        "p50": 1000 * percentile(latencies, 0.50),
        "p99": 1000 * percentile(latencies, 0.99),
        "errors": sum(stats["errors"] for stats, _, _ in rounds),
        "per_batch": len(latencies) / batches if batches else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured a round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="lstm,transformer")
    parser.add_argument("--backends", default="torch,onnx")
    parser.add_argument("--ckpt-lstm", type=Path)
    parser.add_argument("--ckpt-transformer", type=Path)
    parser.add_argument("--words", type=int, default=0, help="cut each review to N words")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = parser.parse_args()
    args.pin = args.pin and shutil.which("taskset") is not None and os.cpu_count() >= 2
    if args.pin:
        os.sched_setaffinity(0, {0})  # the load generator on core 0, the server on core 1
    cpu = platform.processor() or platform.machine()
    print(f"# {os.cpu_count()} CPUs ({cpu}), torch {torch.__version__}, pinned: {args.pin}")
    print(f"# {' '.join(sys.argv)}")
    texts, _ = generate_reviews(512, seed=0)
    if args.words:
        texts = [" ".join(text.split()[: args.words]) for text in texts]
    folder = Path(tempfile.mkdtemp(prefix="serve-load-"))
    print(
        "| model | backend | batching | clients | requests/s (median; range) | p50 ms | p99 ms "
        "| errors | texts per forward pass |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model in args.models.split(","):
        checkpoint = getattr(args, f"ckpt_{model}") or train_checkpoint(model, folder)
        for backend in args.backends.split(","):
            rows = measure_pair(checkpoint, folder / f"{model}-{backend}", args, backend, texts)
            for batch, row in rows.items():
                batching = f"on ({batch})" if batch > 1 else "off (1)"
                low, high = row["rps_range"]
                print(
                    f"| {model} | {backend} | {batching} | {args.clients} | {row['rps']:.0f} "
                    f"({low:.0f}-{high:.0f}) | {row['p50']:.0f} | {row['p99']:.0f} "
                    f"| {row['errors']} | {row['per_batch']:.1f} |"
                )
            print(f"# {model} {backend}: batching x{rows[32]['rps'] / rows[1]['rps']:.2f}")
            sys.stdout.flush()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
