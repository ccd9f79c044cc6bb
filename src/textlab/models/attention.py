"""Multi-head self-attention, written out by hand and through PyTorch's fused kernel."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textlab.base.errors import require

AttentionImpl = Literal["manual", "sdpa"]
ATTENTION_IMPLS = ("manual", "sdpa")


def head_size(d_model: int, num_heads: int, even: bool = False) -> int:
    """d_model / num_heads, checked; `even` for rotary positions, which turn channel pairs."""
    require(
        num_heads >= 1 and d_model % num_heads == 0,
        "num_heads",
        num_heads,
        f"a divisor of d_model={d_model}",
    )
    size = d_model // num_heads
    require(
        not even or size % 2 == 0,
        "num_heads",
        num_heads,
        f"leaving an even head size d_model/num_heads (now {size}) for rotary positions",
    )
    return size


def key_mask(key_padding_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Turn a (B, Tk) keep-mask into a broadcastable attention mask and a has-any-key flag.

    A sequence with no real key at all would give every query a softmax over nothing (NaN by
    hand; zeros or NaN from the fused kernel depending on backend). Such a sequence is allowed to
    attend everywhere, so both paths stay finite, and its output is zeroed afterwards by the flag.
    """
    has_keys = key_padding_mask.any(dim=-1)  # (B,)
    attend = key_padding_mask | ~has_keys[:, None]  # (B, Tk)
    return attend[:, None, None, :], has_keys[:, None, None, None]  # (B, 1, 1, Tk), (B, 1, 1, 1)


def causal_mask(length: int, device: torch.device) -> Tensor:
    """(T, T) bool, True where query i may see key j: j <= i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    key_padding_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
    score_bias: Tensor | None = None,
    causal: bool = False,
) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ / √d + bias) v over (B, H, T, d) tensors; returns (output, pre-dropout weights).

    `key_padding_mask` is (B, Tk) bool with True = real key (the same convention as the
    model's `attention_mask` and SDPA's boolean `attn_mask`). Padded keys get exactly zero
    weight; queries of a sequence with no real key get zero weights and a zero output.
    `score_bias` (H, Tq, Tk) is added to the scores (ALiBi's distance penalty). `causal` lets
    query i see keys 0..i only, as a decoder (language model) does.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, Tq, Tk)
    if score_bias is not None:
        scores = scores + score_bias
    if causal:
        scores = scores.masked_fill(~causal_mask(q.size(-2), q.device), float("-inf"))
    if key_padding_mask is None:
        weights = scores.softmax(dim=-1)
    else:
        attend, has_keys = key_mask(key_padding_mask)
        # exp(-inf) is exactly 0, so padded keys contribute nothing, not merely very little
        weights = scores.masked_fill(~attend, float("-inf")).softmax(dim=-1) * has_keys
    out = F.dropout(weights, p=dropout_p, training=training) @ v  # (B, H, Tq, d)
    return out, weights


def combine_causal(mask: Tensor, length: int) -> Tensor:
    """A bool keep-mask or an additive float mask, with the causal triangle added to it."""
    triangle = causal_mask(length, mask.device)
    if mask.dtype == torch.bool:
        return mask & triangle
    return mask.masked_fill(~triangle, float("-inf"))


class MultiHeadAttention(nn.Module):
    """Self-attention with fused Q/K/V projection; `impl` picks the hand-written or fused kernel."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dropout: float = 0.0,
        impl: AttentionImpl = "sdpa",
        rotary: nn.Module | None = None,
        score_bias: nn.Module | None = None,
    ) -> None:
        super().__init__()
        head_size(d_model, num_heads, even=rotary is not None)
        require(impl in ATTENTION_IMPLS, "attention", impl, f"one of {', '.join(ATTENTION_IMPLS)}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.impl = impl
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        # position modules shared by every layer (they hold no parameters): rotary turns q and k,
        # score_bias(T) gives an (H, T, T) term added to the attention scores
        self.rotary = rotary
        self.score_bias = score_bias

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = False,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend over x (B, T, C); weights (B, H, T, T) come back only with `need_weights`.

        The fused kernel never materialises the weights, so `need_weights` takes the manual path
        whatever `impl` says. `causal`: each position attends to itself and earlier ones only.
        """
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)  # 3 x (B, T, C)
        heads = (B, T, self.num_heads, C // self.num_heads)
        q, k, v = (t.view(heads).transpose(1, 2) for t in (q, k, v))  # 3 x (B, H, T, hs)
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)  # positions enter the scores as offsets only

        bias = self.score_bias(T) if self.score_bias is not None else None  # (H, T, T)

        weights = None
        if self.impl == "manual" or need_weights:
            y, weights = scaled_dot_product_attention(
                q, k, v, key_padding_mask, self.dropout, self.training, bias, causal
            )
        else:
            dropout_p = self.dropout if self.training else 0.0
            mask, has_keys = bias, None
            if key_padding_mask is not None:
                attend, has_keys = key_mask(key_padding_mask)
                mask = attend if bias is None else bias.masked_fill(~attend, float("-inf"))
            # the kernel's own causal flag takes no mask beside it; with one, the triangle joins it
            fused_causal = causal and mask is None
            if causal and mask is not None:
                mask = combine_causal(mask, T)
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=fused_causal
            )
            if has_keys is not None:
                y = y * has_keys  # same zeroing as the manual path
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): heads side by side again
        return self.proj(y), weights
