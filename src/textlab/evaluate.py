"""`mode=eval`: test a checkpoint on its data (or the command line's) and report like training."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from omegaconf import DictConfig, OmegaConf

from textlab import provenance, reports, run_files
from textlab.atomic import write_json_atomic
from textlab.builders import build
from textlab.checkpoint import SavedRun, file_sha256
from textlab.errors import UserError
from textlab.fingerprint import fingerprint_json
from textlab.train import build_trainer, print_metrics

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig, saved: SavedRun) -> dict[str, float]:
    """Test `saved` on `cfg.data`'s test split; writes metrics.json and the reports."""
    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)

    datamodule = build(cfg.data, "data")
    if tuple(datamodule.label_names) != saved.label_names:
        raise UserError(
            f"data has labels {list(datamodule.label_names)} but checkpoint {saved.path} "
            f"was trained on {list(saved.label_names)}"
        )
    if not datamodule.has_split("test"):
        raise UserError(f"data ({cfg.data._target_}) has no test split to evaluate on")
    datamodule.attach_tokenizer(saved.tokenizer)
    num_classes = len(saved.label_names)
    module = build(cfg.module, "module", net=saved.build_net(), num_classes=num_classes)
    trainer = build_trainer(cfg, [], checkpoints=False)
    (test_metrics,) = trainer.test(module, datamodule=datamodule, verbose=False)
    metrics = {name: float(value) for name, value in sorted(test_metrics.items())}

    if trainer.is_global_zero:
        write_json_atomic(run_files.metrics_path(run_dir), metrics)
        reports.report_test_split(trainer, module.net, datamodule, run_dir)
        fingerprints = {
            "test_split": datamodule.splits()["test"].fingerprint(),
            "tokenizer": fingerprint_json(saved.tokenizer.to_str()),
            "checkpoint": file_sha256(saved.path),
        }
        record = provenance.collect(OmegaConf.to_container(cfg, resolve=True), fingerprints)
        record.update(runtime_s=round(time.time() - started, 2), checkpoint=str(saved.path))
        write_json_atomic(run_dir / run_files.PROVENANCE, record)
        print_metrics(metrics)
    return metrics
