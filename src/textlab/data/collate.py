"""Padding collator: pads each batch to its own longest sequence, not to a global max length
(rounded up to a multiple, when asked, so that a GPU sees a few shapes rather than hundreds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class PaddingCollator:
    """Turn items `{"input_ids": LongTensor[T_i], "label": int}` into one padded batch.

    Returns `input_ids` (B, T) long, `attention_mask` (B, T) bool (True on real tokens),
    `lengths` (B,) long and `labels` (B,) long, where T is the longest item in the batch
    rounded up to a multiple of `pad_to_multiple_of`, but not past `max_width` (the longest
    input the network accepts) unless an item is longer itself; `targets` (B, C) float when
    the items carry `"target"` distributions.
    """

    def __init__(self, pad_id: int, pad_to_multiple_of: int = 1, max_width: int | None = None):
        self.pad_id = pad_id
        self.multiple, self.max_width = pad_to_multiple_of, max_width

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([len(item["input_ids"]) for item in items], dtype=torch.long)
        longest = int(lengths.max()) if len(items) else 0
        rounded = -(-longest // self.multiple) * self.multiple
        longest = rounded if self.max_width is None else max(longest, min(rounded, self.max_width))
        input_ids = torch.full((len(items), longest), self.pad_id, dtype=torch.long)
        for row, item in enumerate(items):
            input_ids[row, : lengths[row]] = torch.as_tensor(item["input_ids"], dtype=torch.long)
        attention_mask = torch.arange(longest).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        labels = torch.tensor([int(item["label"]) for item in items], dtype=torch.long)
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "lengths": lengths,
            "labels": labels,
        }
        if items and "target" in items[0]:
            batch["targets"] = torch.stack([item["target"] for item in items])
        return batch
