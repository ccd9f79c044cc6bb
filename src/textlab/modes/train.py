"""`mode=train`: fit, validating every epoch → test the best checkpoint → metrics.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from textlab.base import run_files
from textlab.base.atomic import write_json_atomic, write_text_atomic
from textlab.base.errors import UserError
from textlab.base.fingerprint import fingerprint_json
from textlab.base.instantiate import build
from textlab.checkpoint.format import SavedRun, checkpoint_extras, load_checkpoint
from textlab.checkpoint.pretrained import (
    load_pretrained_encoder,
    load_pretrained_head,
    warn_if_carved_differently,
)
from textlab.checkpoint.resume_checks import check_can_resume
from textlab.models.factory import build_net
from textlab.models.token_noise import NoiseIds
from textlab.run import provenance
from textlab.run.outcome import finish_run, run_test_stage
from textlab.run.resources import check_network_fits
from textlab.run.sweep_ranks import SweepJobRanks
from textlab.run.trainer import build_trainer, check_trains_and_validates, training_callbacks
from textlab.tokenization import pad_id

log = logging.getLogger(__name__)


def train(
    cfg: DictConfig, saved: SavedRun | None = None, sweep_ranks: SweepJobRanks | None = None
) -> dict[str, float]:
    """Run one training job as configured; returns the final metrics (also in metrics.json).

    With `saved` (the checkpoint at `cfg.ckpt_path`), training resumes from it, with its
    tokenizer; `cfg` is then already merged with its config (see checkpoint/config_merge.py).
    Otherwise, with `cfg.pretrained` (a mode=pretrain checkpoint), the network starts from its
    encoder and uses its tokenizer.
    """
    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    check_trains_and_validates(cfg.trainer)
    L.seed_everything(cfg.seed, workers=True)

    datamodule = build(cfg.data, "data")
    pretrained = load_checkpoint(cfg.pretrained) if cfg.get("pretrained") and not saved else None
    tokenizer = run_tokenizer(cfg, saved or pretrained, datamodule)
    datamodule.attach_tokenizer(tokenizer)

    check_network_fits(
        cfg.model, tokenizer.get_vocab_size(), datamodule.num_classes, pad_id(tokenizer)
    )
    net = build_net(
        cfg.model,
        vocab_size=tokenizer.get_vocab_size(),
        num_classes=datamodule.num_classes,
        pad_id=pad_id(tokenizer),
    )
    if pretrained is not None:
        fresh = load_pretrained_encoder(net, pretrained)
        log.info("Encoder from %s; fresh: %s", pretrained.path, ", ".join(fresh))
        warn_if_carved_differently(pretrained, cfg)
    module = build_module(cfg, net, datamodule.num_classes, tokenizer)
    if pretrained is not None and getattr(module, "mlm", None) is not None:
        load_pretrained_head(module.mlm.output, pretrained)
    if saved is not None:
        check_can_resume(saved, cfg, module)
    config = OmegaConf.to_container(cfg, resolve=True)
    extras = checkpoint_extras(config, tokenizer, datamodule.label_names)
    callbacks = training_callbacks(cfg.seed, extras, cfg.get("ckpt_path"))
    trainer = build_trainer(cfg, callbacks, sweep_ranks=sweep_ranks)

    record = provenance.collect(config, data_fingerprints(datamodule))
    if trainer.is_global_zero:
        write_text_atomic(run_dir / run_files.TOKENIZER, tokenizer.to_str())
        write_json_atomic(run_dir / run_files.PROVENANCE, record)

    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    metrics = validated_metrics(trainer, module, datamodule, resumed=saved is not None)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    # Without a test split (e.g. an aclImdb copy with train/ only) there is no test stage.
    if datamodule.has_split("test"):
        metrics.update(run_test_stage(trainer, module, datamodule, run_dir, ckpt_path=best or None))
    metrics = dict(sorted(metrics.items()))
    finish_run(trainer, run_dir, metrics, record, started, best_checkpoint=best or None)
    return metrics


def run_tokenizer(cfg: DictConfig, saved: SavedRun | None, datamodule: Any) -> Tokenizer:
    """The checkpoint's tokenizer (resuming, or fine-tuning a pretrained encoder: never
    retrained), else one trained on the training split (or cached from an identical run)."""
    if saved is not None:
        return saved.tokenizer
    spec = build(cfg.tokenizer, "tokenizer")
    train_split = datamodule.splits()["train"]
    return spec.load_or_train(train_split.texts, train_split.fingerprint(), cfg.paths.cache_dir)


def build_module(
    cfg: DictConfig, net: Any, num_classes: int, tokenizer: Tokenizer
) -> L.LightningModule:
    """The LightningModule around `net`, given the ids module.token_mask_rate masks with."""
    ids = NoiseIds.of(tokenizer)
    if cfg.module.get("token_mask_rate"):
        token = tokenizer.id_to_token(ids.noise)
        log.info("module.token_mask_rate: training tokens hidden behind %s", token)
    # the fine-tuning options shape how a pretrained encoder is trained; a random one is not
    # worth freezing, slowing or holding to a language model it never was, so the same
    # experiment serves both starts
    from_scratch = {
        "encoder_lr_scale": 1.0,
        "embedding_lr_scale": 1.0,
        "freeze_encoder_epochs": 0,
        "mlm_weight": 0.0,
    }
    fine_tuning = {} if cfg.get("pretrained") else from_scratch
    return build(
        cfg.module, "module", net=net, num_classes=num_classes, noise_ids=ids, **fine_tuning
    )


def data_fingerprints(datamodule: Any) -> dict[str, str]:
    """What provenance.json records of the data: every split, the training split, the tokenizer."""
    splits = datamodule.splits()
    return {
        "data": fingerprint_json(
            {name: split.fingerprint() for name, split in sorted(splits.items())}
        ),
        "train_split": splits["train"].fingerprint(),
        "tokenizer": datamodule.tokenizer_fingerprint,
    }


def validated_metrics(
    trainer: L.Trainer, module: L.LightningModule, datamodule: Any, resumed: bool
) -> dict[str, float]:
    """The val/* metrics of the run's last validation.

    A resumed run that had nothing left to train validates its restored weights once (its
    val/acc_best is the checkpoint's); a run that ended before its first validation is an
    error, since there is no val/acc to report and no validated checkpoint to test.
    """

    def val_metrics() -> dict[str, float]:
        items = trainer.callback_metrics.items()
        return {name: float(value) for name, value in items if name.startswith("val/")}

    if "val/acc" not in val_metrics() and resumed:
        log.info("Nothing left to train in the resumed run; validating its weights once")
        trainer.validate(module, datamodule=datamodule, verbose=False)
    if "val/acc" not in val_metrics():
        raise UserError(
            f"trainer: the run stopped at step {trainer.global_step}, before its first "
            "validation; expected limits that reach one (trainer.max_steps, "
            "trainer.limit_train_batches, trainer.val_check_interval)"
        )
    return val_metrics()
