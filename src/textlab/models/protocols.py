"""What the training loop and the tools may ask of a network beyond `forward`, spelled out.

A network is any `nn.Module` mapping (input_ids (B, T), attention_mask (B, T)) to logits
(B, C). Some offer more, and the rest of textlab checks for these protocols by `isinstance`
rather than probing attributes by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn


@runtime_checkable
class MemberEnsemble(Protocol):
    """Members trained side by side on their own losses, predicting together (ensemble.py)."""

    members: nn.ModuleDict

    def member_logits(self, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Tensor]:
        """Each member's logits (B, C)."""
        ...

    def combine(self, member_logits: Mapping[str, Tensor]) -> Tensor:
        """The ensemble's logits (B, C) from its members'."""
        ...

    def optimizer_groups(self, lr: float) -> list[dict[str, Any]]:
        """Parameter groups for the optimiser, each with its own learning rate."""
        ...


@runtime_checkable
class FitsFromData(Protocol):
    """Statistics counted from the training data once, before the first step (NBSVM ratios)."""

    def needs_fit(self) -> bool:
        """Whether anything is still to be counted (a resumed run restored it: False)."""
        ...

    def observe(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor) -> None:
        """Count one training batch."""
        ...

    def fit(self, total: Callable[[Tensor], Tensor]) -> None:
        """Set the statistics from the counts; `total` sums counts over DDP processes."""
        ...


@runtime_checkable
class ShowsAttention(Protocol):
    """Exposes its attention weights, for the TensorBoard heatmaps (callbacks/attention_maps)."""

    def attention_maps(self, input_ids: Tensor, attention_mask: Tensor | None) -> list[Tensor]:
        """Per-layer attention weights (B, H, T, T)."""
        ...


@runtime_checkable
class EmbedsTokens(Protocol):
    """Looks its input ids up in one table first (module.adversarial_eps perturbs its output)."""

    def token_embedding(self) -> nn.Module:
        """The module mapping input_ids (B, T) to embeddings (B, T, E)."""
        ...
