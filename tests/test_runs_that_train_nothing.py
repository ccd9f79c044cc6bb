"""A run that would never train or validate is refused before any work, one that stopped before
its first validation is an error, and a resumed finished run reports the checkpoint's scores."""

from __future__ import annotations

import json

import pytest
from cli_runner import assert_one_line_error, run_py
from in_process import main_error_line
from omegaconf import OmegaConf

from textlab.base.errors import ConfigValueError
from textlab.run.trainer import check_trains_and_validates

TINY = ("debug=fast", "data.train_size=120", "data.test_size=30", "model.hidden_size=8",
        "model.embedding_dim=8", "logger=none", "callbacks=none")  # fmt: skip


@pytest.mark.parametrize(
    ("trainer", "key"),
    [
        ({"max_epochs": 0}, "trainer.max_epochs=0"),
        ({"max_epochs": 3, "max_steps": 0}, "trainer.max_steps=0"),
        ({"max_epochs": 3, "limit_train_batches": 0.0}, "trainer.limit_train_batches=0.0"),
        ({"max_epochs": 3, "limit_val_batches": 0}, "trainer.limit_val_batches=0"),
        ({"max_epochs": 2, "check_val_every_n_epoch": 3}, "trainer.check_val_every_n_epoch=3"),
    ],
)
def test_limits_that_never_train_or_validate_are_refused_naming_the_key(trainer, key):
    with pytest.raises(ConfigValueError, match=f"^{key}: expected"):
        check_trains_and_validates(OmegaConf.create(trainer))


@pytest.mark.parametrize(
    "trainer",
    [
        {"max_epochs": 1},
        {"max_epochs": 3, "check_val_every_n_epoch": 3, "limit_val_batches": 0.5},
        # steps decide the end: validation every 3 epochs may still come
        {"max_epochs": -1, "max_steps": 500, "check_val_every_n_epoch": 3},
    ],
)
def test_limits_that_reach_a_validation_pass(trainer):
    check_trains_and_validates(OmegaConf.create(trainer))


def test_max_epochs_0_is_one_line_before_any_work(tmp_path, capsys):
    line = main_error_line(tmp_path, capsys, *TINY, "trainer.max_epochs=0")
    assert "trainer.max_epochs=0: expected more than 0" in line
    assert (tmp_path / "run").is_dir()  # the run dir main was given...
    assert not (tmp_path / "run" / "tokenizer.json").exists()  # ...refused before training one


def test_a_run_that_stops_before_its_first_validation_is_an_error_without_test_scores(tmp_path):
    # debug=fast epochs are 5 batches long: 3 steps end before the validation at the end
    proc = run_py(*TINY, "+trainer.max_steps=3", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(proc, "the run stopped at step 3, before its first validation")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_resuming_a_finished_run_reports_the_checkpoints_validation(tmp_path):
    first = tmp_path / "first"
    run_py(*TINY, "callbacks=default", f"hydra.run.dir={first}", cache=tmp_path, check=True)
    done = json.loads((first / "metrics.json").read_text())
    again = tmp_path / "again"
    proc = run_py(
        *TINY,
        "callbacks=default",
        f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}",
        f"hydra.run.dir={again}",
        cache=tmp_path,
        check=True,
    )
    resumed = json.loads((again / "metrics.json").read_text())
    assert "Nothing left to train" in proc.stderr + proc.stdout
    # one epoch: the last checkpoint is the best one, so every score is the finished run's
    assert resumed == done
