"""Length buckets: every example once per epoch, equal batch counts per rank, less padding."""

from __future__ import annotations

import numpy as np
import pytest
from torch.utils.data import DistributedSampler

from textlab.data.bucketing import LengthBucketSampler
from textlab.data.datamodule import TextDataModule
from textlab.data.sources.synthetic import SyntheticReviews

LENGTHS = np.random.default_rng(0).integers(1, 500, size=1003)


def padding_fraction(batches, lengths) -> float:
    padded = sum(len(batch) * lengths[batch].max() for batch in map(np.asarray, batches))
    return 1 - lengths.sum() / padded


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_every_example_once_per_epoch_with_equal_batch_counts_per_rank(world_size):
    samplers = [
        LengthBucketSampler(LENGTHS, 16, pool_batches=5, seed=3, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    for epoch in (0, 1):
        per_rank = []
        for sampler in samplers:
            sampler.set_epoch(epoch)
            per_rank.append(list(sampler))
        seen = [i for batches in per_rank for batch in batches for i in batch]
        assert sorted(seen) == list(range(len(LENGTHS)))
        assert {len(batches) for batches in per_rank} == {len(samplers[0])}
        assert all(1 <= len(batch) <= 16 for batches in per_rank for batch in batches)


def test_batches_hold_similar_lengths_and_change_each_epoch():
    sampler = LengthBucketSampler(LENGTHS, 16, pool_batches=50, seed=0)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch0 != epoch1
    shuffled = np.random.default_rng(0).permutation(len(LENGTHS))
    random_batches = np.array_split(shuffled, len(epoch0))
    assert padding_fraction(epoch0, LENGTHS) < 0.1 < padding_fraction(random_batches, LENGTHS)


def test_batch_order_is_shuffled_not_sorted_by_length():
    batches = list(LengthBucketSampler(LENGTHS, 16, pool_batches=50, seed=0))
    longest = [LENGTHS[batch].max() for batch in batches]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)


def test_datamodule_bucketing_loader_pads_little_and_keeps_its_sampler_under_ddp(bpe_tokenizer):
    source = SyntheticReviews(train_size=120, test_size=10, min_words=5, max_words=80)
    dm = TextDataModule(source, batch_size=8, max_length=64, bucketing=True)
    dm.attach_tokenizer(bpe_tokenizer)
    loader = dm.train_dataloader()
    # Lightning replaces any sampler that is not a DistributedSampler (and calls its set_epoch)
    assert isinstance(loader.sampler, DistributedSampler)
    batches = list(loader)
    assert len(batches) == len(loader)
    assert sum(len(batch["labels"]) for batch in batches) == len(dm.dataset("train"))
    real = sum(int(batch["attention_mask"].sum()) for batch in batches)
    cells = sum(batch["attention_mask"].numel() for batch in batches)
    assert 1 - real / cells < 0.1
