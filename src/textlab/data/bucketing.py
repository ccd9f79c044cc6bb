"""Length-bucketed batches for map-style datasets: similar lengths share a batch, less padding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset, DistributedSampler

from textlab.data.sharding import batches_per_rank, near_equal_sizes, process_slot


class BatchView(Dataset):
    """`view[[i, j, ...]]` is `[dataset[i], dataset[j], ...]`: for a sampler that yields batches."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, indices: Sequence[int]) -> list[Any]:
        return [self.dataset[index] for index in indices]


class LengthBucketSampler(DistributedSampler):
    """Batches of indices whose lengths are close: use `DataLoader(BatchView(ds), sampler=this,
    batch_size=None)`.

    Each epoch (seed + epoch): shuffle all indices, cut them into pools of `pool_batches`
    batches, sort each pool by length, cut it into batches, shuffle the batch order, and give
    rank r every world-th batch from r. Every example appears exactly once per epoch, every
    rank gets ceil(N / (world * batch_size)) batches, and batch sizes differ by at most one.
    It subclasses DistributedSampler so that Lightning neither replaces it under DDP nor
    forgets to call `set_epoch`.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        pool_batches: int = 50,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        rank, world_size = process_slot(rank, world_size)
        self.lengths = np.asarray(lengths)
        super().__init__(self.lengths, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        self.batch_size, self.pool_batches = batch_size, pool_batches
        num_batches = world_size * batches_per_rank(len(self.lengths), world_size, batch_size)
        self.sizes = near_equal_sizes(len(self.lengths), num_batches, "batches")

    def epoch_batches(self) -> list[np.ndarray]:
        """Every rank's batches for this epoch, in the shuffled order they are dealt out."""
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        sizes = self.sizes
        batches: list[np.ndarray] = []
        start = 0
        for first in range(0, len(sizes), self.pool_batches):
            pool_sizes = sizes[first : first + self.pool_batches]
            pool = order[start : start + sum(pool_sizes)]
            start += sum(pool_sizes)
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches.extend(np.split(pool, np.cumsum(pool_sizes)[:-1]))
        # sorted pools would give long-then-short runs; shuffled batches mix them
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.epoch_batches()[self.rank :: self.num_replicas]:
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self.sizes) // self.num_replicas
