"""Text without labels for pretraining: formats, repairs and skips, the held-out share."""

import gzip
import json

import numpy as np
import pytest
from tokenizers import Tokenizer

from textlab.base.errors import UserError
from textlab.data.read_stats import ReadStats
from textlab.data.sources.unlabelled import PretrainingCorpus, UnlabelledFiles, held_out
from textlab.data.token_blocks import TokenBlocks, token_stream
from textlab.tokenization import TokenizerSpec


def read(files: UnlabelledFiles) -> tuple[list[str], ReadStats]:
    stats = ReadStats(unit="documents")
    return [text for _, text in files.documents(stats)], stats


def test_txt_lines_are_documents_and_blank_lines_separate_them(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"first review\n\nsecond \xff review\n   \n")
    texts, stats = read(UnlabelledFiles(str(tmp_path / "a.txt")))
    assert texts == ["first review", "second \ufffd review"]
    assert stats.repaired["invalid_utf8"] == 1 and stats.kept == 2


def test_unit_file_reads_each_file_whole(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(f"{name} line one\n{name} line two\n")
    texts, _ = read(UnlabelledFiles(str(tmp_path / "*.txt"), unit="file"))
    assert texts == ["a line one\na line two\n", "b line one\nb line two\n"]


def test_jsonl_gz_field_with_malformed_and_surrogate_records_counted(tmp_path):
    rows = [
        json.dumps({"body": "kept"}),
        "{broken",
        json.dumps({"body": 7}),
        '{"body": "x\\ud800"}',
    ]
    with gzip.open(tmp_path / "c.jsonl.gz", "wt") as handle:
        handle.write("\n".join(rows) + "\n")
    texts, stats = read(UnlabelledFiles(str(tmp_path / "c.jsonl.gz"), text_field="body"))
    assert texts == ["kept", "x\ufffd"]
    assert stats.skipped["malformed"] == 2
    assert stats.repaired["invalid_unicode"] == 1
    assert stats.first["malformed"] == [
        f"{tmp_path / 'c.jsonl.gz'}:2",
        f"{tmp_path / 'c.jsonl.gz'}:3",
    ]


def test_other_formats_are_refused_by_name(tmp_path):
    (tmp_path / "d.csv").write_text("text\nx\n")
    with pytest.raises(UserError, match=r"d\.csv is neither \.txt nor \.jsonl"):
        UnlabelledFiles(str(tmp_path / "d.csv"))


def test_held_out_share_is_deterministic_and_about_the_fraction():
    picks = [held_out(i, 0.1, seed=4) for i in range(20_000)]
    assert picks == [held_out(i, 0.1, seed=4) for i in range(20_000)]
    assert sum(picks) / len(picks) == pytest.approx(0.1, abs=0.01)
    assert picks != [held_out(i, 0.1, seed=5) for i in range(20_000)]


def test_corpus_parts_partition_the_documents(tmp_path):
    labelled = [f"labelled {i}" for i in range(200)]
    (tmp_path / "u.txt").write_text("\n".join(f"unlabelled {i}" for i in range(300)) + "\n")
    corpus = PretrainingCorpus(
        labelled, "fp", UnlabelledFiles(str(tmp_path / "u.txt")), val_fraction=0.2, seed=1
    )
    train, val = list(corpus.documents("train")), list(corpus.documents("val"))
    assert sorted(train + val) == sorted(labelled + [f"unlabelled {i}" for i in range(300)])
    assert not set(train) & set(val)
    assert 0.1 < len(val) / 500 < 0.3


def test_token_stream_round_trips_through_the_memory_map_in_blocks(tmp_path):
    texts = ["a b c d", "e f g", "a c e g b d f"] * 50
    tokenizer: Tokenizer = TokenizerSpec(kind="word", vocab_size=30, min_frequency=1).train(texts)
    stream = token_stream(tokenizer, iter(texts), tmp_path / "s.bin")
    expected = np.concatenate([np.array(e.ids) for e in tokenizer.encode_batch(texts)])
    assert np.array_equal(np.asarray(stream), expected)
    blocks = TokenBlocks(stream, 8)
    assert len(blocks) == len(expected) // 8
    assert blocks[2]["input_ids"].tolist() == expected[16:24].tolist()
    # a second call reads the file the first wrote (the cache), not the texts
    again = token_stream(tokenizer, iter(()), tmp_path / "s.bin")
    assert np.array_equal(np.asarray(again), expected)
