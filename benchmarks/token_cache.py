"""Tokenize-once cache: encoding IMDb train the first time vs reading it back.

Run: python benchmarks/token_cache.py [--root $TEXTLAB_IMDB_ROOT] [--max-length 400]
Uses (or trains once) the BPE tokenizer cached under .cache/; token ids go to a fresh
temporary cache so the first pass is cold. Both passes hash the texts (the cache key).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from textlab.data.sources.imdb import imdb_datamodule
from textlab.tokenization import TokenizerSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("TEXTLAB_IMDB_ROOT"))
    parser.add_argument("--max-length", type=int, default=400)
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--cache-dir", default=os.environ.get("TEXTLAB_CACHE_DIR", ".cache"))
    args = parser.parse_args()
    if not args.root:
        parser.error("--root or TEXTLAB_IMDB_ROOT must name the aclImdb folder")

    dm = imdb_datamodule(args.root)
    train = dm.splits()["train"]
    spec = TokenizerSpec(kind="bpe", vocab_size=args.vocab_size)
    tokenizer = spec.load_or_train(train.texts, train.fingerprint(), args.cache_dir)

    with tempfile.TemporaryDirectory() as tokens_dir:
        for attempt in ("first run (tokenize + save)", "second run (cache hit)"):
            dm = imdb_datamodule(args.root, max_length=args.max_length, cache_dir=tokens_dir)
            reviews = sum(map(len, dm.splits().values()))  # reading the files is not timed
            dm.attach_tokenizer(tokenizer)
            started = time.perf_counter()
            dm.setup("fit")  # train and val
            elapsed = time.perf_counter() - started
            print(f"{attempt}: {elapsed:.2f} s for train + val ({reviews} reviews)")


if __name__ == "__main__":
    main()
