"""Pretraining checkpoints meet classifiers here: `pretrained=` copies the encoder's tensors into
a fresh classifier, and a checkpoint of one kind is refused where the other is expected."""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf
from torch import nn

from textlab.base.errors import UserError
from textlab.checkpoint.format import SavedRun
from textlab.module import is_head
from textlab.pretraining_module import ENCODER_PREFIX, OUTPUT_PREFIX

log = logging.getLogger(__name__)

PRETRAIN_MODE = "pretrain"
# What decides the validation carve: pretraining leaves its own carve out of what it reads, so
# a classifier carved differently validates partly on reviews its encoder has already read.
CARVE_KEYS = ("data.seed", "data.val_fraction", "data.carve")


def is_pretraining(saved: SavedRun) -> bool:
    return saved.config.get("mode") == PRETRAIN_MODE


def check_checkpoint_kind(saved: SavedRun, mode: str) -> None:
    """ckpt_path of a pretraining run resumes pretraining only; a classifier's, the rest."""
    if is_pretraining(saved) and mode != PRETRAIN_MODE:
        raise UserError(
            f"ckpt_path={saved.path} is a mode=pretrain checkpoint (a language model); "
            f"expected a classifier's for mode={mode}; fine-tune it with pretrained={saved.path}"
        )
    if mode == PRETRAIN_MODE and not is_pretraining(saved):
        raise UserError(
            f"ckpt_path={saved.path} is a classifier's checkpoint; mode=pretrain resumes only "
            "a mode=pretrain checkpoint"
        )


def load_pretrained_encoder(net: nn.Module, saved: SavedRun) -> list[str]:
    """Copy every encoder tensor of `saved` into `net`, which must have exactly those outside
    its class head; returns the names of the head's tensors, left fresh."""
    if not is_pretraining(saved):
        raise UserError(
            f"pretrained={saved.path} is not a mode=pretrain checkpoint; expected "
            "<pretraining run>/checkpoints/last.ckpt (to resume a classifier, use ckpt_path=)"
        )
    weights = {
        key.removeprefix(ENCODER_PREFIX): value
        for key, value in saved.state_dict.items()
        if key.startswith(ENCODER_PREFIX)
    }
    own = net.state_dict()
    pretrained_model = saved.config["model"]["_target_"]
    for key, value in weights.items():
        if key not in own:
            raise UserError(
                f"pretrained={saved.path}: its encoder has {key}, which this model lacks; "
                f"expected the model it was pretrained with ({pretrained_model})"
            )
        if own[key].shape != value.shape:
            raise UserError(
                f"pretrained={saved.path}: {key} has shape {tuple(value.shape)} there and "
                f"{tuple(own[key].shape)} here; expected the model settings it was pretrained "
                "with (e.g. model.embedding_dim, model.d_model, model.max_length)"
            )
    lacking = [key for key in own if key not in weights and not is_head(key)]
    if lacking:
        raise UserError(
            f"pretrained={saved.path}: this model's {lacking[0]} is not in the pretrained "
            f"encoder; expected the model it was pretrained with ({pretrained_model})"
        )
    net.load_state_dict(weights, strict=False)
    return [key for key in own if is_head(key)]


def load_pretrained_head(output: nn.Module, saved: SavedRun) -> None:
    """Copy a masked-LM checkpoint's prediction head (module.mlm_weight's) into `output`, all
    but its token table: that is the classifier's own, loaded with the encoder."""
    # A causal checkpoint's head has the same tensors but predicts the next token from a
    # left-to-right context: as a masked-token head it would hold the encoder to the wrong task
    objective = saved.config.get("pretrain", {}).get("objective", "auto")
    if objective not in ("auto", "mlm"):
        raise UserError(
            f"pretrained={saved.path} was pretrained with pretrain.objective={objective}; "
            "module.mlm_weight expected a masked-LM checkpoint (pretrain.objective=mlm or auto)"
        )
    table = "embedding.weight"
    head = {
        key.removeprefix(OUTPUT_PREFIX): value
        for key, value in saved.state_dict.items()
        if key.startswith(OUTPUT_PREFIX) and key != OUTPUT_PREFIX + table
    }
    missing = [key for key in output.state_dict() if key not in head and key != table]
    if missing:
        raise UserError(
            f"pretrained={saved.path} has no {OUTPUT_PREFIX}{missing[0]}; module.mlm_weight "
            "expected a transformer's mode=pretrain checkpoint"
        )
    output.load_state_dict(head, strict=False)


def warn_if_carved_differently(saved: SavedRun, cfg: DictConfig) -> None:
    """A warning naming each carve key the pretraining run and this one both set, differently
    (a text_files pretraining has no data.carve, and then nothing to compare)."""
    theirs = OmegaConf.create(saved.config)
    differences = []
    for key in CARVE_KEYS:
        there, here = OmegaConf.select(theirs, key), OmegaConf.select(cfg, key)
        if there is not None and here is not None and there != here:
            differences.append(f"{key}={there!r} there, {here!r} here")
    if differences:
        log.warning(
            "pretrained=%s was carved differently (%s): its pretraining read some of this run's "
            "validation reviews, so val/* reads high; fine-tune with its carve",
            saved.path,
            "; ".join(differences),
        )
