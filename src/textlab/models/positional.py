"""Position information added to token embeddings: fixed sinusoids, a learned table, or none."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

PositionalKind = Literal["sinusoidal", "learned", "none"]
POSITIONAL_KINDS = ("sinusoidal", "learned", "none")


def sinusoidal_table(max_length: int, d_model: int) -> Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)); (T, d)."""
    position = torch.arange(max_length, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(d/2),)
    angle = position / 10000 ** (two_i / d_model)  # (T, ceil(d/2))
    table = torch.zeros(max_length, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])  # odd d_model has one cosine fewer
    return table.float()


class SinusoidalPositions(nn.Module):
    """Adds the fixed sinusoidal table (Vaswani et al. 2017); nothing to learn."""

    def __init__(self, max_length: int, d_model: int) -> None:
        super().__init__()
        # not persistent: it is a pure function of the shape, so checkpoints need not carry it
        self.register_buffer("table", sinusoidal_table(max_length, d_model), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, C) -> x + PE[:T]."""
        return x + self.table[: x.size(1)]


class LearnedPositions(nn.Module):
    """Adds one trained vector per position (BERT/GPT style)."""

    def __init__(self, max_length: int, d_model: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max_length, d_model)
        # small start, so early training sees mostly tokens rather than random position noise
        nn.init.normal_(self.embedding.weight, std=1 / math.sqrt(d_model))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, C) -> x + E[:T]."""
        return x + self.embedding.weight[: x.size(1)]


def build_positional(kind: PositionalKind, max_length: int, d_model: int) -> nn.Module:
    """The module for `kind`; with "none" self-attention is order-blind (a bag of tokens)."""
    if kind == "sinusoidal":
        return SinusoidalPositions(max_length, d_model)
    if kind == "learned":
        return LearnedPositions(max_length, d_model)
    return nn.Identity()
