"""A checkpoint alone, its run dir deleted, evaluates to the training run's test metrics and
predicts; training and evaluation both report a confusion matrix and confident errors."""

import json
import shutil
from pathlib import Path

import pytest
from cli_runner import run_py
from config_compose import compose_overrides
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from textlab.checkpoint.format import load_checkpoint
from textlab.modes.predict import predict

REPORTS = ("confusion_matrix.json", "confusion_matrix.png", "errors.jsonl")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Train (debug=fast), keep a copy, move best.ckpt away, delete the run dir, then evaluate."""
    base = tmp_path_factory.mktemp("eval")
    cache = base / "cache"
    train_dir, kept = base / "train", base / "train-copy"
    run_py("debug=fast", "seed=3", f"hydra.run.dir={train_dir}", cache=cache, check=True)
    shutil.copytree(train_dir, kept)
    checkpoint = base / "elsewhere" / "model.ckpt"
    checkpoint.parent.mkdir()
    shutil.copy(train_dir / "checkpoints" / "best.ckpt", checkpoint)
    shutil.rmtree(train_dir)
    # a clean cache too: nothing may come from the training run but the checkpoint
    shutil.rmtree(cache)
    eval_dir = base / "eval"
    proc = run_py(
        "mode=eval", f"ckpt_path={checkpoint}", f"hydra.run.dir={eval_dir}", cache=cache, check=True
    )
    return {"train": kept, "eval": eval_dir, "eval_proc": proc, "ckpt": checkpoint, "base": base}


def read_json(path: Path):
    return json.loads(path.read_text())


def test_eval_reproduces_the_training_runs_test_metrics(runs):
    trained = read_json(runs["train"] / "metrics.json")
    evaluated = read_json(runs["eval"] / "metrics.json")
    assert set(evaluated) == {"test/acc", "test/f1", "test/loss"}
    for name, value in evaluated.items():
        assert isinstance(value, float)
        assert value == pytest.approx(trained[name], abs=1e-4), name
    assert "test/acc" in runs["eval_proc"].stdout


@pytest.mark.parametrize("stage", ["train", "eval"])
def test_reports_agree_with_the_metrics(runs, stage):
    run_dir = runs[stage]
    for name in REPORTS:
        assert (run_dir / name).is_file(), name
    confusion = read_json(run_dir / "confusion_matrix.json")
    matrix = confusion["matrix"]
    assert confusion["label_names"] == ["negative", "positive"]
    assert sum(map(sum, matrix)) == 100  # debug=fast: 100 test reviews
    accuracy = sum(matrix[i][i] for i in range(len(matrix))) / 100
    assert accuracy == pytest.approx(read_json(run_dir / "metrics.json")["test/acc"], abs=1e-6)

    errors = [json.loads(line) for line in (run_dir / "errors.jsonl").read_text().splitlines()]
    wrong = sum(matrix[i][j] for i in range(2) for j in range(2) if i != j)
    assert len(errors) == min(wrong, 25)
    assert all(e["label"] != e["predicted"] and e["text"] for e in errors)
    probabilities = [e["probability"] for e in errors]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.5 <= p <= 1.0 for p in probabilities)


@pytest.mark.parametrize("stage", ["train", "eval"])
def test_reports_are_logged_to_tensorboard(runs, stage):
    events = EventAccumulator(str(runs[stage] / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert "test/confusion_matrix" in events.Tags()["images"]
    assert any(tag.startswith("test/confident_errors") for tag in events.Tags()["tensors"])


def test_eval_on_command_line_data_keeps_the_rest_of_the_checkpoint_config(runs):
    eval_dir = runs["base"] / "eval-small"
    run_py(
        "mode=eval",
        f"ckpt_path={runs['ckpt']}",
        "data.test_size=30",
        f"hydra.run.dir={eval_dir}",
        cache=runs["base"] / "cache",
        check=True,
    )
    matrix = read_json(eval_dir / "confusion_matrix.json")["matrix"]
    assert sum(map(sum, matrix)) == 30
    config = read_json(eval_dir / "provenance.json")["config"]
    assert config["data"]["max_words"] == 60  # debug=fast's, from the checkpoint
    assert config["data"]["batch_size"] == 32


def test_predict_text_prints_the_label_and_its_probability(runs):
    run_dir = runs["base"] / "predict-text"
    proc = run_py(
        "mode=predict",
        f"ckpt_path={runs['ckpt']}",
        "predict.text='a sharp, witty film'",
        f"hydra.run.dir={run_dir}",
        cache=runs["base"] / "cache",
        check=True,
    )
    (record,) = [json.loads(line) for line in (run_dir / "predictions.jsonl").open()]
    assert record["text"] == "a sharp, witty film"
    assert record["label"] in ("negative", "positive")
    assert record["probability"] == max(record["probabilities"].values())
    assert f"{record['label']}  probability {record['probability']:.4f}" in proc.stdout


@pytest.fixture(scope="module")
def predict_config(runs):
    def configure(run_dir: Path, *overrides: str):
        return compose_overrides(
            "mode=predict",
            f"paths.root_dir={runs['base']}",
            f"paths.output_dir={run_dir}",
            *overrides,
        )

    return configure


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_predict_file_writes_one_record_per_review_in_batches(
    runs, predict_config, tmp_path, suffix
):
    reviews = ["great fun", "a dull , tedious mess", "", "not bad at all", "boring", "moving"]
    lines = [json.dumps({"review": r, "id": i}) if r else "" for i, r in enumerate(reviews)]
    source = tmp_path / f"reviews{suffix}"
    source.write_text("\n".join(lines if suffix == ".jsonl" else reviews) + "\n")
    cfg = predict_config(
        tmp_path / "run",
        f"predict.input={source}",
        "predict.batch_size=2",
        "predict.text_field=review",
    )
    saved = load_checkpoint(runs["ckpt"])
    predict(cfg, saved)
    records = [json.loads(line) for line in (tmp_path / "run/predictions.jsonl").open()]
    assert [r["text"] for r in records] == [r for r in reviews if r]
    assert [r["line"] for r in records] == [1, 2, 4, 5, 6]

    # the same reviews one at a time: batching and padding change nothing
    single = predict_config(tmp_path / "one", f"predict.text='{reviews[1]}'")
    (alone,) = predict(single, saved)
    assert alone["probability"] == pytest.approx(records[1]["probability"], abs=1e-5)
