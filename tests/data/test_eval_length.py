"""data.eval_max_length: training reads crops, validation/test/inference read more of each text."""

from __future__ import annotations

import pytest
from jsonl_files import write_jsonl

from textlab.base.errors import UserError
from textlab.checkpoint.format import SavedRun
from textlab.data.sources.text_files import text_files_datamodule
from textlab.tokenization import TokenizerSpec

WORDS = [f"w{i}" for i in range(30)]


def long_rows(count: int) -> list[dict]:
    return [{"text": " ".join(WORDS[: 5 + i % 20]), "label": i % 2} for i in range(count)]


def datamodule(tmp_path, batch_size=8, **options):
    write_jsonl(tmp_path / "train.jsonl", long_rows(40))
    write_jsonl(tmp_path / "test.jsonl", long_rows(20))
    dm = text_files_datamodule(
        str(tmp_path / "train.jsonl"), test=str(tmp_path / "test.jsonl"), batch_size=batch_size,
        max_length=6, **options,
    )  # fmt: skip
    dm.attach_tokenizer(TokenizerSpec(kind="word", vocab_size=100, min_frequency=1).train(WORDS))
    return dm


def widths(loader) -> list[int]:
    return [batch["input_ids"].shape[1] for batch in loader]


@pytest.mark.parametrize("streaming", [False, True])
def test_training_reads_max_length_and_evaluation_reads_eval_max_length(tmp_path, streaming):
    dm = datamodule(tmp_path, eval_max_length=16, streaming=streaming)
    assert max(widths(dm.train_dataloader())) == 6
    # texts run to 25 tokens with [CLS]: evaluation cuts them at 16, not at 6
    assert max(widths(dm.val_dataloader())) == 16
    assert max(widths(dm.test_dataloader())) == 16
    assert max(dm.val_dataset.lengths()) == 16


def test_without_eval_max_length_every_split_reads_max_length(tmp_path):
    dm = datamodule(tmp_path)
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        assert max(widths(loader)) == 6


@pytest.mark.parametrize("value", [1, 0, "long", 2.5])
def test_a_bad_eval_max_length_is_a_one_line_error_naming_the_key(tmp_path, value):
    with pytest.raises(UserError, match=r"eval_max_length=.*expected null \(= max_length\)"):
        datamodule(tmp_path, eval_max_length=value)


@pytest.mark.parametrize(
    ("data", "reads"),
    [
        ({"max_length": 400, "eval_max_length": 2048}, 2048),
        ({"max_length": 400, "eval_max_length": None}, 400),
        ({"max_length": 400}, 400),  # a checkpoint from before the key existed
    ],
)
def test_a_checkpoint_predicts_with_the_length_it_was_evaluated_at(tmp_path, data, reads):
    saved = SavedRun(tmp_path / "x.ckpt", {"data": data}, None, ("a", "b"), {})  # type: ignore[arg-type]
    assert saved.max_length == reads


def test_validation_batches_come_sorted_by_length_and_test_batches_in_file_order(tmp_path):
    dm = datamodule(tmp_path, batch_size=2, eval_max_length=32, val_fraction=0.4)
    val_widths = widths(dm.val_dataloader())
    assert len(set(val_widths)) > 3 and val_widths == sorted(val_widths)
    seen = [int(n) for batch in dm.val_dataloader() for n in batch["attention_mask"].sum(1)]
    assert sorted(seen) == sorted(dm.val_dataset.lengths().tolist())  # each example once
    # the test split's reports map predictions back to texts by position
    labels = [label for batch in dm.test_dataloader() for label in batch["labels"].tolist()]
    assert labels == list(dm.splits()["test"].labels)
