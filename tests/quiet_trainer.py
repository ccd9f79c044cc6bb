"""A CPU Trainer that writes nothing: no logger, checkpoints, progress bar or summary."""

from __future__ import annotations

from typing import Any

import lightning as L


def quiet_trainer(**overrides: Any) -> L.Trainer:
    """`L.Trainer` for in-process tests; `overrides` win over the quiet defaults."""
    quiet = {
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    return L.Trainer(**{**quiet, **overrides})
