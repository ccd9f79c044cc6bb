"""Concurrent sweep jobs and DDP ranks build the same cache entries at once; none corrupts."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

from textlab.base.fingerprint import fingerprint_texts
from textlab.data import token_cache
from textlab.data.dataset import TokenizedDataset
from textlab.data.sources.synthetic import SyntheticReviews
from textlab.tokenization import TokenizerSpec, encode_ids, load_tokenizer

ROUNDS = 3  # fresh cache entries per process, so the two race more than once


def build_caches(cache_dir: str, start) -> tuple[list[tuple[str, int]], list[bool]]:
    """In a child process: for each round, wait for the other process, then fill the caches."""
    texts, labels = SyntheticReviews(train_size=300, test_size=10, max_words=60).load()["train"]
    results, missed = [], []
    for round_ in range(ROUNDS):
        spec = TokenizerSpec(vocab_size=300 + round_, min_frequency=1)
        start.wait()  # both miss the cache and write the same entry at the same moment
        tokenizer = spec.load_or_train(texts, fingerprint_texts(texts, labels), cache_dir)
        path = token_cache.cache_path(cache_dir, tokenizer.to_str(), str(round_), 64)
        start.wait()
        missed.append(not path.is_file())
        dataset = token_cache.load_or_encode(
            path,
            lambda tokenizer=tokenizer: TokenizedDataset.from_sequences(
                encode_ids(tokenizer, texts, 64), labels
            ),
        )
        results.append((tokenizer.to_str(), int(dataset.flat_ids.sum())))
    return results, missed


def test_two_processes_building_the_same_caches_both_succeed_with_valid_files(tmp_path):
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with torch threads
    barrier = ctx.Manager().Barrier(2)
    with ctx.Pool(2) as pool:
        outcomes = pool.starmap(build_caches, [(str(tmp_path), barrier)] * 2)

    (first, first_missed), (second, second_missed) = outcomes
    # the race happened: in some round both found no token cache and built it
    assert any(a and b for a, b in zip(first_missed, second_missed, strict=True))
    # both processes got the same tokenizers and token ids, whoever's write won
    assert first == second
    tokenizers = sorted((tmp_path / "tokenizers").glob("*.json"))
    token_files = sorted((tmp_path / "tokens").glob("*.npz"))
    assert len(tokenizers) == ROUNDS and len(token_files) == ROUNDS
    # each cached tokenizer is whole: exactly one of those the processes trained and used
    cached = sorted(load_tokenizer(path).to_str() for path in tokenizers)
    assert cached == sorted(tokenizer for tokenizer, _ in first)
    for path in token_files:
        with np.load(path) as arrays:
            assert arrays["offsets"][-1] == len(arrays["flat_ids"])
    # every temporary file was renamed into place or removed
    assert not [p for p in Path(tmp_path).rglob(".*") if p.is_file()]
