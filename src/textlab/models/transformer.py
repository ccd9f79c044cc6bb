"""A from-scratch transformer encoder for sequence classification, in reading order."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from textlab.base.errors import ConfigValueError, require
from textlab.models.attention import (
    ATTENTION_IMPLS,
    AttentionImpl,
    MultiHeadAttention,
    head_size,
)
from textlab.models.limits import require_layers
from textlab.models.pooling import ENCODER_POOLINGS, masked_pool, pooled_width
from textlab.models.positional import (
    POSITIONAL_KINDS,
    AlibiBias,
    PositionalKind,
    RotaryPositions,
    build_positional,
)

Pooling = Literal["cls", "mean", "max", "meanmax"]  # ENCODER_POOLINGS
NormPlacement = Literal["pre", "post"]


class FeedForward(nn.Module):
    """Position-wise MLP: widen, GELU, project back."""

    def __init__(self, d_model: int, ffn_dim: int) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, ffn_dim)
        self.down = nn.Linear(ffn_dim, d_model)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, T, C) through a (B, T, ffn_dim) hidden layer."""
        return self.down(nn.functional.gelu(self.up(x)))


class EncoderBlock(nn.Module):
    """Attention then MLP, each in a residual branch; LayerNorm before ("pre") or after ("post")."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        ffn_dim: int,
        dropout: float,
        attention: AttentionImpl,
        norm: NormPlacement,
        attention_dropout: float = 0.0,
        rotary: nn.Module | None = None,
        score_bias: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.norm_first = norm == "pre"
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(
            d_model, num_heads, attention_dropout, attention, rotary, score_bias
        )
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = FeedForward(d_model, ffn_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        attention_mask: Tensor | None,
        need_weights: bool = False,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """(B, T, C) -> (B, T, C), plus (B, H, T, T) attention weights if asked for."""
        if self.norm_first:
            # pre-norm keeps an un-normalised residual path from input to output: stable without
            # learning-rate warmup, hence the default
            a, weights = self.attn(self.ln1(x), attention_mask, need_weights, causal)
            x = x + self.dropout(a)
            x = x + self.dropout(self.mlp(self.ln2(x)))
        else:
            # post-norm, as in the original paper and BERT
            a, weights = self.attn(x, attention_mask, need_weights, causal)
            x = self.ln1(x + self.dropout(a))
            x = self.ln2(x + self.dropout(self.mlp(x)))
        return x, weights


class TransformerClassifier(nn.Module):
    """Token ids (B, T) and a real-token mask (B, T) -> class logits (B, num_classes).

    Token embeddings start at N(0, 0.02²) (GPT-2, BERT), not PyTorch's N(0, 1): Adam moves every
    weight by about lr per step whatever its size, so unit-scale embeddings change by ~0.1% a
    step and the model sat at chance for epochs on the embedded corpus. (With sinusoidal
    positions the sinusoids then outweigh the tokens at first and the pre-norm LayerNorms
    rescale; rotary, conf/model/transformer.yaml's choice, adds nothing to the embeddings.)
    The argument defaults are the classic encoder's (sinusoidal, [CLS] pooling) and stay so,
    since checkpoints of ensemble members store only the arguments that were set;
    conf/model/transformer.yaml sets every argument to what trains well here.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        pad_id: int,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        ffn_dim: int = 256,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        attention: AttentionImpl = "sdpa",
        positional: PositionalKind = "sinusoidal",
        pooling: Pooling = "cls",
        norm: NormPlacement = "pre",
        max_length: int = 256,
    ) -> None:
        # long: every argument is checked where the reader meets it, then the layers are built
        # in reading order; split up, the checks would drift from the arguments they guard
        super().__init__()
        require(vocab_size >= 1, "vocab_size", vocab_size, "a positive integer")
        require(num_classes >= 2, "num_classes", num_classes, "at least 2")
        require(0 <= pad_id < vocab_size, "pad_id", pad_id, f"in [0, vocab_size={vocab_size})")
        require(d_model >= 1, "d_model", d_model, "a positive integer")
        head_dim = head_size(d_model, num_heads, even=positional == "rotary")
        require_layers(num_layers)
        require(ffn_dim >= 1, "ffn_dim", ffn_dim, "a positive integer")
        require(0 <= dropout < 1, "dropout", dropout, "a probability in [0, 1)")
        require(
            0 <= attention_dropout < 1,
            "attention_dropout",
            attention_dropout,
            "a probability in [0, 1)",
        )
        for key, value, choices in (
            ("attention", attention, ATTENTION_IMPLS),
            ("positional", positional, POSITIONAL_KINDS),
            ("pooling", pooling, ENCODER_POOLINGS),
            ("norm", norm, ("pre", "post")),
        ):
            require(value in choices, key, value, f"one of {', '.join(choices)}")
        require(max_length >= 1, "max_length", max_length, "a positive integer")
        self.pad_id = pad_id
        self.pooling = pooling
        self.max_length = max_length

        self.tokens = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        nn.init.normal_(self.tokens.weight, std=0.02)
        with torch.no_grad():
            self.tokens.weight[pad_id].zero_()  # nn.Embedding keeps the padding row at zero
        self.positions = build_positional(positional, max_length, d_model)
        rotary = RotaryPositions(max_length, head_dim) if positional == "rotary" else None
        alibi = AlibiBias(max_length, num_heads) if positional == "alibi" else None
        self.embed_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(
                d_model,
                num_heads,
                ffn_dim,
                dropout,
                attention,
                norm,
                attention_dropout,
                rotary,
                alibi,
            )
            for _ in range(num_layers)
        )
        # post-norm blocks already end in a LayerNorm; pre-norm leaves the residual stream raw
        self.final_norm = nn.LayerNorm(d_model) if norm == "pre" else nn.Identity()
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(pooled_width(pooling, d_model), num_classes)
        )

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Logits (B, num_classes); `attention_mask` is True at real tokens (None: no padding)."""
        x, _ = self.encode(input_ids, attention_mask)
        return self.head(self.pool(x, attention_mask))  # (B, num_classes)

    def token_embedding(self) -> nn.Module:
        return self.tokens

    def encode(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None,
        need_weights: bool = False,
        causal: bool = False,
    ) -> tuple[Tensor, list[Tensor]]:
        """Contextual token vectors (B, T, C), and per-layer (B, H, T, T) weights if asked for;
        `causal` (language-model pretraining): each position sees only itself and earlier ones."""
        length = input_ids.size(1)
        if length > self.max_length:
            raise ConfigValueError(
                f"model.max_length={self.max_length}: the input has {length} tokens; "
                "raise model.max_length or lower data.max_length / data.eval_max_length"
            )
        x = self.embed_dropout(self.positions(self.tokens(input_ids)))  # (B, T, C)
        maps = []
        for block in self.blocks:
            x, weights = block(x, attention_mask, need_weights, causal)
            if weights is not None:
                maps.append(weights)
        return self.final_norm(x), maps

    def pool(self, x: Tensor, attention_mask: Tensor | None) -> Tensor:
        """(B, T, C) -> (B, C): the [CLS] vector, or the mean or max over real tokens."""
        if self.pooling == "cls":
            return x[:, 0]
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return masked_pool(self.pooling)(x, attention_mask)

    @torch.no_grad()
    def attention_maps(self, input_ids: Tensor, attention_mask: Tensor | None) -> list[Tensor]:
        """Per-layer attention weights (B, H, T, T) from the manual path, without dropout."""
        was_training = self.training
        self.eval()
        try:
            _, maps = self.encode(input_ids, attention_mask, need_weights=True)
        finally:
            self.train(was_training)
        return maps
