"""Build the `model` network from its config with the sizes only the data knows."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from textlab.base.instantiate import build


def build_net(
    node: DictConfig | dict[str, Any], vocab_size: int, num_classes: int, pad_id: int
) -> nn.Module:
    """The network `node` describes (`model` in conf/), sized for this tokenizer and these labels.

    The node is resolved first, while it still has its root (`${data.max_length}`), so that a
    checkpoint's stored config and a live one build the same way.
    """
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)  # type: ignore[assignment]
    return build(
        OmegaConf.create(node),
        "model",
        vocab_size=vocab_size,
        num_classes=num_classes,
        pad_id=pad_id,
    )
