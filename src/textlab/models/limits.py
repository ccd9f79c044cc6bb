"""Sizes past which a network is refused before it is built."""

from __future__ import annotations

from typing import Any

from textlab.base.errors import require

# Building is linear in the layer count even on the meta device (100,000 LSTM layers ran for
# over a minute there before the memory check could say no); no textlab model trains this deep.
MAX_LAYERS = 1024


def require_layers(num_layers: Any) -> None:
    """`num_layers` a whole number from 1 to MAX_LAYERS, checked before any layer is built."""
    fits = isinstance(num_layers, int) and not isinstance(num_layers, bool)
    require(fits and 1 <= num_layers <= MAX_LAYERS, "num_layers", num_layers, f"1 to {MAX_LAYERS}")
