"""Pool a padded sequence of vectors into one vector per sequence, over real tokens only."""

from __future__ import annotations

from collections.abc import Callable

import torch

# What each model family may pool: a recurrent encoder's final states ("last"), a transformer's
# [CLS] vector ("cls"), or either's states over real tokens ("mean", "max", and "meanmax": the
# two side by side, as ULMFiT's concat pooling, so the head sees the whole review's average
# and its strongest phrase).
RNN_POOLINGS = ("last", "mean", "max", "meanmax")
ENCODER_POOLINGS = ("cls", "mean", "max", "meanmax")


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `states` (B, T, D) over positions where `mask` (B, T) is True."""
    weights = mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def masked_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max of `states` (B, T, D) over positions where `mask` (B, T) is True."""
    return states.masked_fill(~mask.unsqueeze(-1), torch.finfo(states.dtype).min).amax(dim=1)


def masked_mean_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`masked_mean` and `masked_max` concatenated: (B, 2D)."""
    return torch.cat([masked_mean(states, mask), masked_max(states, mask)], dim=-1)


def masked_pool(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """`masked_mean`, `masked_max` or `masked_mean_max` for `kind` "mean", "max" or "meanmax"."""
    return {"mean": masked_mean, "max": masked_max, "meanmax": masked_mean_max}[kind]


def pooled_width(kind: str, width: int) -> int:
    """Features a head reads after pooling `kind` over vectors of `width`."""
    return 2 * width if kind == "meanmax" else width
