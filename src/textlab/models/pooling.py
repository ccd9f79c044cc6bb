"""Pool a padded sequence of vectors into one vector per sequence, over real tokens only."""

from __future__ import annotations

from collections.abc import Callable

import torch

# What each model family may pool: a recurrent encoder's final states ("last"), a transformer's
# [CLS] vector ("cls"), or either's states over real tokens ("mean", "max").
RNN_POOLINGS = ("last", "mean", "max")
ENCODER_POOLINGS = ("cls", "mean", "max")


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `states` (B, T, D) over positions where `mask` (B, T) is True."""
    weights = mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def masked_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max of `states` (B, T, D) over positions where `mask` (B, T) is True."""
    return states.masked_fill(~mask.unsqueeze(-1), torch.finfo(states.dtype).min).amax(dim=1)


def masked_pool(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """`masked_mean` or `masked_max` for `kind` "mean" or "max"."""
    return {"mean": masked_mean, "max": masked_max}[kind]
