"""Padding on IMDb train: shuffled batches (the default loader) vs length buckets.

Run: python benchmarks/padding.py [--root $TEXTLAB_IMDB_ROOT] [--max-length 512] [--batch-size 64]
Tokenizes with the experiment's BPE tokenizer (trained once, cached under .cache/).
Padding fraction = padded cells / all cells of the (batch, longest-in-batch) tensors.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from textlab.data.bucketing import LengthBucketSampler
from textlab.data.sources.imdb import imdb_datamodule
from textlab.tokenization import TokenizerSpec


def padding_fraction(batches: list[np.ndarray], lengths: np.ndarray) -> float:
    cells = sum(len(batch) * int(lengths[batch].max()) for batch in batches)
    return 1 - sum(int(lengths[batch].sum()) for batch in batches) / cells


def shuffled_batches(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("TEXTLAB_IMDB_ROOT"))
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--pool", type=int, default=50, help="batches per bucketing pool")
    parser.add_argument("--epochs", type=int, default=3, help="epochs averaged")
    parser.add_argument("--cache-dir", default=os.environ.get("TEXTLAB_CACHE_DIR", ".cache"))
    args = parser.parse_args()
    if not args.root:
        parser.error("--root or TEXTLAB_IMDB_ROOT must name the aclImdb folder")

    dm = imdb_datamodule(args.root, max_length=args.max_length, cache_dir=args.cache_dir, seed=42)
    train = dm.splits()["train"]
    spec = TokenizerSpec(kind="bpe", vocab_size=args.vocab_size)
    dm.attach_tokenizer(spec.load_or_train(train.texts, train.fingerprint(), args.cache_dir))
    lengths = dm.dataset("train").lengths()
    print(f"IMDb train: {len(lengths)} reviews, max_length={args.max_length}")
    for q in (50, 75, 90, 95):
        print(f"  tokens p{q}: {int(np.percentile(lengths, q))}")
    print(f"  truncated: {np.mean(lengths >= args.max_length):.1%}")

    results = {"shuffled": [], "bucketed": []}
    started = time.perf_counter()
    for epoch in range(args.epochs):
        results["shuffled"].append(
            padding_fraction(shuffled_batches(len(lengths), args.batch_size, epoch), lengths)
        )
        sampler = LengthBucketSampler(lengths, args.batch_size, args.pool, seed=42)
        sampler.set_epoch(epoch)
        results["bucketed"].append(padding_fraction(sampler.epoch_batches(), lengths))
    print(f"batch_size={args.batch_size}, pool={args.pool} batches, {args.epochs} epochs:")
    for name, fractions in results.items():
        print(f"  {name:9s} padding fraction {np.mean(fractions):.1%}")
    print(f"  (sampling took {time.perf_counter() - started:.2f} s in all)")


if __name__ == "__main__":
    main()
