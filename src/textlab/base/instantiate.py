"""Instantiate config nodes, turning constructor complaints into one-line errors naming the key."""

from __future__ import annotations

import re
from typing import Any

import hydra
from hydra.errors import InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf

from textlab.base.errors import ConfigValueError, UserError
from textlab.base.typecheck import check_values


def build(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate(node, **kwargs)`; bad values read `data.batch_size=0: ...`.

    `key` is where `node` sits in the config (`model`, `model.members.lstm.net`), used when
    Hydra's report names no nested node of its own.
    """
    check_node(node, key)
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ConfigValueError):
            # Hydra names a failing nested node ("full_key: data.source"); the cause the argument
            match = re.search(r"full_key: (\S+)", str(err))
            raise ConfigValueError(f"{match.group(1) if match else key}.{cause}") from None
        # Lightning rejects some Trainer arguments (precision, devices) with plain ValueErrors
        trainer_value = key == "trainer" and isinstance(cause, (TypeError, ValueError))
        if isinstance(cause, (UserError, MisconfigurationException)) or trainer_value:
            # a message that already names its key (`data.extra_train ...`) needs no `data: `
            named = str(cause).startswith(f"{key}.")
            raise UserError(str(cause) if named else f"{key}: {cause}") from None
        raise


def build_all(node: DictConfig | None, key: str) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, loggers), skipping nulls."""
    if not node:
        return []
    return [build(child, f"{key}.{name}") for name, child in node.items() if child is not None]


def check_node(node: DictConfig, key: str) -> None:
    """Check `node`'s values against its `_target_`'s type hints, and every nested node Hydra
    will build with it (not those a `_recursive_: false` target builds itself)."""
    target = node.get("_target_")
    if target is None:
        return
    try:
        function = hydra.utils.get_object(str(target))
    except Exception as err:  # Hydra's own message names the path; keep it one line
        raise UserError(f"{key}._target_={target}: cannot import it ({err})") from None
    # a `???` the user did not fill in would otherwise surface as OmegaConf's multi-line trace
    missing = [name for name in node if OmegaConf.is_missing(node, name)]
    if missing:
        raise UserError(f"{key}.{missing[0]} is required: pass {key}.{missing[0]}=VALUE")
    check_values(function, {name: node[name] for name in node}, key)
    if node.get("_recursive_", True):
        for name in node:
            child = node[name]
            if isinstance(child, DictConfig) and "_target_" in child:
                check_node(child, f"{key}.{name}")
