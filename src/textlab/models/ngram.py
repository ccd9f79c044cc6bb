"""Bag of n-grams (fastText-style): mean of token and hashed n-gram embeddings → linear.

Wang & Manning's NBSVM showed that bigrams alone carry most of IMDb's sentiment ("not good",
"no plot"); this is the neural cousin. Word order beyond `ngram` tokens is invisible to it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from textlab.errors import require

# odd 32-bit constant (Knuth's multiplicative hash): spreads consecutive n-gram indices
# over the buckets instead of clustering them
_MIX = 2654435761


class NgramClassifier(nn.Module):
    """Tokens plus their 2..`ngram`-grams, each n-gram hashed into one of `buckets` rows."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        pad_id: int,
        ngram: int = 2,
        buckets: int = 1 << 20,
        embedding_dim: int = 16,
        dropout: float = 0.0,
        binary: bool = False,
    ) -> None:
        super().__init__()
        require(vocab_size >= 1, "vocab_size", vocab_size, "a positive integer")
        require(isinstance(ngram, int) and 1 <= ngram <= 3, "ngram", ngram, "1, 2 or 3")
        for key, value in (("buckets", buckets), ("embedding_dim", embedding_dim)):
            require(isinstance(value, int) and value > 0, key, value, "a positive integer")
        require(0.0 <= dropout < 1.0, "dropout", dropout, "a number in [0, 1)")
        require(isinstance(binary, bool), "binary", binary, "true or false")
        self.vocab_size = vocab_size
        self.ngram = ngram
        self.buckets = buckets
        self.pad_id = pad_id
        self.binary = binary
        rows = vocab_size + (buckets if ngram > 1 else 0)
        self.embedding = nn.EmbeddingBag(rows, embedding_dim, mode="sum")
        # small init: Adam moves each row by about lr per step, so unit-scale rows would
        # take many epochs to leave their random start (same reason as the transformer's)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embedding_dim, num_classes)

    def gram_ids(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Row ids (B, N) of every token and n-gram, and which of them are real (B, N)."""
        ids, real = [input_ids], [attention_mask]
        index = input_ids.long()
        for n in range(2, self.ngram + 1):
            # exact index of the n-gram in vocab_size**n before hashing: (a·V + b)·V + c
            index = index[:, :-1] * self.vocab_size + input_ids[:, n - 1 :]
            hashed = (index * _MIX) % self.buckets + self.vocab_size
            ids.append(hashed)
            real.append(real[-1][:, :-1] & attention_mask[:, n - 1 :])
        return torch.cat(ids, dim=1), torch.cat(real, dim=1)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Logits (B, C) from `input_ids` (B, T) and `attention_mask` (B, T), True on tokens."""
        ids, real = self.gram_ids(input_ids.long(), attention_mask.bool())
        if self.binary:
            ids, real = distinct(ids, real)
        weights = real.to(self.embedding.weight.dtype)
        summed = self.embedding(ids, per_sample_weights=weights)  # (B, E), padding weighs 0
        pooled = summed / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def distinct(ids: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """The same bag with each row id kept once per review (`real` False on the repeats).

    NBSVM's binarised features: whether a review says "great" matters, how often it says it
    adds mostly length. Sorting brings repeats side by side; padding sorts first as -1.
    """
    ids = ids.masked_fill(~real, -1).sort(dim=1).values
    first = torch.ones_like(real)
    first[:, 1:] = ids[:, 1:] != ids[:, :-1]
    return ids.clamp(min=0), first & (ids >= 0)
