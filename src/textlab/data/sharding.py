"""Who gets which examples under DDP: this process's slot, and equal batch counts for every rank.

Shared by the streamed datasets, the length buckets and the evaluation batches: every rank must
yield the same number of batches, or DDP waits forever on the rank with fewer.
"""

from __future__ import annotations

import math

import torch.distributed as dist

from textlab.base.errors import UserError


def process_slot(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """(rank, world size): explicit values, else torch.distributed's, else (0, 1)."""
    if rank is not None and world_size is not None:
        return rank, world_size
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def batches_per_rank(num_examples: int, world_size: int, batch_size: int) -> int:
    """ceil(ceil(N / world) / batch_size): what the rank with the most examples needs."""
    return math.ceil(num_examples / (world_size * batch_size))


def near_equal_sizes(total: int, parts: int, what: str) -> list[int]:
    """`parts` sizes summing to `total`, within one of each other, none empty."""
    if total < parts:
        # only with fewer examples than processes, or batch_size=1 and N not divisible by them
        raise UserError(
            f"{total} examples cannot fill {parts} {what} without repeating examples; "
            "use more data, fewer processes or a larger batch_size"
        )
    return [total // parts + (j < total % parts) for j in range(parts)]


def rank_batch_sizes(num_examples: int, world_size: int, rank: int, batch_size: int) -> list[int]:
    """Sizes of one rank's batches: the same count on every rank, sizes within one of each other."""
    batches = batches_per_rank(num_examples, world_size, batch_size)
    what = f"batches on each of {world_size} processes"
    # checked for the smallest share on every rank, so all ranks fail together, none hangs
    near_equal_sizes(num_examples // world_size, batches, what)
    count = num_examples // world_size + (rank < num_examples % world_size)
    return near_equal_sizes(count, batches, what)
