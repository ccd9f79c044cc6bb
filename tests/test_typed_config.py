"""Every config value is checked against the type hint of the constructor it is for, before
any work: one line naming the full key, the value and what was expected."""

from __future__ import annotations

import pathlib
from typing import Literal

import hydra
import pytest
from config_compose import CONF, compose_config
from in_process import main_error_line
from omegaconf import DictConfig, OmegaConf

from textlab.base.errors import ConfigValueError
from textlab.base.instantiate import build
from textlab.base.typecheck import _hints, check_values, describe
from textlab.models.factory import build_net


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data.val_fraction=abc"], "data.val_fraction='abc': expected a number"),
        (["data.batch_size=true"], "data.batch_size=True: expected an integer"),
        (["data=imdb", "data.download=maybe"], "data.download='maybe': expected true or false"),
        (["data=imdb", "data.carve=film"], "data.carve='film': expected one of 'random', 'movie'"),
        (["data.corpus_seed=1.5"], "data.corpus_seed=1.5: expected an integer"),
        (["tokenizer.vocab_size=x"], "tokenizer.vocab_size='x': expected an integer"),
        (["tokenizer.vocab_size=1000000000"], "tokenizer.vocab_size=1000000000: expected at most"),
        (["module.optimizer.lr=abc"], "module.optimizer.lr='abc': expected a number"),
        (["module.label_smoothing=[1]"], "module.label_smoothing=[1]: expected a number"),
        (["trainer.log_every_n_steps=often"], "trainer.log_every_n_steps='often': expected"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_full_key(tmp_path, overrides, expected):
    cfg = compose_config(tmp_path, *overrides)
    group = next(key for key in ("data", "tokenizer", "module", "trainer") if key in expected)
    kwargs = {"net": build_net(cfg.model, 50, 2, 0), "num_classes": 2} if group == "module" else {}
    with pytest.raises(ConfigValueError) as err:
        build(cfg[group], group, **kwargs)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["model=transformer", "model.num_layers=1.5"],
            "model.num_layers=1.5: expected an integer",
        ),
        (["model.cell=5"], "model.cell=5: expected a string"),
        (
            ["model=ensemble", "model.members.lstm.max_length=abc"],
            "model.members.lstm.max_length='abc': expected an integer or null",
        ),
        (
            ["model=ensemble", "model.members.lstm.net.hidden_size=x"],
            "model.members.lstm.net.hidden_size='x': expected an integer",
        ),
        (
            ["model=ensemble", "+model.members.lstm.weigth=1"],
            "model.members.lstm.weigth=1: expected a member key: net, max_length",
        ),
    ],
)
def test_model_values_of_the_wrong_type_name_the_full_key(tmp_path, overrides, expected):
    cfg = compose_config(tmp_path, *overrides)
    with pytest.raises(ConfigValueError) as err:
        build_net(cfg.model, vocab_size=50, num_classes=2, pad_id=0)
    assert str(err.value).startswith(expected), str(err.value)


@pytest.mark.parametrize(
    ("override", "expected"),
    [("seed=abc", "seed='abc': expected an integer"), ("mode=3", "mode=3: expected a string")],
)
def test_top_level_values_of_the_wrong_type_are_one_line_errors(
    tmp_path, capsys, override, expected
):
    assert expected in main_error_line(tmp_path, capsys, "debug=fast", override)


def test_a_required_value_left_unset_is_a_one_line_error_naming_it(tmp_path, capsys):
    # data=text_files leaves data.train as `???`: OmegaConf's own report is a traceback
    line = main_error_line(tmp_path, capsys, "debug=fast", "data=text_files")
    assert line == "error: data.train is required: pass data.train=VALUE", line


def test_every_target_in_conf_has_hints_the_checker_can_read(tmp_path):
    # a target whose hints cannot be resolved would go unchecked without a word
    options = {
        group: [p.stem for p in (CONF / group).glob("*.yaml")]
        for group in ("model", "data", "tokenizer", "trainer")
    }
    targets = set()
    for group, names in options.items():
        for name in names:
            cfg = compose_config(tmp_path, f"{group}={name}")
            targets |= _targets(cfg)
    for target in sorted(targets):
        hints = _hints(hydra.utils.get_object(target))
        assert hints is not None, f"{target}: its type hints cannot be resolved"


def _targets(node) -> set[str]:
    found = set()
    if isinstance(node, DictConfig):
        if "_target_" in node:
            found.add(node._target_)
        for key in node:
            found |= _targets(node._get_node(key))
    return found


def test_the_checker_reads_unions_literals_sequences_and_paths():
    def target(
        a: int | None,
        b: Literal["pre", "post"],
        c: list[int],
        d: tuple[float, float],
        e: pathlib.Path,
        f: float | str,
    ) -> None: ...

    good = {"a": None, "b": "pre", "c": [1, 2], "d": [0.9, 0.99], "e": "x/y", "f": 2}
    check_values(target, OmegaConf.create(good), "k")
    for key, bad in [("a", 1.5), ("b", "mid"), ("c", [1, "x"]), ("d", [1.0]), ("e", 3)]:
        with pytest.raises(ConfigValueError, match=rf"^k\.{key}="):
            check_values(target, {**good, key: bad}, "k")
    assert describe(int | None) == "an integer or null"
    assert describe(Literal["pre", "post"]) == "one of 'pre', 'post'"
