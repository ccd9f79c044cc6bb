"""`mode=pretrain`: train the model's encoder as a language model on text without labels, to be
fine-tuned by `mode=train pretrained=<this run>/checkpoints/last.ckpt`."""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
from pathlib import Path
from typing import Any, Literal

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from textlab.base import run_files
from textlab.base.atomic import write_json_atomic, write_text_atomic
from textlab.base.errors import UserError, require
from textlab.base.instantiate import build
from textlab.base.typecheck import check_values
from textlab.checkpoint.format import SavedRun, checkpoint_extras
from textlab.checkpoint.resume_checks import check_can_resume
from textlab.data.sources.unlabelled import PretrainingCorpus, UnlabelledFiles
from textlab.data.token_blocks import TokenBlockDataModule, token_stream
from textlab.models.factory import build_net
from textlab.models.language_model import objective_for
from textlab.pretraining_module import LanguageModelPretraining
from textlab.run import provenance
from textlab.run.outcome import finish_run
from textlab.run.resources import check_network_fits
from textlab.run.sweep_ranks import SweepJobRanks
from textlab.run.trainer import build_trainer, check_trains_and_validates, training_callbacks
from textlab.tokenization import (
    MASK_TOKEN,
    pad_id,
    special_ids,
    tokenizer_fingerprint,
)

log = logging.getLogger(__name__)


def pretrain(
    cfg: DictConfig, saved: SavedRun | None = None, sweep_ranks: SweepJobRanks | None = None
) -> dict[str, float]:
    """Pretrain as configured (`pretrain.*`); returns the final metrics (also in metrics.json).

    With `saved` (a pretraining checkpoint), the run resumes from it with its tokenizer.
    """
    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    options = cfg.pretrain
    check_pretrain_options(options)
    check_trains_and_validates(cfg.trainer)
    L.seed_everything(cfg.seed, workers=True)

    corpus, label_names = pretraining_corpus(cfg)
    spec = dataclasses.replace(build(cfg.tokenizer, "tokenizer"), mask_token=True)
    tokenizer = (
        saved.tokenizer
        if saved is not None
        else spec.load_or_train(
            corpus.documents("train"), corpus.fingerprint(), cfg.paths.cache_dir
        )
    )
    streams = token_streams(corpus, tokenizer, Path(cfg.paths.cache_dir))
    datamodule = TokenBlockDataModule(
        streams, options.block_size, cfg.data.batch_size, cfg.data.get("num_workers", 0)
    )

    module = pretraining_module(cfg, tokenizer, streams["train"])
    if saved is not None:
        check_can_resume(saved, cfg, module)
    config = OmegaConf.to_container(cfg, resolve=True)
    extras = checkpoint_extras(config, tokenizer, label_names)
    callbacks = training_callbacks(cfg.seed, extras, cfg.get("ckpt_path"))
    trainer = build_trainer(cfg, callbacks, sweep_ranks=sweep_ranks)

    fingerprints = {"pretraining_text": corpus.fingerprint()}
    record = provenance.collect(
        config, fingerprints | {"tokenizer": tokenizer_fingerprint(tokenizer)}
    )
    if trainer.is_global_zero:
        write_text_atomic(run_dir / run_files.TOKENIZER, tokenizer.to_str())
        write_json_atomic(run_dir / run_files.PROVENANCE, record)

    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    metrics = pretraining_metrics(trainer, module, streams)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    finish_run(trainer, run_dir, metrics, record, started, best_checkpoint=best or None)
    return metrics


def pretrain_keys(
    objective: Literal["auto", "mlm", "causal", "electra", "next_token"],
    mask_rate: float,
    generator_layers: int,
    detection_weight: float,
    block_size: int,
    val_fraction: float,
    sampled_softmax: int,
    unit: Literal["line", "file"],
    text_field: str,
) -> None:
    """The keys of conf/config.yaml's `pretrain:` node; values are checked against these hints."""


def check_pretrain_options(options: DictConfig) -> None:
    """Types and ranges of `pretrain.*`, before any text is read."""
    values = {key: options.get(key) for key in inspect.signature(pretrain_keys).parameters}
    check_values(pretrain_keys, values, "pretrain")
    require(
        0 < options.mask_rate < 1, "pretrain.mask_rate", options.mask_rate, "a number in (0, 1)"
    )
    require(
        options.generator_layers >= 1,
        "pretrain.generator_layers",
        options.generator_layers,
        "an integer >= 1",
    )
    require(
        options.detection_weight > 0,
        "pretrain.detection_weight",
        options.detection_weight,
        "a number > 0",
    )
    require(options.block_size >= 2, "pretrain.block_size", options.block_size, "an integer >= 2")
    require(
        0 < options.val_fraction < 1,
        "pretrain.val_fraction",
        options.val_fraction,
        "a number in (0, 1)",
    )
    require(
        options.sampled_softmax >= 0,
        "pretrain.sampled_softmax",
        options.sampled_softmax,
        "an integer >= 0 (0: the full softmax)",
    )


