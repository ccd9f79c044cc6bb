"""Token ids are cached per (tokenizer, split, max_length); a second run skips tokenizing."""

from __future__ import annotations

import numpy as np

from textlab.data.datamodule import TextDataModule
from textlab.data.dataset import TokenizedDataset
from textlab.data.sources.synthetic import SyntheticReviews
from textlab.data.splits import TextSplit


def datamodule(cache_dir, max_length=16) -> TextDataModule:
    source = SyntheticReviews(train_size=40, test_size=10, max_words=30)
    return TextDataModule(source, batch_size=8, max_length=max_length, cache_dir=str(cache_dir))


def test_second_encode_reads_the_cache_instead_of_tokenizing(tmp_path, bpe_tokenizer, monkeypatch):
    first = datamodule(tmp_path)
    first.attach_tokenizer(bpe_tokenizer)
    encoded = first.dataset("train")
    assert len(list((tmp_path / "tokens").glob("*.npz"))) == 2  # train and val

    second = datamodule(tmp_path)
    second.attach_tokenizer(bpe_tokenizer)

    def fail(split: TextSplit) -> TokenizedDataset:
        raise AssertionError("tokenized again despite the cache")

    monkeypatch.setattr(second, "_encode", fail)
    cached = second.dataset("train")
    assert np.array_equal(cached.flat_ids, encoded.flat_ids)
    assert np.array_equal(cached.offsets, encoded.offsets)
    assert np.array_equal(cached.labels, encoded.labels)


def test_a_different_max_length_gets_its_own_cache_entry(tmp_path, bpe_tokenizer):
    for max_length in (8, 16):
        dm = datamodule(tmp_path, max_length)
        dm.attach_tokenizer(bpe_tokenizer)
        assert dm.dataset("train").lengths().max() <= max_length
    assert len(list((tmp_path / "tokens").glob("*.npz"))) == 4
    assert not list((tmp_path / "tokens").glob(".*"))  # no temporary files left behind
