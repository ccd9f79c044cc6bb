"""Files that are not regular files, and JSON records that parse into surprises: a counted
skip or a one-line error, never a traceback and never a read that blocks."""

from __future__ import annotations

import gzip
import json
import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from jsonl_files import write_jsonl
from user_errors import one_line

from textlab.base.errors import UserError
from textlab.data.read_stats import ReadStats
from textlab.data.sources.imdb import AclImdb
from textlab.data.sources.records import expand_paths, read_records
from textlab.data.streaming import StreamSplit
from textlab.modes.predict import read_reviews
from textlab.tokenization import TokenizerSpec, encode_ids

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads: RecursionError
HUGE_INT = '{"text": "fine", "label": ' + "7" * 5000 + "}"  # json.loads: ValueError (digits)
SURROGATE = '{"text": "broken \\ud800 pair", "label": "a"}'  # a lone UTF-16 half


@contextmanager
def no_blocking(seconds: int = 20):
    """Fail instead of hanging if something opens a pipe and waits on it."""

    def stop(*_):
        raise AssertionError(f"blocked for {seconds} s: something read a pipe")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def make_imdb(root: Path, per_class: int = 3) -> Path:
    for folder in ("pos", "neg"):
        (root / "train" / folder).mkdir(parents=True)
        for i in range(per_class):
            (root / "train" / folder / f"{i}_5.txt").write_text(f"{folder} review {i}")
    return root


@pytest.mark.parametrize("streaming", [False, True])
def test_folders_and_pipes_among_the_reviews_are_counted_skips_never_opened(tmp_path, streaming):
    root = make_imdb(tmp_path / "aclImdb")
    (root / "train" / "pos" / "folder.txt").mkdir()
    os.mkfifo(root / "train" / "neg" / "pipe.txt")
    source = AclImdb(root, report_dir=tmp_path / "run")
    with no_blocking():
        if streaming:
            streams = source.streams(0.5, 0)
            texts = [t for name in ("train", "val") for t in StreamSplit(streams[name]).texts]
        else:
            texts = source.load()["train"][0]
    assert len(texts) == 6  # the real reviews, all of them
    report = json.loads((tmp_path / "run" / "skipped.json").read_text())["train"]
    assert report["skipped"] == {"not_a_file": 2} and report["kept"] == 6
    assert sorted(Path(p).name for p in report["first"]["not_a_file"]) == [
        "folder.txt",
        "pipe.txt",
    ]


def test_an_unreadable_review_is_one_line_naming_it(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    root = make_imdb(tmp_path / "aclImdb")
    locked = root / "train" / "pos" / "0_5.txt"
    locked.write_text("x" * 100)  # past the blank probe: first read at load()
    locked.chmod(0)
    with pytest.raises(UserError) as err:
        AclImdb(root).load()
    one_line(err, f"{locked}: cannot read")


def test_a_glob_that_matches_a_pipe_is_one_line_naming_it_and_folders_are_passed_over(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "t", "label": "x"}])
    (tmp_path / "sub.jsonl").mkdir()  # a folder named like a file: no records, passed over
    assert expand_paths("data.train", str(tmp_path / "*.jsonl")) == [tmp_path / "a.jsonl"]
    os.mkfifo(tmp_path / "pipe.jsonl")
    with no_blocking(), pytest.raises(UserError) as err:
        expand_paths("data.train", str(tmp_path / "*.jsonl"))
    one_line(err, f"data.train={tmp_path}/*.jsonl: {tmp_path / 'pipe.jsonl'} is not a regular file")


def test_json_lines_that_parse_into_surprises_are_counted_and_the_texts_tokenize(tmp_path):
    good = {"text": "a fine film", "label": "a"}
    path = write_jsonl(tmp_path / "train.jsonl", [good], raw_lines=(DEEP, HUGE_INT, SURROGATE))
    stats = ReadStats()
    records = list(read_records(path, "text", "label", stats))
    assert [(line, label) for line, _, label in records] == [(1, "a"), (4, "a")]
    assert stats.skipped == {"malformed": 2}  # the deep nesting and the 5000-digit label
    assert stats.first["malformed"] == [f"{path}:2", f"{path}:3"]
    assert stats.repaired == {"invalid_unicode": 1} and stats.first["invalid_unicode"] == [
        f"{path}:4"
    ]
    texts = [text for _, text, _ in records]
    assert texts[1] == "broken \ufffd pair"
    texts[1].encode("utf-8")  # valid Unicode now; the lone half could not be encoded
    tokenizer = TokenizerSpec(kind="word", vocab_size=20, min_frequency=1).train(texts)
    assert all(ids for ids in encode_ids(tokenizer, texts, 16))


def test_predict_input_surprises_are_one_line_errors_or_counted_repairs(tmp_path):
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "ok"}\n' + DEEP + "\n")
    with pytest.raises(UserError) as err:
        list(read_reviews(deep, "auto", "text"))
    one_line(err, f"{deep}:2: not a JSON object")

    broken = tmp_path / "surrogate.json"  # .json is JSONL, as for data files
    broken.write_text('{"text": "a \\udfff b"}\n')
    stats = ReadStats()
    assert list(read_reviews(broken, "auto", "text", stats)) == [(1, "a \ufffd b")]
    assert stats.repaired == {"invalid_unicode": 1}

    zipped = tmp_path / "reviews.jsonl.gz"
    zipped.write_bytes(gzip.compress(b'{"text": "read through gzip"}\n')[:-8])  # truncated
    with pytest.raises(UserError) as err:
        list(read_reviews(zipped, "auto", "text"))
    one_line(err, f"{zipped}: cannot read")

    os.mkfifo(tmp_path / "pipe.txt")
    with no_blocking(), pytest.raises(UserError) as err:
        list(read_reviews(tmp_path / "pipe.txt", "auto", "text"))
    one_line(err, "pipe.txt: not a regular file")
