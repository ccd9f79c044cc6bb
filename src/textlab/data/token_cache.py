"""Token ids on disk per (tokenizer, split, max_length): later runs and sweeps skip tokenizing."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from textlab.base.atomic import open_atomic
from textlab.base.fingerprint import fingerprint_json
from textlab.data.dataset import TokenizedDataset

log = logging.getLogger(__name__)


def cache_path(
    cache_dir: str | Path, tokenizer_fingerprint: str, data_fingerprint: str, max_length: int
) -> Path:
    key = fingerprint_json(
        {"tokenizer": tokenizer_fingerprint, "data": data_fingerprint, "max_length": max_length}
    )
    return Path(cache_dir) / "tokens" / f"{key[:24]}.npz"


def load_or_encode(path: Path, encode: Callable[[], TokenizedDataset]) -> TokenizedDataset:
    """The dataset cached at `path`, or `encode()` saved there atomically."""
    if path.is_file():
        try:
            with np.load(path) as arrays:
                dataset = TokenizedDataset(arrays["flat_ids"], arrays["offsets"], arrays["labels"])
            log.info("Token cache hit: %s", path)
            return dataset
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            log.warning("Token cache %s unreadable (%s); tokenizing again", path, err)
    dataset = encode()
    save(path, dataset)
    return dataset


def save(path: Path, dataset: TokenizedDataset) -> None:
    """Write atomically: readers, and other jobs building the same entry, never see half a file."""
    with open_atomic(path, "wb") as handle:
        np.savez(handle, flat_ids=dataset.flat_ids, offsets=dataset.offsets, labels=dataset.labels)
