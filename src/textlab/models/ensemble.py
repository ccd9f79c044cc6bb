"""A small ensemble: members trained side by side, each on its own loss, probabilities averaged.

Each member gets its own cross-entropy (TextClassifier sums them), so its gradients are exactly
those it would get trained alone on the same batches; training them on the averaged output
instead lets them co-adapt, which ensembles generalise worse for. Members differ in what they
read: `max_lengths` crops a member's input (a bag of n-grams can afford the whole review, an
LSTM cannot), and `lr_scales` multiplies the optimiser's learning rate for its parameters.
`weights` set each member's share of the averaged probability: a weaker, more confident member
at full weight pulls a stronger one down.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from textlab.base.errors import require
from textlab.base.instantiate import build
from textlab.base.typecheck import check_values
from textlab.models.protocols import FitsFromData


class Ensemble(nn.Module):
    """Classifiers over the same (input_ids, attention_mask); logits are log mean probabilities.

    Implements the MemberEnsemble and FitsFromData protocols (models/protocols.py).
    """

    def __init__(
        self,
        members: Mapping[str, nn.Module],
        max_lengths: Mapping[str, int | None] | None = None,
        lr_scales: Mapping[str, float] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        require(len(members) >= 1, "members", dict(members), "at least one member")
        self.members = nn.ModuleDict(members)
        self.max_lengths = {name: (max_lengths or {}).get(name) for name in members}
        self.lr_scales = {name: float((lr_scales or {}).get(name, 1.0)) for name in members}
        self.weights = {name: float((weights or {}).get(name, 1.0)) for name in members}
        for name in members:
            length, scale = self.max_lengths[name], self.lr_scales[name]
            weight = self.weights[name]
            require(weight > 0, f"members.{name}.weight", weight, "a positive number")
            require(
                length is None or length >= 1,
                f"members.{name}.max_length",
                length,
                "a positive integer or null",
            )
            require(scale > 0, f"members.{name}.lr_scale", scale, "a positive number")

    def member_logits(self, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Tensor]:
        """Each member's logits (B, C), on its own crop of the (right-padded) batch."""
        out = {}
        for name, member in self.members.items():
            length = self.max_lengths[name]
            # a slice past the end is a no-op, and unlike an `if` it stays dynamic when exported
            crop = slice(None, length)
            out[name] = member(input_ids[:, crop], attention_mask[:, crop])
        return out

    def _fitting(self) -> dict[str, FitsFromData]:
        return {
            name: member
            for name, member in self.members.items()
            if isinstance(member, FitsFromData) and member.needs_fit()
        }

    def needs_fit(self) -> bool:
        return bool(self._fitting())

    def observe(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor) -> None:
        """Pass a training batch, cropped, to members that count statistics (models/ngram.py)."""
        for name, member in self._fitting().items():
            crop = slice(None, self.max_lengths[name])
            member.observe(input_ids[:, crop], attention_mask[:, crop], labels)

    def fit(self, total: Callable[[Tensor], Tensor] = lambda counts: counts) -> None:
        for member in self._fitting().values():
            member.fit(total)

    def combine(self, member_logits: Mapping[str, Tensor]) -> Tensor:
        """log(weighted mean of member probabilities): (B, C) logits whose softmax is it."""
        total = sum(self.weights[name] for name in member_logits)
        stacked = torch.stack(
            [
                logits.float().log_softmax(dim=-1) + math.log(self.weights[name] / total)
                for name, logits in member_logits.items()
            ]
        )
        return stacked.logsumexp(dim=0)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.combine(self.member_logits(input_ids, attention_mask))

    def optimizer_groups(self, lr: float) -> list[dict[str, Any]]:
        """One parameter group per member, at `lr` times its lr_scale."""
        return [
            {"params": list(member.parameters()), "lr": lr * self.lr_scales[name]}
            for name, member in self.members.items()
        ]


def member_options(
    net: Any, max_length: int | None = None, lr_scale: float = 1.0, weight: float = 1.0
) -> None:
    """The keys of one `members.<name>` entry; their values are checked against these hints."""


MEMBER_KEYS = tuple(inspect.signature(member_options).parameters)


def build_ensemble(vocab_size: int, num_classes: int, pad_id: int, members: DictConfig) -> Ensemble:
    """Hydra entry point (`_recursive_: false`): each `members.<name>.net` is a model config."""
    nets, max_lengths, lr_scales, weights = {}, {}, {}, {}
    for name, spec in members.items():
        if spec is None:  # dropped from the command line: model.members.<name>=null
            continue
        require("net" in spec, f"members.{name}", spec, "a mapping with a `net` model config")
        for key in spec:  # a misspelt `weigth` would otherwise be ignored without a word
            require(
                key in MEMBER_KEYS,
                f"members.{name}.{key}",
                spec[key],
                "a member key: " + ", ".join(MEMBER_KEYS),
            )
        check_values(member_options, spec, f"members.{name}")
        nets[name] = build(
            spec.net,
            f"members.{name}.net",
            vocab_size=vocab_size,
            num_classes=num_classes,
            pad_id=pad_id,
        )
        max_lengths[name] = spec.get("max_length")
        lr_scales[name] = spec.get("lr_scale", 1.0)
        weights[name] = spec.get("weight", 1.0)
    require(bool(nets), "members", dict(members or {}), "at least one member that is not null")
    return Ensemble(nets, max_lengths, lr_scales, weights)
