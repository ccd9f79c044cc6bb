"""`mode=eval`: test a checkpoint on its data (or the command line's) and report like training."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import lightning as L
from omegaconf import DictConfig, OmegaConf, open_dict

from textlab.base.errors import UserError
from textlab.base.fingerprint import file_sha256
from textlab.base.instantiate import build
from textlab.checkpoint.format import SavedRun
from textlab.run import provenance
from textlab.run.outcome import finish_run, run_test_stage
from textlab.run.sweep_ranks import SweepJobRanks
from textlab.run.trainer import build_trainer


def evaluate(
    cfg: DictConfig, saved: SavedRun, sweep_ranks: SweepJobRanks | None = None
) -> dict[str, float]:
    """Test `saved` on `cfg.data`'s test split; writes metrics.json and the reports."""
    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)

    data = copy.deepcopy(cfg.data)
    with open_dict(data):
        data.extra_train = None  # training records: a checkpoint evaluates without them
        data.extra_train_targets = "label"
    datamodule = build(data, "data")
    if tuple(datamodule.label_names) != saved.label_names:
        raise UserError(
            f"data has labels {list(datamodule.label_names)} but checkpoint {saved.path} "
            f"was trained on {list(saved.label_names)}"
        )
    if not datamodule.has_split("test"):
        raise UserError(f"data ({cfg.data._target_}) has no test split to evaluate on")
    datamodule.attach_tokenizer(saved.tokenizer)
    num_classes = len(saved.label_names)
    # one test pass is not worth compiling for (module.compile)
    net = saved.build_net()
    module = build(cfg.module, "module", net=net, num_classes=num_classes, compile=False)
    trainer = build_trainer(cfg, [], checkpoints=False, sweep_ranks=sweep_ranks)
    metrics = dict(sorted(run_test_stage(trainer, module, datamodule, run_dir).items()))

    if trainer.is_global_zero:
        fingerprints = {
            "test_split": datamodule.splits()["test"].fingerprint(),
            "tokenizer": datamodule.tokenizer_fingerprint,
            "checkpoint": file_sha256(saved.path),
        }
        record = provenance.collect(OmegaConf.to_container(cfg, resolve=True), fingerprints)
        finish_run(trainer, run_dir, metrics, record, started, checkpoint=str(saved.path))
    return metrics
