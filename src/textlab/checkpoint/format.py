"""What a textlab checkpoint holds, defined once: written by `CheckpointExtras`, read by
`load_checkpoint` without unpickling code, and turned back into a network by `SavedRun`.

A checkpoint is self-contained: next to Lightning's entries (`state_dict` with the network under
`net.*`, optimiser and loop states) it holds `checkpoint["textlab"]` with the resolved run
`config`, the `tokenizer` (tokenizer.json text) and the `label_names`; see README "Checkpoint
contents". Configs written by older textlab versions are upgraded on load (legacy.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from tokenizers import Tokenizer
from torch import nn

from textlab.base.errors import UserError
from textlab.checkpoint.legacy import upgrade_config
from textlab.models.factory import build_net
from textlab.module import NET
from textlab.tokenization import pad_id

CHECKPOINT_KEY = "textlab"
EXTRAS = ("config", "tokenizer", "label_names")
NET_PREFIX = f"{NET}."


def checkpoint_extras(
    config: dict[str, Any], tokenizer: Tokenizer, label_names: tuple[str, ...] | list[str]
) -> dict[str, Any]:
    """The `textlab` entry: plain containers only, so `weights_only=True` loading can read it."""
    return {"config": config, "tokenizer": tokenizer.to_str(), "label_names": list(label_names)}


class CheckpointExtras(Callback):
    """Writes the `textlab` entry into every checkpoint the trainer saves."""

    def __init__(self, extras: dict[str, Any]) -> None:
        self.extras = extras

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CHECKPOINT_KEY] = self.extras


@dataclass(frozen=True)
class SavedRun:
    """What a checkpoint says about the run that wrote it, plus its weights."""

    path: Path
    config: dict[str, Any]
    tokenizer: Tokenizer
    label_names: tuple[str, ...]
    state_dict: dict[str, torch.Tensor]

    @property
    def model_target(self) -> str:
        return str(self.config["model"]["_target_"])

    @property
    def max_length(self) -> int:
        """Tokens the model reads at inference: `data.eval_max_length`, else `data.max_length`
        (checkpoints from before eval_max_length have only the latter)."""
        data = self.config["data"]
        return int(data.get("eval_max_length") or data["max_length"])

    def build_net(self) -> nn.Module:
        """The trained network, in eval mode, with the checkpoint's weights."""
        net = build_net(
            self.config["model"],
            vocab_size=self.tokenizer.get_vocab_size(),
            num_classes=len(self.label_names),
            pad_id=pad_id(self.tokenizer),
        )
        weights = {
            key.removeprefix(NET_PREFIX): value
            for key, value in self.state_dict.items()
            if key.startswith(NET_PREFIX)
        }
        try:
            net.load_state_dict(weights)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise UserError(
                f"{self.path}: its weights do not fit {self.model_target} ({first})"
            ) from None
        return net.eval()


def load_checkpoint(path: str | Path) -> SavedRun:
    """Read `path` with `weights_only=True`; a missing, broken or foreign file is a UserError."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise UserError(f"checkpoint {path} {what}; expected a .ckpt file written by run.py")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(f"checkpoint {path} is not a readable torch checkpoint ({first})") from None
    extras = raw.get(CHECKPOINT_KEY) if isinstance(raw, dict) else None
    if not isinstance(extras, dict) or not isinstance(raw.get("state_dict"), dict):
        raise UserError(
            f"checkpoint {path} is not a textlab checkpoint (no {CHECKPOINT_KEY!r} entry "
            "with config, tokenizer and label names); expected one written by run.py"
        )
    missing = [key for key in EXTRAS if key not in extras]
    config = extras.get("config")
    if missing or not isinstance(config, dict) or "_target_" not in config.get("model", {}):
        raise UserError(
            f"checkpoint {path} has an incomplete {CHECKPOINT_KEY!r} entry "
            f"(missing: {', '.join(missing) or 'config.model._target_'})"
        )
    try:
        tokenizer = Tokenizer.from_str(extras["tokenizer"])
    except Exception as err:
        raise UserError(f"checkpoint {path} holds an unreadable tokenizer ({err})") from None
    return SavedRun(
        path=path,
        config=upgrade_config(config),
        tokenizer=tokenizer,
        label_names=tuple(extras["label_names"]),
        state_dict=raw["state_dict"],
    )
