"""Class probabilities from a trained network: for batches a loader makes, or for raw texts
tokenized exactly as in training (one path for the test reports, mode=predict and any server)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from textlab.data.collate import PaddingCollator
from textlab.data.read_stats import MAX_TEXT_CHARS
from textlab.data.sources.records import repair_unicode
from textlab.tokenization import encode_ids, pad_id


def clean_review(text: str, max_chars: int = MAX_TEXT_CHARS) -> tuple[str, list[str]]:
    """`text` as every prediction reads it, and the ReadStats repairs that applied.

    Lone surrogates (JSON `\\ud800` escapes, bytes the command line could not decode) become
    U+FFFD, which tokenizers can encode; a text over `max_chars` is cut (the model reads only
    `max_length` tokens of it anyway). Shared by mode=predict and mode=serve.
    """
    text, repaired = repair_unicode(text)
    repairs = ["invalid_unicode"] if repaired else []
    if len(text) > max_chars:
        repairs.append("truncated")
        text = text[:max_chars]
    return text, repairs


@torch.no_grad()
def probabilities(
    net: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    device: torch.device | str = "cpu",
    precision: AbstractContextManager[Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Softmax over `net`'s logits for every batch: (N, C) probabilities and (N,) labels if any.

    `precision` is the autocast context the trainer used, so the numbers match its test stage.
    """
    was_training = net.training
    net.eval()
    probs, labels = [], []
    try:
        with precision or nullcontext():
            for batch in batches:
                logits = net(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                probs.append(logits.float().softmax(dim=-1).cpu())
                if "labels" in batch:
                    labels.append(batch["labels"].cpu())
    finally:
        net.train(was_training)
    num_classes = probs[0].size(-1) if probs else 0
    all_probs = torch.cat(probs) if probs else torch.empty(0, num_classes)
    return all_probs, torch.cat(labels) if labels else None


class TextPredictor:
    """A network with its tokenizer: texts in, (N, C) probabilities out, in one padded batch."""

    def __init__(
        self, net: nn.Module, tokenizer: Tokenizer, max_length: int, device: torch.device | str
    ) -> None:
        self.net = net.to(device).eval()
        self.tokenizer, self.max_length, self.device = tokenizer, max_length, device
        self.collator = PaddingCollator(pad_id(tokenizer))

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        return self.of_ids(encode_ids(self.tokenizer, texts, self.max_length))

    def of_ids(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """(N, C) probabilities of token ids already cut by `encode_ids`, padded as one batch."""
        return probabilities(self.net, [self.pad(ids)], self.device)[0]

    def runs_on(self) -> str:
        """Where the forward passes run: "cpu", "cuda", "cuda:1", ..."""
        return str(torch.device(self.device))

    def pad(self, ids: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """One batch of `ids`, padded as training pads them (`input_ids`, `attention_mask`)."""
        return self.collator([{"input_ids": seq, "label": 0} for seq in ids])
