"""Configs stored by older textlab versions, upgraded to today's shape: the one place that knows
what moved. Checkpoints store resolved configs with `_target_` paths, so a module move or a key
rename would otherwise break every checkpoint written before it.

Upgrades are idempotent: a config already in today's shape passes through unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

# `_target_` paths before the package was split into layers (commit b88f472 and earlier)
MOVED_TARGETS = {
    "textlab.models.lstm.RNNClassifier": "textlab.models.rnn.RNNClassifier",
    "textlab.data.imdb.imdb_datamodule": "textlab.data.sources.imdb.imdb_datamodule",
    "textlab.data.text_files.text_files_datamodule": (
        "textlab.data.sources.text_files.text_files_datamodule"
    ),
}
# data=synthetic was a datamodule with a nested `source`; now one flat node like the others
OLD_DATAMODULE = "textlab.data.datamodule.TextDataModule"
OLD_SYNTHETIC = "textlab.data.synthetic.SyntheticReviews"
SYNTHETIC = "textlab.data.sources.synthetic.synthetic_datamodule"
SOURCE_KEYS = {"seed": "corpus_seed"}  # renamed when flattened: `data.seed` is the run's seed
# keys conf/ gained later, with the value runs had before (Lightning's default): without them,
# `resume=auto` of an older run would see a changed setting and refuse
ADDED_KEYS = {("trainer", "num_nodes"): 1}


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a checkpoint's stored config in today's shape."""
    config = _retarget(copy.deepcopy(config))
    data = config.get("data")
    if isinstance(data, dict) and data.get("_target_") == OLD_DATAMODULE:
        config["data"] = _flatten_source(data)
    model, module = config.get("model"), config.get("module")
    if isinstance(model, dict) and "compile" in model:
        # `model.compile` became `module.compile`: compiling is the LightningModule's business
        compiled = model.pop("compile")
        if isinstance(module, dict):
            module.setdefault("compile", compiled)
    for (group, key), value in ADDED_KEYS.items():
        if isinstance(config.get(group), dict):
            config[group].setdefault(key, value)
    return config


def _retarget(node: Any) -> Any:
    if isinstance(node, dict):
        target = node.get("_target_")
        if isinstance(target, str) and target in MOVED_TARGETS:
            node["_target_"] = MOVED_TARGETS[target]
        for value in node.values():
            _retarget(value)
    elif isinstance(node, list):
        for value in node:
            _retarget(value)
    return node


def _flatten_source(data: dict[str, Any]) -> dict[str, Any]:
    source = data.get("source") or {}
    if source.get("_target_") != OLD_SYNTHETIC:
        return data  # an unknown source: leave it for the load to report
    flat = {key: value for key, value in data.items() if key not in ("_target_", "source")}
    for key, value in source.items():
        if key != "_target_":
            flat[SOURCE_KEYS.get(key, key)] = value
    return {"_target_": SYNTHETIC, **flat}
