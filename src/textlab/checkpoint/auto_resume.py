"""`resume=auto`: continue the run in this run dir from its last.ckpt, if it has one and was
started with the same settings; what a preempted cluster job needs to simply start again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from textlab.base import run_files
from textlab.base.errors import UserError
from textlab.checkpoint.config_merge import RUN_LOCAL
from textlab.checkpoint.format import SavedRun, load_checkpoint

log = logging.getLogger(__name__)


def resumable_run(cfg: DictConfig) -> SavedRun | None:
    """The run dir's last checkpoint when its config is this one (else a one-line error naming
    the first key that differs), or None when the run dir has none yet."""
    run_dir = Path(cfg.paths.output_dir)
    path = run_dir / run_files.CHECKPOINTS / f"{run_files.LAST_CHECKPOINT}.ckpt"
    if not path.is_file():
        log.info("resume=auto: no %s yet; starting a new run", path)
        return None
    saved = load_checkpoint(path)
    differences = differing_keys(saved.config, cfg)
    if differences:
        key, stored, now = differences[0]
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        raise UserError(
            f"resume=auto: {path} was written with {key}={stored!r} but this run has "
            f"{key}={now!r}{more}; expected the same settings, or a new hydra.run.dir"
        )
    log.info("resume=auto: resuming from %s", path)
    return saved


def differing_keys(saved: dict[str, Any], cfg: DictConfig) -> list[tuple[str, Any, Any]]:
    """(dotted key, checkpoint's value, this run's value) for every setting that differs;
    run-local keys and keys derived by interpolation (paths of this machine) do not count."""
    now = OmegaConf.to_container(cfg, resolve=True)
    found: list[tuple[str, Any, Any]] = []
    _compare(saved, now, cfg, "", found)
    return found


def _compare(old: Any, new: Any, node: Any, prefix: str, found: list) -> None:
    if isinstance(old, dict) and isinstance(new, dict) and isinstance(node, DictConfig):
        for key in sorted(set(old) | set(new), key=str):
            if not prefix and key in (*RUN_LOCAL, "resume"):
                continue
            if key in node and OmegaConf.is_interpolation(node, key):
                continue  # derived: `${paths.output_dir}/checkpoints`, `${seed}`, ...
            child = node._get_node(key) if key in node else None
            _compare(old.get(key), new.get(key), child, f"{prefix}{key}.", found)
    elif old != new:
        found.append((prefix.rstrip("."), old, new))
