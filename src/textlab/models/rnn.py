"""Recurrent classifier: embedding → LSTM/GRU/RNN → pooling over real tokens → linear head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textlab.base.errors import require
from textlab.models.pooling import RNN_POOLINGS, masked_pool

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RNNClassifier(nn.Module):
    """Sequences are packed, so padding never enters the recurrence and cannot change a logit."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        pad_id: int,
        embedding_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        dropout: float = 0.3,
        pooling: str = "max",
    ) -> None:
        super().__init__()
        require(cell in CELLS, "cell", cell, f"one of {', '.join(CELLS)}")
        require(pooling in RNN_POOLINGS, "pooling", pooling, f"one of {', '.join(RNN_POOLINGS)}")
        for key, value in (
            ("embedding_dim", embedding_dim),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            require(isinstance(value, int) and value > 0, key, value, "a positive integer")
        require(0.0 <= dropout < 1.0, "dropout", dropout, "a number in [0, 1)")
        self.pooling = pooling
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.rnn = CELLS[cell](
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
            # torch applies this between stacked layers only; it warns when there is one layer.
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        num_directions = 2 if bidirectional else 1
        self.head = nn.Linear(hidden_size * num_directions, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) from `input_ids` (B, T) and `attention_mask` (B, T), True on tokens."""
        states, hidden = self.states(input_ids, attention_mask)
        if self.pooling == "last":
            final = hidden[0] if isinstance(hidden, tuple) else hidden  # (layers*dirs, B, H)
            # The last layer's forward state saw the whole review; its backward state too.
            directions = 2 if self.rnn.bidirectional else 1
            pooled = torch.cat(list(final[-directions:]), dim=-1)  # (B, H*dirs)
        else:
            pooled = masked_pool(self.pooling)(states, attention_mask)
        return self.head(self.dropout(pooled))

    def states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """The last layer's states (B, T, H*dirs), zero at padding, and the final hidden state.

        With two directions, [..., :H] at t has read tokens 0..t and [..., H:] tokens t..end:
        what the pooling reads, and what language-model pretraining predicts the neighbours from.
        """
        lengths = attention_mask.sum(dim=1)
        embedded = self.dropout(self.embedding(input_ids))  # (B, T, E)
        packed = pack_padded_sequence(
            embedded, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False
        )
        packed_states, hidden = self.rnn(packed)
        states, _ = pad_packed_sequence(
            packed_states, batch_first=True, total_length=input_ids.size(1)
        )  # (B, T, H*dirs)
        return states, hidden
