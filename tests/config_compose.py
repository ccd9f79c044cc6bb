"""Compose conf/ in-process, as `run.py` would, with the run and cache dirs under a tmp dir."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from textlab.base.run_files import register_resolver

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_overrides(*overrides: str) -> DictConfig:
    """The composed config for exactly `overrides` (give `paths.*` yourself)."""
    register_resolver()  # as run.py does before Hydra composes
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def compose_config(tmp_path: Path, *overrides: str) -> DictConfig:
    """The composed config for `overrides`, writing nothing outside `tmp_path`."""
    return compose_overrides(
        f"paths.root_dir={tmp_path}",
        f"paths.output_dir={tmp_path}/run",
        f"paths.cache_dir={tmp_path}/cache",
        *overrides,
    )
