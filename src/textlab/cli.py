"""What `run.py` does once Hydra has composed the config: pick the mode, report user errors."""

from __future__ import annotations

import logging
import sys

from omegaconf import DictConfig

from textlab.errors import UserError

log = logging.getLogger("textlab")

MODES = ("train", "eval", "predict", "export")


def main(cfg: DictConfig) -> float | None:
    """Run `cfg.mode`; returns `val/acc_best` (train) or `test/acc` (eval) for sweepers."""
    try:
        if cfg.mode not in MODES:
            raise UserError(f"mode={cfg.mode!r}: expected one of {', '.join(MODES)}")
        if cfg.mode != "train" and not cfg.get("ckpt_path"):
            raise UserError(f"mode={cfg.mode} needs ckpt_path=PATH (a .ckpt written by training)")
        # `import lightning` gives its logger a console handler of its own; Hydra's root
        # handlers already print and write run.log, so each line would show twice.
        import lightning  # noqa: F401

        logging.getLogger("lightning").handlers.clear()
        return run_mode(cfg)
    except UserError as err:
        # One line for the user, no traceback: the message already names the key or file.
        log.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def run_mode(cfg: DictConfig) -> float | None:
    saved = None
    if cfg.get("ckpt_path"):
        from textlab import checkpoint_config
        from textlab.checkpoint import load_checkpoint

        saved = load_checkpoint(cfg.ckpt_path)
        cfg = checkpoint_config.from_command_line(cfg, saved)
    if cfg.mode == "train":
        from textlab.train import train

        return train(cfg, saved).get("val/acc_best")
    assert saved is not None
    if cfg.mode == "eval":
        from textlab.evaluate import evaluate

        return evaluate(cfg, saved).get("test/acc")
    if cfg.mode == "predict":
        from textlab.predict import predict

        predict(cfg, saved)
    else:
        from textlab.export import export

        export(cfg, saved)
    return None
