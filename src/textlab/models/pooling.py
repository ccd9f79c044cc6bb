"""Pool a padded sequence of vectors into one vector per sequence, over real tokens only."""

from __future__ import annotations

import torch

POOLINGS = ("last", "mean", "max")


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `states` (B, T, D) over positions where `mask` (B, T) is True."""
    weights = mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def masked_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max of `states` (B, T, D) over positions where `mask` (B, T) is True."""
    return states.masked_fill(~mask.unsqueeze(-1), torch.finfo(states.dtype).min).amax(dim=1)
