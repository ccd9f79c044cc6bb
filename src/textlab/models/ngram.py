"""Bag of n-grams (fastText-style): mean of token and hashed n-gram embeddings → linear.

Wang & Manning's NBSVM showed that bigrams alone carry most of IMDb's sentiment ("not good",
"no plot"); this is the neural cousin. Word order beyond `ngram` tokens is invisible to it.
With `binary` and `naive_bayes` it reads NBSVM's features: each distinct n-gram once, scaled
by its log-count ratio, fitted from the training data before the first step
(callbacks/log_count_ratios.py; the FitsFromData protocol).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from textlab.base.errors import require

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
        naive_bayes: bool = False,
    ) -> None:
        super().__init__()
        require(vocab_size >= 1, "vocab_size", vocab_size, "a positive integer")
        require(isinstance(ngram, int) and 1 <= ngram <= 3, "ngram", ngram, "1, 2 or 3")
        for key, value in (("buckets", buckets), ("embedding_dim", embedding_dim)):
            require(isinstance(value, int) and value > 0, key, value, "a positive integer")
        require(0.0 <= dropout < 1.0, "dropout", dropout, "a number in [0, 1)")
        require(isinstance(binary, bool), "binary", binary, "true or false")
        require(isinstance(naive_bayes, bool), "naive_bayes", naive_bayes, "true or false")
        require(
            not naive_bayes or num_classes == 2,
            "naive_bayes",
            naive_bayes,
            f"false with {num_classes} classes (the log-count ratio compares two)",
        )
        self.vocab_size = vocab_size
        self.ngram = ngram
        self.buckets = buckets
        self.pad_id = pad_id
        self.binary = binary
        self.naive_bayes = naive_bayes
        rows = vocab_size + (buckets if ngram > 1 else 0)
        # ones until fitted: an unfitted model reads the plain bag rather than nothing
        self.register_buffer("log_ratio", torch.ones(rows) if naive_bayes else None)
        self.register_buffer("ratio_fitted", torch.tensor(False) if naive_bayes else None)
        self._counts: Tensor | None = None
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
        count = weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        if self.log_ratio is not None:
            weights = weights * self.log_ratio[ids].to(weights.dtype)
        summed = self.embedding(ids, per_sample_weights=weights)  # (B, E), padding weighs 0
        return self.head(self.dropout(summed / count))

    def needs_fit(self) -> bool:
        """With `naive_bayes`, whether the log-count ratios are still to be counted."""
        return self.naive_bayes and not bool(self.ratio_fitted)

    @torch.no_grad()
    def observe(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor) -> None:
        """Count, per class, the reviews each row's n-gram occurs in (for `fit`)."""
        ids, real = distinct(*self.gram_ids(input_ids.long(), attention_mask.bool()))
        if self._counts is None:
            self._counts = torch.zeros(2, len(self.log_ratio), device=ids.device)
        classes = labels.to(ids.device)[:, None].expand_as(ids)
        self._counts.index_put_(
            (classes[real], ids[real]), torch.ones_like(ids[real], dtype=torch.float), True
        )

    @torch.no_grad()
    def fit(self, total: Callable[[Tensor], Tensor] = lambda counts: counts) -> None:
        """NBSVM's log-count ratio from the observed counts; `total` sums them over processes.

        r = log((p / |p|₁) / (q / |q|₁)) with p, q the positive and negative counts plus one:
        an n-gram seen only in positive reviews gets a large r, one spread evenly gets 0.
        """
        counts = self._counts
        if counts is None:  # this process saw no batch; the others' counts still arrive
            counts = self.log_ratio.new_zeros(2, len(self.log_ratio))
        counts = total(counts.to(self.log_ratio.device)) + 1.0
        p, q = counts[1], counts[0]
        self.log_ratio.copy_((p / p.sum()).log() - (q / q.sum()).log())
        self.ratio_fitted.fill_(True)
        self._counts = None


def distinct(ids: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """The same bag with each row id kept once per review (`real` False on the repeats).

    NBSVM's binarised features: whether a review says "great" matters, how often it says it
    adds mostly length. Sorting brings repeats side by side; padding sorts first as -1.
    """
    ids = ids.masked_fill(~real, -1).sort(dim=1).values
    first = torch.ones_like(real)
    first[:, 1:] = ids[:, 1:] != ids[:, :-1]
    return ids.clamp(min=0), first & (ids >= 0)
