"""How a run with `ckpt_path=` combines the checkpoint's config with the command line.

The rule (README "Checkpoints"): every setting comes from the checkpoint, except
- what the command line changes: a key it sets (`data.test_size=50`, even to the
  default value), every key a global group sets (`debug=fast`, `experiment=...`), and the
  whole node of a group it selects (`data=imdb`, `trainer=cpu`);
- where this run writes and what it does (`paths`, `mode`, `ckpt_path`, `predict`, `serve`),
  and keys defined as interpolations in conf/ (`${paths.output_dir}/checkpoints`,
  `${seed}`, `${data.max_length}`, ...), which are derived again from the merged values;
- `model`, `tokenizer` and `data.max_length` always come from the checkpoint: the weights
  fix them. Asking for another model type is an error; other changes are ignored with a
  warning;
- `data.eval_max_length` (how much of a text the model reads at inference) comes from the
  checkpoint unless the command line sets that key itself: choosing another data group
  (`data=text_files`) does not change how the model reads.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Collection, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from textlab.base import framework
from textlab.base.errors import UserError
from textlab.checkpoint.format import SavedRun

log = logging.getLogger(__name__)

RUN_LOCAL = ("paths", "mode", "ckpt_path", "predict", "serve", "resume")
FIXED = ("model", "tokenizer", "data.max_length")
KEPT_UNLESS_SET = ("data.eval_max_length",)


def from_command_line(cfg: DictConfig, saved: SavedRun) -> DictConfig:
    """Merge inside a Hydra app: the command line's overrides come from HydraConfig."""
    from hydra import compose
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    baseline = compose(config_name=hydra_cfg.job.config_name, overrides=[])
    return merge(cfg, baseline, list(hydra_cfg.overrides.task), hydra_cfg.runtime.choices, saved)


def merge(
    cfg: DictConfig,
    baseline: DictConfig,
    overrides: Sequence[str],
    groups: Collection[str],
    saved: SavedRun,
) -> DictConfig:
    """`cfg` (composed with `overrides`) on top of `saved.config`; `baseline` is composed
    without overrides and tells which settings the command line changed."""
    changed = changed_keys(cfg, baseline, overrides, groups)
    changed = [key for key in changed if not _fixed_by_checkpoint(key, cfg, saved)]
    merged = copy.deepcopy(cfg)
    stored = OmegaConf.create(saved.config)
    with open_dict(merged):
        _overlay(merged, saved.config, "", changed)
        # a group taken whole from the command line (`data=imdb`) must not bring its own
        named = set(framework.override_keys(overrides))
        for key in (*FIXED, *(k for k in KEPT_UNLESS_SET if k not in named)):
            if OmegaConf.select(stored, key) is not None:
                OmegaConf.update(merged, key, OmegaConf.select(stored, key), merge=False)
    return merged


def changed_keys(
    cfg: DictConfig, baseline: DictConfig, overrides: Sequence[str], groups: Collection[str]
) -> list[str]:
    """Dotted keys the command line changed: differences from `baseline`, plus every key or
    group named by an override (so `data.batch_size=64` counts even when 64 is the default)."""
    keys = set(_differences(_plain(cfg), _plain(baseline), ""))
    for name in framework.override_keys(overrides):
        # `data=imdb` selects the whole `data` node; `debug=fast` is global: its diff says it
        keys.add(name.replace("/", ".") if name in groups else name)
    absent = object()
    return sorted(key for key in keys if OmegaConf.select(cfg, key, default=absent) is not absent)


def _plain(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def _differences(new: Any, old: Any, prefix: str) -> list[str]:
    """Dotted keys where `new` and `old` differ; a node whose `_target_` differs counts whole."""
    both_nodes = isinstance(new, dict) and isinstance(old, dict)
    if not both_nodes or new.get("_target_") != old.get("_target_"):
        return [] if new == old else [prefix.rstrip(".")]
    return [
        diff
        for key in set(new) | set(old)
        for diff in _differences(new.get(key), old.get(key), f"{prefix}{key}.")
    ]


def _changed(key: str, changed: Sequence[str]) -> bool:
    """`key` or a node above it was changed on the command line."""
    return any(key == c or key.startswith(f"{c}.") for c in changed)


def _fixed_by_checkpoint(key: str, cfg: DictConfig, saved: SavedRun) -> bool:
    """True (after a warning) for a change the checkpoint overrules; an error for a model swap."""
    if not any(key == root or key.startswith(f"{root}.") for root in FIXED):
        return False
    wanted = OmegaConf.select(cfg, "model._target_")
    if key.split(".")[0] == "model" and wanted != saved.model_target:
        raise UserError(
            f"checkpoint {saved.path} holds a {saved.model_target.rsplit('.', 1)[-1]} but the "
            f"config asks for {str(wanted).rsplit('.', 1)[-1]}; drop the model override or "
            "pass a checkpoint of that model"
        )
    value = OmegaConf.select(cfg, key)
    if isinstance(value, DictConfig):
        value = OmegaConf.to_container(value, resolve=True)
    stored = OmegaConf.select(OmegaConf.create(saved.config), key)
    if isinstance(stored, DictConfig):
        stored = OmegaConf.to_container(stored)
    if value != stored:
        log.warning(
            "%s from the command line is ignored: the checkpoint fixes model, tokenizer and "
            "data.max_length (it has %s=%s)",
            key,
            key,
            stored,
        )
    return True


def _overlay(node: DictConfig, saved: dict[str, Any], prefix: str, changed: Sequence[str]) -> None:
    """Copy `saved` into `node`, except run-local, changed and interpolated keys."""
    for key, value in saved.items():
        path = f"{prefix}{key}"
        if (not prefix and key in RUN_LOCAL) or _changed(path, changed):
            continue
        if key in node and OmegaConf.is_interpolation(node, key):
            continue  # derived in conf/: recomputed from the merged values
        current = node.get(key)
        if (
            isinstance(value, dict)
            and isinstance(current, DictConfig)
            and current.get("_target_") == value.get("_target_")
        ):
            _overlay(current, value, f"{path}.", changed)
            continue
        lost = [c for c in changed if c.startswith(f"{path}.")]
        if lost:
            log.warning(
                "%s ignored: the checkpoint's %s is a different %s",
                ", ".join(lost),
                path,
                value.get("_target_") if isinstance(value, dict) else "value",
            )
        node[key] = value
