"""With ckpt_path, the checkpoint's config holds unless the command line changes a setting."""

from pathlib import Path

import pytest
from config_compose import CONF, compose_config
from omegaconf import DictConfig, OmegaConf

from textlab.base.errors import UserError
from textlab.checkpoint.config_merge import changed_keys, merge
from textlab.checkpoint.format import SavedRun

GROUPS = [path.name for path in CONF.iterdir() if path.is_dir()]


def composed(root: Path, *overrides: str) -> DictConfig:
    return compose_config(root, *overrides)


@pytest.fixture
def saved(tmp_path, bpe_tokenizer) -> SavedRun:
    """A checkpoint of a `debug=fast` run with a smaller LSTM, written in another run dir."""
    config = composed(
        tmp_path / "old", "debug=fast", "model.hidden_size=32", "seed=3", "data.max_length=128"
    )
    return SavedRun(
        path=tmp_path / "old/run/checkpoints/best.ckpt",
        config=OmegaConf.to_container(config, resolve=True),
        tokenizer=bpe_tokenizer,
        label_names=("negative", "positive"),
        state_dict={},
    )


def merged(tmp_path: Path, saved: SavedRun, *overrides: str) -> DictConfig:
    cfg = composed(tmp_path / "new", *overrides)
    baseline = composed(tmp_path / "new")
    return merge(cfg, baseline, list(overrides), GROUPS, saved)


def test_without_overrides_everything_but_run_locations_comes_from_the_checkpoint(tmp_path, saved):
    cfg = merged(tmp_path, saved, "mode=eval")
    assert cfg.mode == "eval"
    assert cfg.seed == 3 and cfg.data.seed == 3
    assert cfg.data.train_size == 400 and cfg.data.batch_size == 32
    assert cfg.trainer.limit_train_batches == 5 and cfg.model.hidden_size == 32
    # locations follow this run, not the one that wrote the checkpoint
    new_run = f"{tmp_path}/new/run"
    assert cfg.paths.output_dir == new_run
    assert cfg.callbacks.model_checkpoint.dirpath == f"{new_run}/checkpoints"
    assert cfg.logger.tensorboard.save_dir == new_run


def test_a_changed_data_key_applies_on_top_of_the_checkpoint_data(tmp_path, saved):
    cfg = merged(tmp_path, saved, "data.test_size=30")
    assert cfg.data.test_size == 30
    assert cfg.data.max_words == 60 and cfg.data.train_size == 400


def test_an_override_counts_even_when_it_repeats_the_default(tmp_path, saved):
    assert merged(tmp_path, saved, "data.batch_size=64").data.batch_size == 64


def test_a_group_override_changes_what_the_group_sets(tmp_path, saved):
    cfg = merged(tmp_path, saved, "trainer=cpu")
    assert cfg.trainer.accelerator == "cpu"


def test_interpolated_keys_are_derived_again_from_merged_values(tmp_path, saved):
    cfg = merged(tmp_path, saved, "seed=11")
    assert cfg.seed == 11 and cfg.data.seed == 11
    assert cfg.module.scheduler.max_lr == cfg.module.optimizer.lr


def test_model_tokenizer_and_max_length_stay_the_checkpoints(tmp_path, saved, caplog):
    cfg = merged(
        tmp_path, saved, "model.hidden_size=8", "tokenizer.vocab_size=99", "data.max_length=16"
    )
    assert cfg.model.hidden_size == 32
    assert cfg.tokenizer.vocab_size == 500
    assert cfg.data.max_length == 128
    assert "data.max_length from the command line is ignored" in caplog.text


def test_max_length_stays_the_checkpoints_when_the_data_group_changes(tmp_path, saved):
    cfg = merged(tmp_path, saved, "data=synthetic")
    assert cfg.data.max_length == 128
    default = composed(tmp_path).data.train_size
    assert cfg.data.train_size == default  # the rest of the group: the command line's


def test_asking_for_another_model_type_is_an_error_naming_the_file(tmp_path, saved):
    with pytest.raises(UserError, match=r"best.ckpt holds a RNNClassifier .* Transformer"):
        merged(tmp_path, saved, "model=transformer")


def test_changed_keys_lists_what_the_command_line_touched(tmp_path):
    baseline = composed(tmp_path)
    cfg = composed(tmp_path, "debug=fast", "data=synthetic")
    keys = changed_keys(cfg, baseline, ["debug=fast", "data=synthetic"], GROUPS)
    assert "data" in keys and "trainer.limit_train_batches" in keys
    assert "debug" not in keys  # a global group: its effects are listed instead


def test_eval_max_length_is_the_checkpoints_unless_the_command_line_sets_it(tmp_path, saved):
    saved.config["data"]["eval_max_length"] = 1024
    assert merged(tmp_path, saved, "mode=eval").data.eval_max_length == 1024
    # another data group does not change how the model reads
    assert merged(tmp_path, saved, "data=synthetic").data.eval_max_length == 1024
    assert merged(tmp_path, saved, "data.eval_max_length=300").data.eval_max_length == 300