def pretraining_module(
    cfg: DictConfig, tokenizer: Tokenizer, train_stream: np.ndarray
) -> LanguageModelPretraining:
    """The model's network with the pretraining objective around it, and its optimisation."""
    options = cfg.pretrain
    vocab_size, pad = tokenizer.get_vocab_size(), pad_id(tokenizer)
    check_network_fits(cfg.model, vocab_size, 2, pad)
    encoder = build_net(cfg.model, vocab_size=vocab_size, num_classes=2, pad_id=pad)
    # how often each token occurs: what a sampled softmax draws its negatives from
    unigram = torch.from_numpy(np.bincount(train_stream, minlength=vocab_size))
    generator_lm = None
    if options.objective == "electra":  # ELECTRA's generator: the model, shallower
        model = OmegaConf.to_container(cfg.model, resolve=True)
        shallower = {**model, "num_layers": options.generator_layers}  # type: ignore[dict-item]
        generator_lm = build_net(shallower, vocab_size=vocab_size, num_classes=2, pad_id=pad)
    objective = objective_for(
        encoder,
        options.objective,
        tokenizer.token_to_id(MASK_TOKEN),
        special_ids(tokenizer),
        options.mask_rate,
        unigram,
        options.sampled_softmax,
        generator_lm,
        options.detection_weight,
    )
    return LanguageModelPretraining(
        objective,
        optimizer=hydra.utils.instantiate(cfg.module.optimizer),
        scheduler=hydra.utils.instantiate(cfg.module.scheduler) if cfg.module.scheduler else None,
        scheduler_interval=cfg.module.scheduler_interval,
        seed=cfg.seed,
    )


def pretraining_corpus(cfg: DictConfig) -> tuple[PretrainingCorpus, tuple[str, ...]]:
    """The labelled training texts, when the data has them, and `data.unlabelled`'s files."""
    data = cfg.data
    labelled, fingerprint, label_names = None, "", ()
    # data=text_files may name only unlabelled text; data.train is then left unset (???)
    if not OmegaConf.is_missing(data, "train"):
        datamodule = build(data, "data")
        train = datamodule.splits()["train"]  # the validation carve is left out
        labelled, fingerprint = train.texts, train.fingerprint()
        label_names = datamodule.label_names
    patterns = data.get("unlabelled")
    options = cfg.pretrain
    unlabelled = (
        UnlabelledFiles(_plain(patterns), options.text_field, options.unit) if patterns else None
    )
    corpus = PretrainingCorpus(labelled, fingerprint, unlabelled, options.val_fraction, cfg.seed)
    return corpus, tuple(label_names)


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def token_streams(
    corpus: PretrainingCorpus, tokenizer: Tokenizer, cache_dir: Path
) -> dict[str, np.ndarray]:
    """train and val id streams, cached per (corpus, tokenizer); no usable text is an error."""
    key = f"{corpus.fingerprint()[:12]}-{tokenizer_fingerprint(tokenizer)[:12]}"
    streams = {
        part: token_stream(
            tokenizer, corpus.documents(part), cache_dir / "lm" / f"{key}-{part}.bin"
        )
        for part in ("train", "val")
    }
    if len(streams["train"]) == 0:
        raise UserError(
            "pretraining: no usable text in the labelled training data or data.unlabelled "
            "(every record was skipped; see the warnings above)"
        )
    log.info(
        "Pretraining text: %d training tokens, %d validation tokens",
        len(streams["train"]),
        len(streams["val"]),
    )
    return streams


def pretraining_metrics(
    trainer: L.Trainer, module: LanguageModelPretraining, streams: dict[str, np.ndarray]
) -> dict[str, float]:
    """val/* of the last validation, and how many tokens training read (all ranks)."""
    metrics = {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith("val/")
    }
    if "val/loss" not in metrics:
        raise UserError(
            f"trainer: the run stopped at step {trainer.global_step}, before its first "
            "validation; expected limits that reach one (trainer.max_steps, "
            "trainer.limit_train_batches, trainer.val_check_interval)"
        )
    metrics["pretrain/tokens_seen"] = float(module.tokens_seen * trainer.world_size)
    metrics["pretrain/train_tokens"] = float(len(streams["train"]))
    return dict(sorted(metrics.items()))
