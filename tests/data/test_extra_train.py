"""`data.extra_train`: labelled files (a teacher's predictions) join the training split only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from cli_runner import run_py
from in_process import main_error_line
from jsonl_files import write_jsonl

from textlab.base.errors import UserError
from textlab.data.sources.text_files import text_files_datamodule

# mode=predict's own output (tests/test_legacy_checkpoint.py holds today's predict equal to it)
PREDICTIONS = Path(__file__).parents[1] / "fixtures" / "legacy" / "predictions.jsonl"
TRAIN = [{"text": f"train review {i}", "label": ["negative", "positive"][i % 2]} for i in range(8)]
VAL = [{"text": "held out one", "label": "negative"}, {"text": "held out two", "label": "positive"}]


def datamodule(tmp_path: Path, extra, **options):
    return text_files_datamodule(
        train=str(write_jsonl(tmp_path / "train.jsonl", TRAIN)),
        val=str(write_jsonl(tmp_path / "val.jsonl", VAL)),
        report_dir=str(tmp_path),
        extra_train=extra,
        **options,
    )


def test_predictions_join_training_only_with_labels_by_name_and_skips_reported(tmp_path):
    extra = write_jsonl(tmp_path / "extra.jsonl", [], raw_lines=("{broken",))
    data = datamodule(tmp_path, [str(PREDICTIONS), str(extra)])
    splits = data.splits()
    predicted = [json.loads(line) for line in PREDICTIONS.read_text().splitlines()]
    assert splits["train"].texts == [r["text"] for r in TRAIN] + [r["text"] for r in predicted]
    names = data.label_names
    assert splits["train"].labels[len(TRAIN) :] == [names.index(r["label"]) for r in predicted]
    assert splits["val"].texts == [r["text"] for r in VAL]
    report = json.loads((tmp_path / "skipped.json").read_text())
    assert report["extra_train"]["kept"] == len(predicted)
    assert report["extra_train"]["skipped"] == {"malformed": 1}
    assert report["train"]["kept"] == len(TRAIN)  # the source's own groups stay


def test_texts_also_in_validation_or_test_are_counted_skips_not_training_data(tmp_path):
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "a test review", "label": "positive"}])
    extra = write_jsonl(
        tmp_path / "extra.jsonl",
        [*TRAIN[:2], VAL[1], {"text": "a test review", "label": "negative"}],
    )
    splits = datamodule(tmp_path, str(extra), test=str(test)).splits()
    assert splits["train"].texts == [r["text"] for r in TRAIN + TRAIN[:2]]
    report = json.loads((tmp_path / "skipped.json").read_text())["extra_train"]
    assert report["kept"] == 2 and report["skipped"] == {"held_out": 2}
    assert report["first"]["held_out"] == [f"{extra}:3", f"{extra}:4"]
    only_held_out = write_jsonl(tmp_path / "only.jsonl", [VAL[0]])
    with pytest.raises(UserError, match=r"^data.extra_train: no usable records in .*only\.jsonl"):
        datamodule(tmp_path, str(only_held_out)).splits()


def test_unknown_labels_and_files_of_only_bad_records_are_one_line_errors(tmp_path):
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"text": "x", "label": "mixed"}])
    with pytest.raises(UserError, match=r"unknown\.jsonl:1: label 'mixed' is not among"):
        datamodule(tmp_path, str(unknown)).splits()
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "no label"}, {"label": "positive"}])
    with pytest.raises(UserError, match=r"^data.extra_train: no usable records in .*bad\.jsonl"):
        datamodule(tmp_path, str(bad)).splits()
    with pytest.raises(UserError, match=r"^data.extra_train=.*missing\.jsonl: no such file"):
        datamodule(tmp_path, str(tmp_path / "missing.jsonl")).splits()
    with pytest.raises(UserError, match=r"^data.extra_train=\[\]: no files; expected paths"):
        datamodule(tmp_path, []).splits()


def test_streaming_cannot_take_extra_training_files(tmp_path):
    with pytest.raises(UserError, match=r"^data.extra_train needs in-memory data"):
        datamodule(tmp_path, str(PREDICTIONS), streaming=True)


@pytest.mark.parametrize("targets", ["label", "probabilities"])
def test_a_run_trains_on_the_extra_records_and_its_checkpoint_evaluates_without_them(
    tmp_path, capsys, targets
):
    extra, run_dir = tmp_path / "teacher.jsonl", tmp_path / "run"
    extra.write_bytes(PREDICTIONS.read_bytes())
    run_py(
        "debug=fast", "logger=none", "data.train_size=200", "data.test_size=40",
        f"data.extra_train={extra}", f"data.extra_train_targets={targets}",
        f"hydra.run.dir={run_dir}",
        cache=tmp_path / "cache", check=True,
    )  # fmt: skip
    added = len(PREDICTIONS.read_text().splitlines())
    log = (run_dir / "run.log").read_text()
    assert f"data.extra_train: {added} texts added to the 180 training texts" in log
    extra.unlink()  # the teacher's file is gone: evaluating needs no training records
    eval_dir = tmp_path / "eval"
    run_py(
        "mode=eval", f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}",
        f"hydra.run.dir={eval_dir}", cache=tmp_path / "cache", check=True,
    )  # fmt: skip
    assert "test/acc" in json.loads((eval_dir / "metrics.json").read_text())
    line = main_error_line(tmp_path / "b", capsys, "debug=fast", f"data.extra_train={extra}")
    assert "data.extra_train=" in line and "no such file" in line, line
    line = main_error_line(
        tmp_path / "c", capsys, "debug=fast", "data.extra_train_targets=probabilities"
    )
    assert line.startswith("error: data.extra_train_targets=probabilities needs "), line


def test_teacher_probabilities_become_targets_and_reach_the_batches(tmp_path, bpe_tokenizer):
    predicted = [json.loads(line) for line in PREDICTIONS.read_text().splitlines()]
    # a held-out text between them: skipped with its distribution, the rest stay aligned
    leaked = {
        **predicted[0],
        "text": VAL[0]["text"],
        "probabilities": {"negative": 1, "positive": 0},
    }
    extra = write_jsonl(tmp_path / "extra.jsonl", [predicted[0], leaked, *predicted[1:]])
    data = datamodule(
        tmp_path, str(extra), extra_train_targets="probabilities", cache_dir=str(tmp_path)
    )
    train = data.splits()["train"]
    names = data.label_names
    taught = [[r["probabilities"][name] for name in names] for r in predicted]
    one_hot = [[float(i == names.index(r["label"])) for i in range(len(names))] for r in TRAIN]
    assert train.targets is not None and len(train.targets) == len(train.texts)
    assert train.targets[: len(TRAIN)] == one_hot  # the source's own labels, as distributions
    assert torch.allclose(
        torch.tensor(train.targets[len(TRAIN) :]), torch.tensor(taught), atol=1e-5
    )
    assert all(abs(sum(row) - 1) < 1e-9 for row in train.targets)
    assert data.splits()["val"].targets is None
    for _ in range(2):  # tokenized, then from the token cache, which holds no targets
        data.attach_tokenizer(bpe_tokenizer)
        batch = data.collator([data.dataset("train")[i] for i in range(len(train.texts))])
        assert torch.allclose(batch["targets"], torch.tensor(train.targets))
        assert "targets" not in data.collator([data.dataset("val")[0]])
    plain = datamodule(tmp_path, str(PREDICTIONS)).splits()["train"]
    assert plain.targets is None and plain.fingerprint() != train.fingerprint()


@pytest.mark.parametrize(
    ("probabilities", "why"),
    [
        (None, "missing"),
        ({"negative": 0.2, "positive": 0.2}, "not summing to 1"),
        ({"negative": 1.0}, "a label missing"),
        ({"negative": 0.5, "positive": 0.5, "mixed": 0.0}, "a label too many"),
        ({"negative": -0.5, "positive": 1.5}, "negative"),
        ({"negative": "0.5", "positive": 0.5}, "a string"),
    ],
)
def test_bad_teacher_probabilities_are_one_line_errors_naming_file_and_line(
    tmp_path, probabilities, why
):
    good = {"text": "fine", "label": "positive", "probabilities": {"negative": 0, "positive": 1}}
    bad = {"text": "bad", "label": "positive", "probabilities": probabilities}
    extra = write_jsonl(tmp_path / "extra.jsonl", [good, bad])
    with pytest.raises(UserError, match=r"^data.extra_train: .*extra\.jsonl:2: probabilities "):
        datamodule(tmp_path, str(extra), extra_train_targets="probabilities").splits()


def test_probabilities_need_jsonl_and_the_choice_is_checked(tmp_path):
    csv = tmp_path / "extra.csv"
    csv.write_text("text,label\nfine,positive\n")
    with pytest.raises(UserError, match=r"^data.extra_train_targets=probabilities: .*not JSONL"):
        datamodule(tmp_path, str(csv), extra_train_targets="probabilities").splits()
    with pytest.raises(UserError, match=r"^data.extra_train_targets='soft'; expected one of"):
        datamodule(tmp_path, None, extra_train_targets="soft")
    # what experiment=imdb_*_distilled would be without its teacher's file: refused, not run plain
    with pytest.raises(
        UserError, match=r"^data.extra_train_targets=probabilities needs data.extra"
    ):
        datamodule(tmp_path, None, extra_train_targets="probabilities")
