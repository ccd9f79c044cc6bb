"""Property-based fuzzing (hypothesis) of command-line values: whatever a user types for the
keys people change, everything that runs before training (composition, typed checks, ranges,
the tokenizer spec, the datamodule, the network's size, the module, the Trainer) either
accepts it or stops with one line (a UserError). Hydra's own refusals (a key that does not
exist, an override it cannot parse) are Hydra's messages and pass.

The fast profile runs in CI (30 examples); `-m slow` runs the deep one (2000).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import torch
from config_compose import compose_config
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf.errors import OmegaConfBaseException

from textlab.app.main import run_keys
from textlab.base.errors import UserError
from textlab.base.instantiate import build
from textlab.base.typecheck import check_values
from textlab.models.factory import build_net
from textlab.modes.pretrain import check_pretrain_options
from textlab.run.resources import check_network_fits
from textlab.run.trainer import build_trainer, check_trains_and_validates

KEYS = (
    "seed", "data.batch_size", "data.max_length", "data.val_fraction", "data.num_workers",
    "data.train_size", "data.test_size", "data.min_words", "data.max_words", "data.bucket_pool",
    "data.pad_to_multiple_of",
    "tokenizer.vocab_size", "tokenizer.min_frequency", "tokenizer.kind", "model.hidden_size",
    "model.embedding_dim", "model.num_layers", "model.dropout", "model.weight_drop", "model.cell",
    "model.pooling",
    "module.optimizer.lr", "module.label_smoothing", "module.scheduler_interval",
    "trainer.max_epochs", "trainer.gradient_clip_val", "trainer.precision",
    "trainer.log_every_n_steps", "trainer.check_val_every_n_epoch", "pretrain.objective",
    "pretrain.mask_rate", "pretrain.block_size", "pretrain.val_fraction",
    "pretrain.sampled_softmax", "pretrain.generator_layers", "pretrain.detection_weight",
    "pretrain.unit", "module.encoder_lr_scale",
    "module.embedding_lr_scale", "module.freeze_encoder_epochs", "module.adversarial_eps",
    "module.token_mask_rate",
    "data.extra_train", "data.extra_train_targets",
)  # fmt: skip
SAFE = st.characters(codec="ascii", categories=["L", "N"], include_characters=" _-.,:/")


def hydra_value(value) -> str:
    """`value` as Hydra's override grammar writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "[" + ",".join(map(hydra_value, value)) + "]"
    return repr(value)


VALUES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-3, 3000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(SAFE, max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
)
OVERRIDES = st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=3)
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
ROOT = Path(tempfile.mkdtemp())


def check_overrides(pairs: list[tuple[str, object]]) -> None:
    overrides = [f"{key}={hydra_value(value)}" for key, value in dict(pairs).items()]
    try:
        cfg = compose_config(ROOT, "debug=fast", "logger=none", *overrides)
    except (HydraException, OmegaConfBaseException):
        return  # refused by Hydra itself, before textlab runs
    try:
        top = ("mode", "seed", "ckpt_path", "resume", "pretrained")
        check_values(run_keys, {key: cfg.get(key) for key in top}, "")
        check_pretrain_options(cfg.pretrain)
        check_trains_and_validates(cfg.trainer)
        spec = build(cfg.tokenizer, "tokenizer")
        build(cfg.data, "data")
        check_network_fits(cfg.model, spec.vocab_size, 2, 0)
        with torch.device("meta"):
            net = build_net(cfg.model, vocab_size=spec.vocab_size, num_classes=2, pad_id=0)
        build(cfg.module, "module", net=net, num_classes=2)
        build_trainer(cfg, [])
    except UserError as err:
        assert "\n" not in str(err), str(err)


@settings(max_examples=30, **SETTINGS)
@given(OVERRIDES)
def test_fuzzed_overrides_are_accepted_or_one_line_errors(pairs):
    check_overrides(pairs)


@pytest.mark.slow
@settings(max_examples=2000, **SETTINGS)
@given(OVERRIDES)
def test_deep_fuzzed_overrides_are_accepted_or_one_line_errors(pairs):
    check_overrides(pairs)
