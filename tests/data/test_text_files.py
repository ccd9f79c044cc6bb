"""`data=text_files`: JSONL/CSV (gzip too), globs and lists, label ids, malformed records."""

from __future__ import annotations

import logging

import pytest
from jsonl_files import write_jsonl

from textlab.base.errors import UserError
from textlab.data.sources.records import label_order
from textlab.data.sources.text_files import TextFiles, text_files_datamodule

ROWS = [{"text": f"text {i}", "label": ["pos", "neg", "mixed"][i % 3]} for i in range(12)]


def test_jsonl_labels_map_to_ids_in_sorted_order(tmp_path):
    source = TextFiles(str(write_jsonl(tmp_path / "train.jsonl", ROWS)))
    texts, labels = source.load()["train"]
    assert source.label_names == ("mixed", "neg", "pos")
    assert texts[:3] == ["text 0", "text 1", "text 2"] and labels[:3] == [2, 1, 0]


def test_explicit_label_names_fix_the_ids_and_reject_unknown_labels(tmp_path):
    path = str(write_jsonl(tmp_path / "train.jsonl", ROWS))
    source = TextFiles(path, label_names=["neg", "pos", "mixed"])
    assert source.load()["train"][1][:3] == [1, 0, 2]
    with pytest.raises(UserError, match=r"train\.jsonl:1: label 'pos' is not among"):
        TextFiles(path, label_names=["neg", "mixed"]).load()


def test_integer_labels_sort_numerically():
    assert label_order(["10", "2", "1"]) == ("1", "2", "10")


def test_csv_gzip_globs_and_lists_are_read(tmp_path):
    (tmp_path / "a.csv").write_text('review,stars\n"good, really",5\nbad,1\n')
    (tmp_path / "b.tsv").write_text("review\tstars\nfine\t3\n")
    write_jsonl(tmp_path / "c.jsonl.gz", [{"review": "gzipped", "stars": 5}])
    source = TextFiles(
        [str(tmp_path / "*.csv"), str(tmp_path / "b.tsv"), str(tmp_path / "c.jsonl.gz")],
        text_column="review",
        label_column="stars",
    )
    texts, labels = source.load()["train"]
    assert texts == ["good, really", "bad", "fine", "gzipped"]
    assert source.label_names == ("1", "3", "5") and labels == [2, 0, 1, 2]


def test_malformed_records_are_skipped_counted_and_located(tmp_path, caplog):
    path = write_jsonl(
        tmp_path / "train.jsonl",
        ROWS,
        raw_lines=(
            "{not json",
            '{"text": "no label"}',
            '["a", "list"]',
            "",
            '{"text": 5, "label": "x"}',
        ),
    )
    with caplog.at_level(logging.WARNING):
        texts, _ = TextFiles(str(path)).load()["train"]
    assert len(texts) == 12
    (message,) = [r.getMessage() for r in caplog.records]
    assert "skipped 4 malformed records" in message
    assert f"{path}:13" in message and f"{path}:17" in message and f"{path}:16" not in message


def test_csv_rows_with_missing_or_extra_fields_are_skipped(tmp_path, caplog):
    (tmp_path / "train.csv").write_text("text,label\nok,a\nmissing\nextra,b,c\nfine,b\n")
    with caplog.at_level(logging.WARNING):
        texts, labels = TextFiles(str(tmp_path / "train.csv")).load()["train"]
    assert texts == ["ok", "fine"] and labels == [0, 1]
    assert "skipped 2 malformed records" in caplog.records[0].getMessage()


def test_a_missing_column_or_file_is_a_one_line_error(tmp_path):
    (tmp_path / "train.csv").write_text("body,label\nok,a\n")
    with pytest.raises(UserError, match=r"no column 'text'; the header has \['body', 'label'\]"):
        TextFiles(str(tmp_path / "train.csv")).load()
    with pytest.raises(UserError, match=r"data\.train=.*nothing\*\.jsonl: no such file"):
        TextFiles(str(tmp_path / "nothing*.jsonl"))


def test_invalid_utf8_lines_are_repaired_and_kept(tmp_path, caplog):
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"text": "caf\xe9", "label": "a"}\n{"text": "ok", "label": "b"}\n')
    with caplog.at_level(logging.WARNING):
        texts, _ = TextFiles(str(path)).load()["train"]
    assert texts == ["caf\ufffd", "ok"]
    assert "1 lines had invalid UTF-8" in caplog.records[0].getMessage()


def test_val_and_test_labels_must_be_known_from_train(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", ROWS)
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "t", "label": "sarcastic"}])
    with pytest.raises(UserError, match="label 'sarcastic' is not among"):
        TextFiles(str(train), test=str(test)).load()
    with pytest.raises(UserError, match=r"data\.test: label 'sarcastic' is not among"):
        TextFiles(str(train), test=str(test)).streams(0.1, 0)


def test_missing_val_is_carved_from_train_and_test_is_optional(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", ROWS * 5)
    dm = text_files_datamodule(str(train), val_fraction=0.2)
    splits = dm.splits()
    assert set(splits) == {"train", "val"} and not dm.has_split("test")
    assert len(splits["val"]) == 12 and len(splits["train"]) == 48


def test_parquet_is_read_when_pyarrow_is_installed(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"text": ["good", None, "bad"], "label": ["pos", "pos", "neg"]})
    pq.write_table(table, tmp_path / "train.parquet")
    texts, labels = TextFiles(str(tmp_path / "train.parquet")).load()["train"]
    assert texts == ["good", "bad"] and labels == [1, 0]  # the row without text is skipped
