"""What `run.py` does once Hydra has composed the config: pick the mode, report user errors."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Literal, NoReturn

from omegaconf import DictConfig, open_dict

from textlab.app.sweep_summary import FailedJob, failed_job
from textlab.base.errors import UserError
from textlab.base.typecheck import check_values
from textlab.run import distributed
from textlab.run.sweep_ranks import SweepJobRanks, job_scope

log = logging.getLogger("textlab")

MODES = ("train", "pretrain", "eval", "predict", "export", "serve")
TRAINING_MODES = ("train", "pretrain")  # what ckpt_path resumes, and resume=auto applies to


def main(cfg: DictConfig) -> float | FailedJob | None:
    """Run `cfg.mode`; returns `val/acc_best` (train) or `test/acc` (eval) for sweepers.

    A failure is one line and exit code 2 for a single run; in a sweep (`-m`) the job is
    recorded as failed (see sweep_summary.py) and the sweep goes on with the next one.
    """
    in_sweep = _in_sweep()
    try:
        top = {key: cfg.get(key) for key in ("mode", "seed", "ckpt_path", "resume", "pretrained")}
        check_values(run_keys, top, "")
        if cfg.mode not in MODES:
            raise UserError(f"mode={cfg.mode!r}: expected one of {', '.join(MODES)}")
        if cfg.mode not in TRAINING_MODES and not cfg.get("ckpt_path"):
            raise UserError(f"mode={cfg.mode} needs ckpt_path=PATH (a .ckpt written by training)")
        # `import lightning` gives its logger a console handler of its own; Hydra's root
        # handlers already print and write run.log, so each line would show twice.
        import lightning  # noqa: F401

        logging.getLogger("lightning").handlers.clear()
        check_writable(Path(cfg.paths.output_dir))
        with job_scope(cfg.paths.output_dir, in_sweep) as sweep_ranks:
            return run_mode(cfg, sweep_ranks)
    except Exception as err:
        if in_sweep:
            return failed_job(err)
        if isinstance(err, UserError):
            exit_with_error(err)
        raise


def run_keys(
    mode: str,
    seed: int,
    ckpt_path: str | None,
    resume: Literal["never", "auto"],
    pretrained: str | None,
) -> None:
    """The top-level keys of conf/config.yaml; their values are checked against these hints."""


def check_writable(run_dir: Path) -> None:
    """Fail before any work if the run dir cannot take files (minutes of training would be lost)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except OSError as err:
        raise UserError(
            f"paths.output_dir={run_dir}: cannot write there ({err.strerror}); "
            "expected a writable folder"
        ) from None


def exit_with_error(err: UserError) -> NoReturn:
    # One line for the user, no traceback: the message already names the key or file.
    log.error("%s", err)
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)


def argv_for_this_rank(argv: list[str]) -> list[str]:
    """`run.py`'s command line as this DDP rank should run it (see run/distributed.py)."""
    try:
        return distributed.argv_for_this_rank(argv)
    except UserError as err:
        exit_with_error(err)


def _in_sweep() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_mode(cfg: DictConfig, sweep_ranks: SweepJobRanks | None) -> float | None:
    """Load `ckpt_path` (or, with `resume=auto`, the run dir's last.ckpt) merged with the
    command line, then run the mode's module.

    Each mode is imported only when chosen: `mode=predict` need not import the trainer's stack.
    """
    from textlab.checkpoint.format import load_checkpoint

    saved = None
    if cfg.get("ckpt_path"):
        saved = load_checkpoint(cfg.ckpt_path)
    elif cfg.mode in TRAINING_MODES and cfg.resume == "auto":
        from textlab.checkpoint.auto_resume import resumable_run

        saved = resumable_run(cfg)
        if saved is not None:
            with open_dict(cfg):
                cfg.ckpt_path = str(saved.path)
    if saved is not None:
        from textlab.checkpoint.config_merge import from_command_line
        from textlab.checkpoint.pretrained import check_checkpoint_kind

        check_checkpoint_kind(saved, cfg.mode)
        cfg = from_command_line(cfg, saved)
    if cfg.mode == "pretrain":
        from textlab.modes.pretrain import pretrain

        return pretrain(cfg, saved, sweep_ranks).get("val/acc")
    if cfg.mode == "train":
        from textlab.modes.train import train

        return train(cfg, saved, sweep_ranks).get("val/acc_best")
    assert saved is not None
    if cfg.mode == "eval":
        from textlab.modes.evaluate import evaluate

        return evaluate(cfg, saved, sweep_ranks).get("test/acc")
    if cfg.mode == "predict":
        from textlab.modes.predict import predict

        predict(cfg, saved)
    elif cfg.mode == "serve":
        from textlab.modes.serve import serve

        serve(cfg, saved)
    else:
        from textlab.modes.export import export

        export(cfg, saved)
    return None
