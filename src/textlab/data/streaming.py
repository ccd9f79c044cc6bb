"""Iterable datasets that read examples from files as they go: sharded, shuffled, equal batches.

Every process (DDP rank) and every DataLoader worker walks the same global order of examples
(a function of seed + epoch) and keeps only its own: rank r keeps example g when g % world == r,
and hands whole batches to its workers in turn. So each example is read once per epoch across
all processes. Counts are known up front, so every rank yields the same number of batches,
ceil(ceil(N / world) / batch_size); a rank's batch sizes differ by at most one.
"""

from __future__ import annotations

import array
import bisect
import hashlib
import itertools
import logging
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from tokenizers import Tokenizer
from torch.utils.data import IterableDataset, get_worker_info

from textlab.base.errors import UserError
from textlab.base.fingerprint import fingerprint_texts
from textlab.data.sharding import process_slot, rank_batch_sizes
from textlab.tokenization import encode_ids

log = logging.getLogger(__name__)

T = TypeVar("T")

# Lightning warns that an IterableDataset's __len__ may be wrong with several workers; ours is
# exact, because workers split this rank's batches, not its examples.
warnings.filterwarnings("ignore", message="Your `IterableDataset` has `__len__` defined")


class StreamSource(Protocol):
    """Examples in files, in a deterministic order for a seed, never all in memory at once."""

    def __len__(self) -> int: ...

    def handles(self, seed: int | None) -> Iterator[Any]:
        """Cheap references to every example; `seed=None` is file order, else a shuffled one."""
        ...

    def read(self, handle: Any) -> tuple[str, int]: ...


class FilePerExample:
    """One example per file (aclImdb): the order is a permutation of the file list."""

    def __init__(
        self, paths: Sequence[Path], labels: Sequence[int], read_text: Callable[[Path], str]
    ):
        self.paths, self.labels, self.read_text = list(paths), list(labels), read_text

    def __len__(self) -> int:
        return len(self.paths)

    def handles(self, seed: int | None) -> Iterator[int]:
        order = list(range(len(self.paths)))
        if seed is not None:
            random.Random(seed).shuffle(order)
        return iter(order)

    def read(self, handle: int) -> tuple[str, int]:
        return self.read_text(self.paths[handle]), self.labels[handle]


class StreamSplit:
    """A split read on demand: `texts` (sized, re-iterable) trains the tokenizer."""

    def __init__(self, source: StreamSource) -> None:
        self.source = source
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.source)

    @property
    def texts(self) -> _Texts:
        return _Texts(self.source)

    def examples(self) -> Iterator[tuple[str, int]]:
        """(text, label) in file order."""
        return (self.source.read(handle) for handle in self.source.handles(None))

    def fingerprint(self) -> str:
        """`TextSplit.fingerprint()` of the same texts and labels, in one streaming pass."""
        if self._fingerprint is None:
            labels = array.array("q")  # 8 bytes per example, not a Python int each

            def texts() -> Iterator[str]:
                for text, label in self.examples():
                    labels.append(label)
                    yield text

            self._fingerprint = fingerprint_texts(texts(), _LazyLabels(labels))
        return self._fingerprint


class _Texts:
    def __init__(self, source: StreamSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[str]:
        return (self.source.read(handle)[0] for handle in self.source.handles(None))


class _LazyLabels:
    """Iterated only after the texts, by which time the array is complete."""

    def __init__(self, labels: array.array) -> None:
        self.labels = labels

    def __iter__(self) -> Iterator[int]:
        return iter(self.labels)


def stream_splits(source: Any, val_fraction: float, seed: int) -> dict[str, StreamSplit]:
    """The splits of a file-backed `source` (one with `streams()`), to be read as training goes."""
    if not callable(getattr(source, "streams", None)):
        raise UserError(
            f"data.streaming=true needs a file-backed source (data=imdb, data=text_files); "
            f"{type(source).__name__} has none"
        )
    streams = source.streams(val_fraction, seed)
    splits = {name: StreamSplit(stream) for name, stream in streams.items()}
    for name, split in splits.items():
        log.info("Split %s: %d texts (streamed)", name, len(split))
    if not len(splits["train"]):
        raise UserError(f"data source {type(source).__name__} has no training texts")
    return splits


def buffer_shuffle(items: Iterable[T], buffer_size: int, rng: random.Random) -> Iterator[T]:
    """Shuffle a stream through a bounded buffer: memory O(buffer_size), not O(stream)."""
    buffer: list[T] = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        slot = rng.randrange(buffer_size)
        yield buffer[slot]
        buffer[slot] = item
    rng.shuffle(buffer)
    yield from buffer


class StreamingTextDataset(IterableDataset):
    """Tokenized batches read from a `StreamSource`; use with `DataLoader(batch_size=None)`.

    Yields lists of `{"input_ids", "label"}` items for `PaddingCollator`. See the module
    docstring for sharding; `set_epoch` reseeds the order and the buffer (seed + epoch).
    """

    def __init__(
        self,
        source: StreamSource,
        tokenizer: Tokenizer,
        max_length: int,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        buffer_size: int = 10_000,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        self.source, self.tokenizer = source, tokenizer
        self.max_length, self.batch_size = max_length, batch_size
        self.shuffle, self.seed, self.buffer_size = shuffle, seed, buffer_size
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Batches this rank yields per epoch (all its workers together)."""
        rank, world = process_slot(self.rank, self.world_size)
        return len(rank_batch_sizes(len(self.source), world, rank, self.batch_size))

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        rank, world = process_slot(self.rank, self.world_size)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        sizes = rank_batch_sizes(len(self.source), world, rank, self.batch_size)
        batch_ends = list(itertools.accumulate(sizes))
        mine = [size for j, size in enumerate(sizes) if j % workers == worker]

        def own_handles() -> Iterator[Any]:
            order_seed = self.seed + self.epoch if self.shuffle else None
            for index, handle in enumerate(self.source.handles(order_seed)):
                # this rank's position `index // world` falls in batch j, which worker j % W makes
                if index % world == rank:
                    batch = bisect.bisect_right(batch_ends, index // world)
                    if batch % workers == worker:
                        yield handle

        handles = own_handles()
        if self.shuffle:
            key = hashlib.sha256(f"{self.seed}:{self.epoch}:{rank}:{worker}".encode()).digest()
            handles = buffer_shuffle(handles, self.buffer_size, random.Random(key))
        pending: list[Any] = []
        made = 0
        for handle in handles:
            if made == len(mine):
                made += 1  # more examples than counted
                break
            pending.append(handle)
            if len(pending) == mine[made]:
                yield self._encode(pending)
                pending, made = [], made + 1
        if made != len(mine):
            # a rank with fewer batches than the others would leave DDP waiting forever
            raise UserError(f"streamed files changed during the run (not {len(mine)} batches)")

    def _encode(self, handles: list[Any]) -> list[dict[str, Any]]:
        examples = [self.source.read(handle) for handle in handles]
        ids = encode_ids(self.tokenizer, [text for text, _ in examples], self.max_length)
        return [
            {"input_ids": torch.tensor(seq), "label": label}
            for seq, (_, label) in zip(ids, examples, strict=True)
        ]
