"""Will the network a config describes fit? Counted before any memory is spent on it.

The network is built once on PyTorch's `meta` device (shapes only, no storage, no random
numbers drawn), so `model.hidden_size=1000000000` is one line instead of an allocator abort
minutes into a run. Training needs about 16 bytes per parameter: fp32 weights, their gradients
and Adam's two moments; activations come on top and are not counted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException

from textlab.base.errors import UserError
from textlab.models.factory import build_net

BYTES_PER_PARAMETER = 16
MEMORY_SHARE = 0.5  # of the available memory; activations, batches and caches need the rest


def check_network_fits(node: Any, vocab_size: int, num_classes: int, pad_id: int) -> int:
    """The network's parameter count; a UserError when it cannot exist or fit in memory."""
    try:
        with torch.device("meta"):
            net = build_net(node, vocab_size=vocab_size, num_classes=num_classes, pad_id=pad_id)
    except (InstantiationException, RuntimeError, OverflowError, MemoryError) as err:
        # sizes past what torch can index (Hydra wraps what the constructor raised)
        cause = err.__cause__ if isinstance(err, InstantiationException) else err
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:160]
        raise UserError(
            f"model: the network is too large to exist ({first}); expected smaller model.* sizes"
        ) from None
    parameters = sum(p.numel() for p in net.parameters())
    tables = sum(b.numel() * b.element_size() for b in net.buffers())
    need = parameters * BYTES_PER_PARAMETER + tables
    available = available_memory()
    if available is not None and need > available * MEMORY_SHARE:
        raise UserError(
            f"model: the network needs about {need / 2**30:.1f} GiB ({parameters:,} parameters "
            f"at {BYTES_PER_PARAMETER} bytes for weights, gradients and Adam's moments, plus "
            f"{tables / 2**30:.1f} GiB of tables) and may take {MEMORY_SHARE:.0%} of the "
            f"{available / 2**30:.1f} GiB available; expected smaller model.* sizes "
            "(hidden_size, d_model, max_length, buckets, embedding_dim)"
        )
    return parameters


def available_memory() -> int | None:
    """Bytes the OS says a new allocation can have (Linux MemAvailable), None if unknown."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
