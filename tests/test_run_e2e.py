"""`python run.py` as a user runs it: a real process, a real run dir."""

import csv
import json
import math
import shutil

import pytest
import torch
from cli_runner import assert_one_line_error, run_py
from in_process import main_error_line

from textlab.checkpoint.format import CHECKPOINT_KEY

REQUIRED_METRICS = {"val/acc", "val/acc_best", "val/loss", "test/acc", "test/loss", "test/f1"}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same fast command twice with the same seed, in two run dirs, one shared cache."""
    base = tmp_path_factory.mktemp("e2e")
    results = []
    for name in ("first", "second"):
        proc = run_py("debug=fast", "seed=7", f"hydra.run.dir={base / name}", cache=base / "cache")
        assert proc.returncode == 0, proc.stderr[-3000:]
        results.append((base / name, proc))
    return results


def test_run_dir_holds_the_contract(two_runs):
    run_dir, _ = two_runs[0]
    for relative in (
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
        "run.log",
        "metrics.json",
        "provenance.json",
        "tokenizer.json",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
    ):
        assert (run_dir / relative).is_file(), relative
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= REQUIRED_METRICS
    assert all(isinstance(value, float) for value in metrics.values())
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert metrics["val/acc_best"] >= metrics["val/acc"] - 1e-9
    # one line per validated epoch, the last one with the final validation accuracy
    epochs = [
        line for line in (run_dir / "run.log").read_text().splitlines() if "epoch_log" in line
    ]
    assert epochs and "epoch 1/" in epochs[0]
    assert f"val/acc={metrics['val/acc']:.4f}" in epochs[-1]


def test_provenance_records_config_code_versions_and_fingerprints(two_runs):
    record = json.loads((two_runs[0][0] / "provenance.json").read_text())
    assert record["config"]["seed"] == 7
    assert set(record["git"]) == {"commit", "dirty"}
    for library in ("torch", "lightning", "hydra-core", "tokenizers"):
        assert record["versions"][library]
    assert len(record["fingerprints"]["data"]) == 64
    assert len(record["fingerprints"]["tokenizer"]) == 64
    assert record["runtime_s"] > 0


def test_checkpoint_carries_config_tokenizer_and_labels(two_runs):
    checkpoint = torch.load(two_runs[0][0] / "checkpoints/best.ckpt", weights_only=True)
    extras = checkpoint[CHECKPOINT_KEY]
    assert extras["label_names"] == ["negative", "positive"]
    assert extras["config"]["model"]["_target_"].endswith("RNNClassifier")
    saved = (two_runs[0][0] / "tokenizer.json").read_text()
    assert json.loads(extras["tokenizer"]) == json.loads(saved)
    # callbacks.ema is off by default: no weight average, the trained weights themselves
    assert "current_model_state" not in checkpoint and "averaging_state" not in checkpoint


def test_same_seed_gives_identical_metrics_and_reuses_the_tokenizer(two_runs):
    (first, _), (second, proc) = two_runs
    assert (first / "metrics.json").read_text() == (second / "metrics.json").read_text()
    assert "Tokenizer cache hit" in (second / "run.log").read_text()


def test_final_metrics_table_is_printed(two_runs):
    _, proc = two_runs[0]
    assert "Final metrics" in proc.stdout and "test/acc" in proc.stdout


def test_bad_value_is_one_line_error_without_traceback(tmp_path):
    proc = run_py("debug=fast", "data.batch_size=0", f"hydra.run.dir={tmp_path}", cache=tmp_path)
    assert_one_line_error(proc, "data.batch_size=0: expected a positive integer")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("tokenizer.vocab_size=2", "tokenizer.vocab_size=2: expected an integer > 3"),
        ("data.max_length=-5", "data.max_length=-5: expected an integer >= 2"),
        ("model.hidden_size=0", "model.hidden_size=0: expected a positive integer"),
    ],
)
def test_bad_values_of_each_group_are_one_line_errors(tmp_path, capsys, override, expected):
    assert expected in main_error_line(tmp_path, capsys, "debug=fast", override)


def test_wrong_option_name_lists_the_valid_options(tmp_path):
    proc = run_py("model=lstmm", f"hydra.run.dir={tmp_path}", cache=tmp_path / "cache")
    assert proc.returncode != 0
    assert "Could not find 'model/lstmm'" in proc.stderr
    assert "lstm" in proc.stderr and "bow" in proc.stderr


def test_rerun_into_the_same_run_dir_replaces_its_checkpoints(two_runs, tmp_path):
    """`hydra.run.dir` reused: still checkpoints/best.ckpt, not a stale one beside best-v1.ckpt."""
    first, _ = two_runs[0]
    reused = tmp_path / "reused"
    shutil.copytree(first, reused)
    run_py("debug=fast", "seed=8", f"hydra.run.dir={reused}", cache=tmp_path / "cache", check=True)
    assert sorted(p.name for p in (reused / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    best = torch.load(reused / "checkpoints/best.ckpt", weights_only=True)
    assert best[CHECKPOINT_KEY]["config"]["seed"] == 8


def test_several_loggers_at_once_csv_beside_tensorboard(tmp_path):
    run_dir = tmp_path / "run"
    run_py("debug=fast", "logger=[tensorboard,csv]", f"hydra.run.dir={run_dir}", check=True)
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    with open(run_dir / "csv" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    validated = [row for row in rows if row["val/acc"]]
    tested = [row for row in rows if row["test/acc"]]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # the CSV's last validation and its test row are what metrics.json reports
    assert float(validated[-1]["val/acc"]) == pytest.approx(metrics["val/acc"])
    assert float(tested[-1]["test/acc"]) == pytest.approx(metrics["test/acc"])
    assert any(row["train/loss"] for row in rows)
    # a curve per logging step, not one point per epoch: running means of the epoch so far
    running = [row for row in rows if row["train/loss_running"]]
    assert len(running) == 5  # debug=fast: 5 batches, log_every_n_steps=1
    assert all(0 <= float(row["train/acc_running"]) <= 1 for row in running)
    first_batch_loss = float(running[0]["train/loss_running"])
    assert first_batch_loss == pytest.approx(math.log(2), abs=0.1)  # untrained: chance
