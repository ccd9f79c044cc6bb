"""What `run.py` does once Hydra has composed the config: pick the mode, report user errors."""

from __future__ import annotations

import logging
import sys

from omegaconf import DictConfig

from textlab.errors import UserError

log = logging.getLogger("textlab")

MODES = ("train",)


def main(cfg: DictConfig) -> float | None:
    """Run `cfg.mode`; returns `val/acc_best` for sweepers to optimise."""
    try:
        if cfg.mode not in MODES:
            raise UserError(f"mode={cfg.mode!r}: expected one of {', '.join(MODES)}")
        from textlab.train import train

        # `import lightning` gives its logger a console handler of its own; Hydra's root
        # handlers already print and write run.log, so each line would show twice.
        logging.getLogger("lightning").handlers.clear()
        metrics = train(cfg)
    except UserError as err:
        # One line for the user, no traceback: the message already names the key or file.
        log.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    return metrics.get("val/acc_best")
