"""Checkpoint files written like every other run file: whole or not at all.

Lightning 2.6 saves through fsspec, which writes to a temporary file in the system temp dir and
moves it into place; across filesystems the move is a copy, so a full disk leaves a truncated
`last.ckpt` where the good one was. Here the temporary file sits beside the target and is
renamed (base/atomic.py).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from textlab.base.atomic import open_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose save is a write to a sibling temporary file, fsync, rename."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        # serialised in memory first (as Lightning does): torch.save writing straight to the
        # file turns a full disk into an opaque RuntimeError of its zip writer
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with open_atomic(path, "wb") as handle:
            handle.write(buffer.getbuffer())
