"""Streaming keeps memory flat: peak RSS while streaming a large generated JSONL file.

Run: python benchmarks/streaming_memory.py [--size-gb 1.0] [--path /tmp/textlab_stream.jsonl]
Writes the file (synthetic reviews, each line made unique), then runs what a streaming run
does before and during its first epoch: count + label scan, fingerprint, tokenizer training
(word-level, over the whole stream), and one epoch of tokenized batches. Reports resident
memory per phase; deletes the file at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textlab.data.sources.synthetic import generate_reviews
from textlab.data.sources.text_files import text_files_datamodule
from textlab.tokenization import TokenizerSpec

MB = 1 << 20


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


class PeakRss:
    """Samples this process's RSS every 50 ms; `peak` is the largest seen since `reset`."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.05)

    def reset(self) -> None:
        self.peak = rss_mb()


def write_jsonl(path: Path, size_bytes: int) -> int:
    texts, labels = generate_reviews(2000, seed=0)
    rng = random.Random(0)
    lines = 0
    with open(path, "w") as handle:
        while handle.tell() < size_bytes:
            pick = rng.randrange(len(texts))
            handle.write(json.dumps({"text": f"#{lines} {texts[pick]}", "label": labels[pick]}))
            handle.write("\n")
            lines += 1
    return lines


def phase(name: str, sampler: PeakRss, work: Callable[[], object]) -> object:
    sampler.reset()
    started = time.perf_counter()
    result = work()
    print(f"{name:28s} {time.perf_counter() - started:7.1f} s   peak RSS {sampler.peak:7.0f} MB")
    return result


def run_epoch(loader: Iterable, limit: int) -> int:
    """Iterate up to `limit` batches, printing RSS at each tenth of the way."""
    done = 0
    for done, _ in enumerate(loader, start=1):
        if done % max(1, limit // 10) == 0:
            print(f"  after {done:6d} batches       RSS {rss_mb():7.0f} MB")
        if done == limit:
            break
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--path", default="/tmp/textlab_stream.jsonl")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epoch-batches", type=int, default=0, help="stop early (0: never)")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args()
    path = Path(args.path)
    sampler = PeakRss()
    print(f"baseline (imports)           RSS {rss_mb():.0f} MB")
    try:
        lines = phase("write file", sampler, lambda: write_jsonl(path, int(args.size_gb * 1e9)))
        print(f"file: {path.stat().st_size / MB:.0f} MB, {lines} lines")
        dm = text_files_datamodule(str(path), streaming=True, batch_size=args.batch_size)
        splits = phase("count + label scan", sampler, dm.splits)
        train = splits["train"]  # type: ignore[index]
        phase("fingerprint (train)", sampler, train.fingerprint)
        spec = TokenizerSpec(kind="word", vocab_size=30000)
        tokenizer = phase("tokenizer training", sampler, lambda: spec.train(train.texts))
        dm.attach_tokenizer(tokenizer)
        loader = dm.train_dataloader()
        limit = args.epoch_batches or len(loader)
        batches = phase("epoch of batches", sampler, lambda: run_epoch(loader, limit))
        print(f"{batches} of {len(loader)} batches of {args.batch_size} made")
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
