"""Map-style dataset over token ids that were computed once, stored flat to stay compact."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


class TokenizedDataset(Dataset):
    """Token-id sequences and labels; item i is `{"input_ids": LongTensor[T_i], "label": int}`,
    plus `"target"` (FloatTensor[C], a distribution to learn) once `with_targets` gave them.

    The ids live in one flat int32 array with offsets: cheap to pickle into DataLoader workers
    and to cache on disk, unlike a list of per-review tensors.
    """

    def __init__(self, flat_ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray) -> None:
        if len(offsets) != len(labels) + 1:
            raise ValueError(f"{len(offsets)} offsets for {len(labels)} labels; expected one more")
        self.flat_ids = flat_ids
        self.offsets = offsets
        self.labels = labels
        self.targets: np.ndarray | None = None

    def with_targets(self, targets: Sequence[Sequence[float]] | None) -> TokenizedDataset:
        """This dataset with one target distribution per example (None: labels only)."""
        if targets is not None:
            if len(targets) != len(self.labels):
                raise ValueError(f"{len(targets)} targets for {len(self.labels)} labels")
            self.targets = np.asarray(targets, dtype=np.float32)
        return self

    @classmethod
    def from_sequences(
        cls, sequences: Sequence[Sequence[int]], labels: Sequence[int]
    ) -> TokenizedDataset:
        lengths = np.fromiter((len(seq) for seq in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter(
            (token for seq in sequences for token in seq), dtype=np.int32, count=int(offsets[-1])
        )
        return cls(flat, offsets, np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        ids = self.flat_ids[self.offsets[index] : self.offsets[index + 1]]
        item = {
            "input_ids": torch.from_numpy(ids.astype(np.int64)),
            "label": int(self.labels[index]),
        }
        if self.targets is not None:
            item["target"] = torch.from_numpy(self.targets[index])
        return item

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)
