"""Every private or undocumented Lightning and Hydra API textlab relies on, in one place.

Checked against lightning 2.6 and hydra-core 1.3.2. After upgrading either, read this file and
run the fast and slow suites: each function says what it depends on. Imports stay inside the
functions so that importing the base layer stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any


def subprocess_launcher(trainer: Any) -> Any | None:
    """The trainer's launcher if it is Lightning's `_SubprocessScriptLauncher` (it re-runs the
    command line for each extra DDP rank), else None."""
    from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

    launcher = trainer.strategy.launcher
    return launcher if isinstance(launcher, _SubprocessScriptLauncher) else None


def job_return_value(job_return: Any) -> Any:
    """What a Hydra job returned, or the exception it raised: `JobReturn.return_value` would
    re-raise a failed job's exception, `_return_value` holds it quietly."""
    return job_return._return_value


def override_keys(overrides: Sequence[str]) -> list[str]:
    """The key or group each command-line override names (`data=imdb` → `data`), parsed by
    Hydra's own override grammar (`OverridesParser`, internal to Hydra)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return [o.key_or_group for o in OverridesParser.create().parse_overrides(list(overrides))]


def saved_train_loader_states(checkpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The training loaders' `state_dict()`s inside a Lightning checkpoint (the fit loop's
    `combined_loader` entry; the layout of `checkpoint["loops"]` is not a public API)."""
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    return fit_loop.get("state_dict", {}).get("combined_loader", [])


def saved_callback_state(checkpoint: dict[str, Any], callback: Any) -> dict[str, Any] | None:
    """A callback's saved state in a Lightning checkpoint, keyed by its `state_key`."""
    return (checkpoint.get("callbacks") or {}).get(callback.state_key)


def set_best_checkpoint(keeper: Any, path: str, score: Any) -> None:
    """Make a `ModelCheckpoint` rank `path` (with `score`) as its best and only kept file.

    Writes the attributes `ModelCheckpoint` keeps its ranking in (`best_k_models`, `kth_value`,
    ...), which it only fills itself from its own `state_dict` when the folder is unchanged.
    """
    keeper.best_model_path = path
    if score is not None:
        keeper.best_model_score = keeper.kth_value = score
        keeper.kth_best_model_path = path
        keeper.best_k_models = {path: score}


def forget_best_checkpoint(keeper: Any) -> None:
    """Let a `ModelCheckpoint` start its ranking over (its restored best file is gone)."""
    keeper.best_model_path = ""


def evaluation_precision(trainer: Any) -> AbstractContextManager[Any]:
    """The autocast context the trainer's test stage runs in (its precision plugin's)."""
    return trainer.precision_plugin.test_step_context()


def training_batch_index(trainer: Any) -> int:
    """Index of the training batch in progress within its epoch."""
    return int(trainer.fit_loop.epoch_loop.batch_idx)
