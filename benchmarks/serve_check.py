"""Serve one checkpoint and check the answers: where it runs, that they are right, how long one
takes. For a lent GPU machine, where the test suite's server tests do not run.

Run: python benchmarks/serve_check.py CKPT DEVICE [OVERRIDES...]
     e.g. python benchmarks/serve_check.py best.ckpt cuda serve.device=cuda

Starts `python run.py mode=serve ckpt_path=CKPT OVERRIDES`, then asks /info (its `device` must
start with DEVICE), /predict for two clear reviews (each must get the label its words say) and
a batch of 64, /explain for one, and stops the server with SIGTERM (it must exit 0). Prints
one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

from serve_load import request, start_server

CLEAR = {
    "positive": "A wonderful, moving film: the acting is superb and I loved every minute.",
    "negative": "A dull, stupid mess. The worst film I have seen in years; avoid it.",
}


def ask(port: int, method: str, path: str, body: object = None) -> tuple[int, dict, float]:
    """(status, JSON answer, seconds) of one request."""
    started = time.perf_counter()
    data = json.dumps(body).encode() if body is not None else b""
    status, answer = asyncio.run(request(port, method, path, data))
    return status, json.loads(answer), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("device", help="what /info's device must start with: cpu, cuda")
    parser.add_argument("overrides", nargs="*", help="run.py overrides, e.g. serve.device=cuda")
    args = parser.parse_args()
    started = time.perf_counter()
    process, port = start_server(
        args.checkpoint, Path(tempfile.mkdtemp(prefix="serve-check-")), False, *args.overrides
    )
    print(f"server up in {time.perf_counter() - started:.1f} s")
    failed = 0

    def check(name: str, ok: bool, detail: str) -> None:
        nonlocal failed
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    try:
        _, info, _ = ask(port, "GET", "/info")
        check("device", str(info.get("device")).startswith(args.device), json.dumps(info))
        for label, text in CLEAR.items():
            status, answer, took = ask(port, "POST", "/predict", {"text": text})
            got = answer.get("label") if status == 200 else answer
            check(f"predict {label}", got == label, f"{status} {answer} in {1000 * took:.1f} ms")
        wanted = ["positive", "negative"] * 32
        texts = [CLEAR[label] for label in wanted]
        ask(port, "POST", "/predict", {"texts": texts})  # the first batch of its shape
        status, answer, took = ask(port, "POST", "/predict", {"texts": texts})
        labels = [row["label"] for row in answer.get("predictions", [])]
        right = sum(got == want for got, want in zip(labels, wanted, strict=False))
        check("predict 64", status == 200 and right == 64, f"{right}/64 in {1000 * took:.1f} ms")
        status, answer, took = ask(port, "POST", "/explain", {"text": CLEAR["positive"]})
        check("explain", status == 200, f"{status} {sorted(answer)} in {1000 * took:.1f} ms")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    check("stop", code == 0, f"exit {code}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
