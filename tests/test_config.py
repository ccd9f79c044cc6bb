"""Every config option composes and builds; wrong names get Hydra's list of valid options."""

from pathlib import Path

import pytest
from config_compose import CONF, compose_config

from textlab.base import run_files
from textlab.base.errors import ConfigValueError
from textlab.base.instantiate import build
from textlab.models.factory import build_net

GROUPS = (
    "tokenizer",
    "data",
    "model",
    "module",
    "trainer",
    "callbacks",
    "logger",
    "debug",
    "experiment",
)


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize(
    ("group", "option"), [(group, option) for group in GROUPS for option in options(group)]
)
def test_every_option_composes(tmp_path, group, option):
    cfg = compose_config(tmp_path, f"{group}={option}")
    # pretraining experiments choose their mode; every other option leaves the default
    assert cfg.mode == ("pretrain" if option.startswith("imdb_pretrain") else "train")
    for key in ("tokenizer", "data", "model", "module", "trainer"):
        assert "_target_" in cfg[key], key


def test_imdb_experiments_carve_by_movie_and_plain_imdb_data_does_not(tmp_path):
    experiments = [name for name in options("experiment") if name.startswith("imdb_")]
    assert len(experiments) >= 10
    # the teacher, the pretraining and the student must carve alike: none reads the others' val
    for name in experiments:
        assert compose_config(tmp_path, f"experiment={name}").data.carve == "movie", name
    # a folder of one's own reviews need not have aclImdb's <id>_<rating>.txt names
    assert compose_config(tmp_path, "data=imdb").data.carve == "random"


# the README's earlier distillation commands, which these experiments now stand for
DISTILLED = {
    "imdb_lstm_distilled": ["experiment=imdb_lstm", "trainer.max_epochs=2"],
    "imdb_transformer_distilled": [
        "experiment=imdb_transformer", "module.adversarial_eps=0", "model.pooling=max",
        "trainer.max_epochs=2", "module.scheduler.epochs=3",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DISTILLED))
def test_distilled_experiments_are_the_student_commands_they_replace(tmp_path, name):
    teacher = [
        "data.extra_train=teacher/predictions.jsonl",
        "data.extra_train_targets=probabilities",
    ]
    by_hand = compose_config(tmp_path, *DISTILLED[name], *teacher)
    assert compose_config(tmp_path, f"experiment={name}", teacher[0]) == by_hand
    # the plain experiment differs: a test of nothing would pass here too
    assert compose_config(tmp_path, DISTILLED[name][0], *teacher) != by_hand


@pytest.mark.parametrize("model", options("model"))
@pytest.mark.parametrize("tokenizer", options("tokenizer"))
def test_every_model_and_tokenizer_builds(tmp_path, model, tokenizer):
    cfg = compose_config(tmp_path, f"model={model}", f"tokenizer={tokenizer}")
    spec = build(cfg.tokenizer, "tokenizer")
    assert spec.kind == tokenizer
    net = build_net(cfg.model, vocab_size=100, num_classes=2, pad_id=0)
    module = build(cfg.module, "module", net=net, num_classes=2)
    assert module.net is net


def test_default_run_is_bpe_lstm_on_the_embedded_corpus(tmp_path):
    cfg = compose_config(tmp_path)
    assert cfg.tokenizer.kind == "bpe"
    assert cfg.model._target_.endswith("RNNClassifier") and cfg.model.bidirectional
    assert cfg.data._target_.endswith("synthetic_datamodule") and cfg.data.train_size > 0
    assert cfg.trainer.accelerator == "auto"


def test_checkpoint_and_logger_paths_follow_the_run_dir_contract(tmp_path):
    cfg = compose_config(tmp_path)
    checkpoint = cfg.callbacks.model_checkpoint
    assert Path(checkpoint.dirpath) == tmp_path / "run" / run_files.CHECKPOINTS
    assert checkpoint.filename == run_files.BEST_CHECKPOINT
    assert checkpoint.monitor == "val/acc" and checkpoint.mode == "max"
    last = cfg.callbacks.last_checkpoint
    assert Path(last.dirpath) == Path(checkpoint.dirpath)
    # Unmonitored, so it is rewritten every epoch, not only when val/acc improves.
    assert last.filename == run_files.LAST_CHECKPOINT and last.monitor is None
    assert cfg.logger.tensorboard.name == run_files.TENSORBOARD


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batch_size=0", "data.batch_size=0: expected a positive integer"),
        ("data.max_length=0", "data.max_length=0: expected an integer >= 2"),
        ("data.val_fraction=1.5", "data.val_fraction=1.5: expected a number in (0, 1)"),
        ("data.train_size=-1", "data.train_size=-1: expected"),
        ("data.pad_to_multiple_of=0", "data.pad_to_multiple_of=0: expected a positive integer"),
    ],
)
def test_bad_data_values_name_the_full_key(tmp_path, override, message):
    cfg = compose_config(tmp_path, override)
    with pytest.raises(ConfigValueError) as error:
        build(cfg.data, "data")
    assert str(error.value).startswith(message)


def test_bad_model_value_names_the_full_key(tmp_path):
    cfg = compose_config(tmp_path, "model.hidden_size=0")
    with pytest.raises(ConfigValueError, match=r"^model\.hidden_size=0: expected a positive"):
        build_net(cfg.model, vocab_size=10, num_classes=2, pad_id=0)


def test_logger_none_builds_a_trainer_without_the_lr_monitor(tmp_path):
    from lightning.pytorch.callbacks import LearningRateMonitor

    from textlab.modes.train import build_trainer

    cfg = compose_config(tmp_path, "logger=none", "trainer.accelerator=cpu")
    trainer = build_trainer(cfg, [])
    assert trainer.loggers == []
    # LearningRateMonitor raises at fit time without a logger, so it must be left out.
    assert not any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    assert trainer.checkpoint_callback is not None


def build_module(cfg):
    net = build_net(cfg.model, vocab_size=50, num_classes=2, pad_id=0)
    return build(cfg.module, "module", net=net, num_classes=2)


def test_module_compile_compiles_in_place_and_keeps_parameter_names(tmp_path):
    eager = build_module(compose_config(tmp_path, "model=transformer"))
    compiled = build_module(compose_config(tmp_path, "model=transformer", "module.compile=true"))
    assert compiled.net._compiled_call_impl is not None and eager.net._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints unchanged
