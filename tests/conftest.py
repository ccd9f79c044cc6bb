"""Shared fixtures: tiny texts and a trained tokenizer, cheap enough for every test."""

from __future__ import annotations

import pytest

from textlab.tokenization import TokenizerSpec

POSITIVE = ["a wonderful film with great acting", "not bad at all , truly moving", "great fun"]
NEGATIVE = [
    "a dull film with weak acting",
    "not good , the plot is a mess",
    "boring and far too long",
]


@pytest.fixture(scope="session")
def tiny_texts() -> tuple[list[str], list[int]]:
    texts = (POSITIVE + NEGATIVE) * 5
    labels = ([1] * len(POSITIVE) + [0] * len(NEGATIVE)) * 5
    return texts, labels


@pytest.fixture(scope="session")
def bpe_tokenizer(tiny_texts):
    return TokenizerSpec(kind="bpe", vocab_size=120, min_frequency=1).train(tiny_texts[0])


@pytest.fixture(scope="session")
def served_lstm_checkpoint(tmp_path_factory, bpe_tokenizer):
    """A tiny LSTM classifier checkpoint (one training step, seconds): mode=serve, and where a
    classifier's checkpoint must be refused."""
    from test_checkpoint_loading import LSTM, write_tiny_checkpoint

    path = tmp_path_factory.mktemp("serve") / "lstm.ckpt"
    return write_tiny_checkpoint(path, bpe_tokenizer, LSTM, max_length=24)
