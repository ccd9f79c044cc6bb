"""Recurrent classifier: embedding → LSTM/GRU/RNN → pooling over real tokens → linear head."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from textlab.base.errors import require
from textlab.models.limits import require_layers
from textlab.models.pooling import RNN_POOLINGS, masked_pool, pooled_width

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RNNClassifier(nn.Module):
    """Padding never enters the recurrence (see pack_free), so it cannot change a logit."""

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
        weight_drop: float = 0.0,
    ) -> None:
        super().__init__()
        require(cell in CELLS, "cell", cell, f"one of {', '.join(CELLS)}")
        require(pooling in RNN_POOLINGS, "pooling", pooling, f"one of {', '.join(RNN_POOLINGS)}")
        for key, value in (("embedding_dim", embedding_dim), ("hidden_size", hidden_size)):
            require(isinstance(value, int) and value > 0, key, value, "a positive integer")
        require_layers(num_layers)
        require(0.0 <= dropout < 1.0, "dropout", dropout, "a number in [0, 1)")
        require(0.0 <= weight_drop < 1.0, "weight_drop", weight_drop, "a number in [0, 1)")
        self.pooling = pooling
        self.weight_drop = weight_drop
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
        self.head = nn.Linear(pooled_width(pooling, hidden_size * num_directions), num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) from `input_ids` (B, T) and `attention_mask` (B, T), True on tokens."""
        states, finals = self.states(input_ids, attention_mask)
        if self.pooling == "last":
            # the last layer's forward state saw the whole review; its backward state too
            pooled = torch.cat(finals, dim=-1)  # (B, H*dirs)
        else:
            pooled = masked_pool(self.pooling)(states, attention_mask)
        return self.head(self.dropout(pooled))

    def token_embedding(self) -> nn.Module:
        return self.embedding

    def states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The last layer's states (B, T, H*dirs), zero at padding, and each direction's final
        state (B, H) at the review's own end.

        With two directions, [..., :H] at t has read tokens 0..t and [..., H:] tokens t..end:
        what the pooling reads, and what language-model pretraining predicts the neighbours from.
        """
        lengths = attention_mask.sum(dim=1).clamp(min=1)
        embedded = self.dropout(self.embedding(input_ids))  # (B, T, E)
        states, finals = pack_free(self.rnn, embedded, lengths, self.training, self.weight_drop)
        return states * attention_mask.unsqueeze(-1), finals


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of x (B, T, D) over its first `lengths[b]` steps; padding stays last."""
    steps = torch.arange(x.size(1), device=x.device).unsqueeze(0)  # (1, T)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, T); its own inverse
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def pack_free(
    rnn: nn.RNNBase,
    x: torch.Tensor,
    lengths: torch.Tensor,
    training: bool,
    weight_drop: float = 0.0,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """`rnn` over right-padded x (B, T, E) as over packed sequences, without packing.

    Padding sits on the right, so forward states at real tokens never see it; the backward
    direction reads each sequence reversed within its own length, so padding comes last there
    too. Each (layer, direction) runs as a one-layer network on the module's own parameters
    (torch.func.functional_call on a weightless template). Why not pack_padded_sequence: on
    the CPU, a packed batch whose lengths differ makes backward re-allocate the whole input
    gradient at every time step; at 64 reviews of 250-400 tokens, 27 s a batch against 0.5 s
    here (benchmarks/README.md "Pretraining"). Outputs and gradients equal the packed ones.

    `weight_drop` (training only) is DropConnect on the recurrent weights, as in AWD-LSTM
    (Merity et al. 2018): one mask per batch and direction, so every time step of a review
    loses the same hidden-to-hidden connections, where dropping activations at each step would
    break the memory the recurrence carries.
    """
    directions = 2 if rnn.bidirectional else 1
    names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if rnn.bias else ())
    extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    finals: list[torch.Tensor] = []
    for layer in range(rnn.num_layers):
        template = type(rnn)(
            x.size(-1), rnn.hidden_size, bias=rnn.bias, batch_first=True, device="meta", **extra
        )
        outputs, finals = [], []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            weights = {f"{name}_l0": getattr(rnn, f"{name}{suffix}") for name in names}
            if training and weight_drop > 0:
                weights["weight_hh_l0"] = nn.functional.dropout(
                    weights["weight_hh_l0"], weight_drop, training=True
                )
            if direction == 0:
                out = functional_call(template, weights, (x,))[0]  # (B, T, H)
                at_last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(-1))
                finals.append(out.gather(1, at_last).squeeze(1))  # (B, H)
            else:
                reversed_x = reverse_within_length(x, lengths)
                out = reverse_within_length(
                    functional_call(template, weights, (reversed_x,))[0], lengths
                )
                finals.append(out[:, 0])  # the backward pass ends at the first token
            outputs.append(out)
        x = torch.cat(outputs, dim=-1)  # (B, T, H*dirs)
        if training and rnn.dropout > 0 and layer < rnn.num_layers - 1:
            x = nn.functional.dropout(x, rnn.dropout, training=True)  # as nn.LSTM between layers
    return x, finals
