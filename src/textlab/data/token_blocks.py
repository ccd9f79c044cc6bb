"""Language-model data: documents tokenized once into a flat id stream on disk, read back as
fixed-length blocks through a memory map, so a corpus larger than memory trains all the same.

Every document starts with [CLS] (the tokenizer's template), which marks where one ends and the
next begins; blocks cut across documents, as BERT's and GPT's pretraining data do, so no
position is padding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import lightning as L
import numpy as np
import torch
from tokenizers import Tokenizer
from torch.utils.data import Dataset

from textlab.base.atomic import open_atomic
from textlab.base.errors import UserError, require
from textlab.data.loaders import ResumableDataLoader

log = logging.getLogger(__name__)

ENCODE_CHUNK = 1000  # documents per encode_batch call: the library's threads, bounded memory


def id_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.int32)


def write_token_stream(tokenizer: Tokenizer, documents: Iterable[str], path: Path) -> int:
    """Tokenize `documents` into `path` (ids back to back, native order); returns the count."""
    dtype = id_dtype(tokenizer.get_vocab_size())
    total = 0
    docs: Iterator[str] = iter(documents)
    with open_atomic(path, "wb") as handle:
        while chunk := list(islice(docs, ENCODE_CHUNK)):
            for encoding in tokenizer.encode_batch(chunk):
                np.asarray(encoding.ids, dtype=dtype).tofile(handle)
                total += len(encoding.ids)
    return total


def token_stream(tokenizer: Tokenizer, documents: Iterable[str], path: Path) -> np.ndarray:
    """The id stream of `documents`, from `path` if an earlier run wrote it (same cache key)."""
    if not path.is_file():
        count = write_token_stream(tokenizer, documents, path)
        log.info("Tokenized %d tokens into %s", count, path)
    else:
        log.info("Token stream cache hit: %s", path)
    dtype = id_dtype(tokenizer.get_vocab_size())
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


class TokenBlocks(Dataset):
    """Block i of a token stream: ids [i * size, (i + 1) * size); the tail is dropped."""

    def __init__(self, stream: np.ndarray, size: int) -> None:
        self.stream, self.size = stream, size

    def __len__(self) -> int:
        return len(self.stream) // self.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = index * self.size
        ids = np.asarray(self.stream[start : start + self.size], dtype=np.int64)
        return {"input_ids": torch.from_numpy(ids)}


class TokenBlockDataModule(L.LightningDataModule):
    """Shuffled training blocks and in-order validation blocks of `block_size` tokens.

    Under DDP Lightning gives the training loader a DistributedSampler: each rank trains on
    its own share of the blocks, each block once per epoch.
    """

    def __init__(
        self,
        streams: dict[str, np.ndarray],
        block_size: int,
        batch_size: int,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        require(block_size >= 2, "block_size", block_size, "an integer >= 2")
        self.datasets = {name: TokenBlocks(s, block_size) for name, s in streams.items()}
        for name, dataset in self.datasets.items():
            if len(dataset) == 0:
                raise UserError(
                    f"pretrain.block_size={block_size}: the {name} text has "
                    f"{len(streams[name])} tokens, not one block; expected more text "
                    "(or a smaller block_size / larger pretrain.val_fraction)"
                )
        self.batch_size, self.num_workers = batch_size, num_workers

    def _loader(self, name: str, shuffle: bool) -> ResumableDataLoader:
        return ResumableDataLoader(
            self.datasets[name],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> ResumableDataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> ResumableDataLoader:
        return self._loader("val", shuffle=False)
