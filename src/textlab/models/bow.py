"""Bag-of-words baseline: the mean of token embeddings, so word order cannot matter."""

from __future__ import annotations

import torch
from torch import nn

from textlab.base.errors import require
from textlab.models.pooling import masked_mean


class BagOfWordsClassifier(nn.Module):
    """Order-blind reference: what a sequence model gains over it is what word order is worth."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        pad_id: int,
        embedding_dim: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        require(
            isinstance(embedding_dim, int) and embedding_dim > 0,
            "embedding_dim",
            embedding_dim,
            "a positive integer",
        )
        require(0.0 <= dropout < 1.0, "dropout", dropout, "a number in [0, 1)")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embedding_dim, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = masked_mean(self.embedding(input_ids), attention_mask)  # (B, E)
        return self.head(self.dropout(pooled))

    def token_embedding(self) -> nn.Module:
        return self.embedding
