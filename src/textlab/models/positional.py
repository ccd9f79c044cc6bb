"""Position information: added to token embeddings (sinusoids, a learned table), rotated into
queries and keys (rotary), a distance penalty on attention scores (alibi), or none."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

PositionalKind = Literal["sinusoidal", "learned", "rotary", "alibi", "none"]
POSITIONAL_KINDS = ("sinusoidal", "learned", "rotary", "alibi", "none")


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


class RotaryPositions(nn.Module):
    """Rotary position embedding (Su et al. 2021, "RoFormer"), applied to queries and keys.

    Each pair of channels (i, i + d/2) of a head is rotated by the angle pos * 10000^(-2i/d).
    A query at position m and a key at position n then score q·R(n - m)·k: attention sees only
    the offset between tokens, which makes local patterns ("not" two words before "good") easy
    to learn from little data, where added absolute positions leave them to be discovered.
    """

    def __init__(self, max_length: int, head_dim: int) -> None:
        """`head_dim` must be even (attention.head_size checks it for the transformer)."""
        super().__init__()
        half = head_dim // 2
        inv_freq = 10000 ** (-torch.arange(half, dtype=torch.float64) / half)  # (hs/2,)
        angle = torch.arange(max_length, dtype=torch.float64)[:, None] * inv_freq  # (T, hs/2)
        angle = torch.cat((angle, angle), dim=-1)  # (T, hs): channel i and i + hs/2 share one
        # not persistent: pure functions of the shape, as for the sinusoidal table
        self.register_buffer("cos", angle.cos().float(), persistent=False)
        self.register_buffer("sin", angle.sin().float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Rotate x (B, H, T, hs) by its positions; the norm of every channel pair is kept."""
        first, second = x.chunk(2, dim=-1)  # 2 x (B, H, T, hs/2)
        turned = torch.cat((-second, first), dim=-1)  # the pair (a, b) -> (-b, a)
        T = x.size(-2)
        return x * self.cos[:T] + turned * self.sin[:T]


class AlibiBias(nn.Module):
    """ALiBi (Press et al. 2022), made symmetric for an encoder: score(i, j) -= slope_h * |i - j|.

    Head h gets slope 2^(-8(h + 1)/H): the first heads look at a few neighbours, the last ones
    across the review. Nothing is learned; from the first step every head has a range, so local
    patterns such as negation are there to be used rather than found.
    """

    def __init__(self, max_length: int, num_heads: int) -> None:
        super().__init__()
        slopes = 2.0 ** (-8.0 * torch.arange(1, num_heads + 1) / num_heads)  # (H,)
        position = torch.arange(max_length)
        distance = (position[None, :] - position[:, None]).abs()  # (T, T)
        # not persistent: pure functions of the shape
        self.register_buffer("slopes", slopes[:, None, None], persistent=False)  # (H, 1, 1)
        self.register_buffer("distance", distance.float(), persistent=False)

    def forward(self, length: int) -> Tensor:
        """The (H, T, T) penalty for the first `length` positions."""
        return -self.slopes * self.distance[:length, :length]


def build_positional(kind: PositionalKind, max_length: int, d_model: int) -> nn.Module:
    """The module added to embeddings for `kind`; rotary, alibi and none add nothing there.

    With "none" self-attention is order-blind (a bag of tokens).
    """
    if kind == "sinusoidal":
        return SinusoidalPositions(max_length, d_model)
    if kind == "learned":
        return LearnedPositions(max_length, d_model)
    return nn.Identity()
