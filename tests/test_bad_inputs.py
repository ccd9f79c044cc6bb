"""The bad-input catalogue (README "Bad inputs"): every row ends in a one-line error or a
counted skip, never in a traceback or a silent drop. Direct calls where they suffice; the
CLI in a real process where the one-line `error:` itself is the behaviour."""

from __future__ import annotations

import gzip
import json
import logging
import os
from functools import partial
from pathlib import Path

import pytest
import torch
from cli_runner import assert_one_line_error, run_py
from config_compose import compose_config
from in_process import main_error_line
from jsonl_files import write_jsonl
from user_errors import one_line

from textlab.base import run_files
from textlab.base.errors import ConfigValueError, UserError
from textlab.base.instantiate import build
from textlab.checkpoint.format import CHECKPOINT_KEY, load_checkpoint
from textlab.data import token_cache
from textlab.data.dataset import TokenizedDataset
from textlab.data.read_stats import MAX_TEXT_CHARS, ReadStats
from textlab.data.sources.imdb import AclImdb
from textlab.data.sources.text_files import TextFiles, text_files_datamodule
from textlab.data.splits import TextSplit, carve_validation
from textlab.models.rnn import RNNClassifier
from textlab.modes.predict import read_reviews
from textlab.module import TextClassifier
from textlab.tokenization import TokenizerSpec

TEN_MB = "word " * 2_000_000
ROWS = [
    {"text": f"review {i} " + ("fine" if i % 2 else "dull"), "label": "ab"[i % 2]} for i in range(8)
]


def make_imdb(root: Path, per_class: int = 3) -> Path:
    for split in ("train", "test"):
        for folder in ("pos", "neg"):
            (root / split / folder).mkdir(parents=True)
            for i in range(per_class):
                (root / split / folder / f"{i}_5.txt").write_text(f"{split} {folder} review {i}")
    return root


def skipped_json(run_dir: Path) -> dict:
    return json.loads((run_dir / run_files.SKIPPED).read_text())


# --- data: aclImdb layout -------------------------------------------------------------------


def test_missing_data_root_is_one_cli_error_naming_the_path_and_layout(tmp_path, capsys):
    line = main_error_line(tmp_path, capsys, "data=imdb", f"data.root={tmp_path / 'nowhere'}")
    assert f"data.root={tmp_path / 'nowhere'}" in line and "{train,test}/{pos,neg}" in line


def test_wrong_folder_layout_is_one_line_naming_the_missing_folder(tmp_path):
    root = make_imdb(tmp_path / "aclImdb")
    for review in (root / "train" / "neg").iterdir():
        review.unlink()
    with pytest.raises(UserError) as err:
        AclImdb(root).load()
    one_line(err, "no train/neg/*.txt reviews", "expected the aclImdb layout")


def test_unreadable_review_file_is_one_line_naming_it(tmp_path):
    root = make_imdb(tmp_path / "aclImdb")
    (root / "train" / "pos" / "9_9.txt").symlink_to(tmp_path / "gone.txt")
    with pytest.raises(UserError) as err:
        AclImdb(root).load()
    one_line(err, "9_9.txt: cannot read")


def test_review_files_invalid_utf8_bom_empty_and_huge_are_counted_in_skipped_json(tmp_path, caplog):
    root = make_imdb(tmp_path / "aclImdb")
    pos = root / "train" / "pos"
    (pos / "0_5.txt").write_bytes(b"caf\xe9 was great")  # invalid UTF-8: repaired, kept
    (pos / "1_5.txt").write_bytes(b"\xef\xbb\xbfwith a BOM")  # BOM: dropped, kept
    (pos / "2_5.txt").write_bytes(b"")  # empty: skipped
    (root / "train" / "neg" / "0_5.txt").write_text(" \n\t ")  # whitespace only: skipped
    (root / "train" / "neg" / "1_5.txt").write_text(TEN_MB)  # 10 MB: skipped
    report = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        texts, labels = AclImdb(root, report_dir=report).load()["train"]
    assert "caf\ufffd was great" in texts and "with a BOM" in texts
    assert len(texts) == 3 and labels == [0, 1, 1]
    train = skipped_json(report)["train"]
    assert train["kept"] == 3
    assert train["skipped"] == {"empty": 2, "too_long": 1}
    assert train["repaired"] == {"invalid_utf8": 1}
    assert train["first"]["too_long"] == [str(root / "train" / "neg" / "1_5.txt")]
    logged = " | ".join(record.getMessage() for record in caplog.records)
    assert "skipped 2 empty texts" in logged and "skipped 1 texts longer than" in logged


def test_streamed_reviews_skip_the_same_files_as_in_memory(tmp_path):
    root = make_imdb(tmp_path / "aclImdb", per_class=10)
    (root / "train" / "pos" / "3_5.txt").write_bytes(b"")
    memory = AclImdb(root).load()["train"][0]
    streams = AclImdb(root).streams(0.2, seed=1)
    streamed = [
        streams[name].read(handle)[0]
        for name in ("train", "val")
        for handle in streams[name].handles(None)
    ]
    assert sorted(streamed) == sorted(memory) and "" not in streamed


# --- data: record files (JSONL / CSV) -------------------------------------------------------


def test_malformed_empty_and_huge_records_are_skipped_counted_and_located(tmp_path, caplog):
    path = write_jsonl(
        tmp_path / "train.jsonl",
        ROWS,
        raw_lines=(
            "{not json\n",  # line 9
            '{"text": "no label"}\n',  # 10
            '{"text": "   ", "label": "a"}\n',  # 11: empty
            json.dumps({"text": TEN_MB, "label": "b"}) + "\n",  # 12: 10 MB
        ),
    )
    with caplog.at_level(logging.WARNING):
        texts, _ = TextFiles(str(path), report_dir=str(tmp_path / "run")).load()["train"]
    assert len(texts) == len(ROWS)
    train = skipped_json(tmp_path / "run")["train"]
    assert train["kept"] == len(ROWS)
    assert train["skipped"] == {"empty": 1, "malformed": 2, "too_long": 1}
    assert train["first"]["malformed"] == [f"{path}:9", f"{path}:10"]
    assert train["first"]["too_long"] == [f"{path}:12"]
    logged = [record.getMessage() for record in caplog.records]
    assert any("skipped 2 malformed records" in m and f"{path}:9" in m for m in logged)


def test_a_bom_does_not_cost_the_first_record_or_rename_the_first_column(tmp_path):
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_bytes(b'\xef\xbb\xbf{"text": "x", "label": "a"}\n{"text": "y", "label": "b"}\n')
    csv_file = tmp_path / "train.csv"
    csv_file.write_bytes(b"\xef\xbb\xbftext,label\nx,a\ny,b\n")
    for path in (jsonl, csv_file):
        assert TextFiles(str(path)).load()["train"] == (["x", "y"], [0, 1])


def test_csv_unbalanced_quote_is_one_skipped_record_spanning_the_lines_it_swallowed(
    tmp_path, caplog
):
    rows = [f"review {i},{'ab'[i % 2]}" for i in range(40)]
    rows[5] = '"an unbalanced quote,a'
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        texts, _ = TextFiles(str(path), report_dir=str(tmp_path)).load()["train"]
    assert len(texts) == 5
    assert skipped_json(tmp_path)["train"]["first"]["malformed"] == [f"{path}:7-41"]
    assert any(f"{path}:7-41" in record.getMessage() for record in caplog.records)


def test_csv_without_the_text_column_is_one_line_naming_file_and_header(tmp_path):
    (tmp_path / "train.csv").write_text("body,label\nok,a\n")
    with pytest.raises(UserError) as err:
        TextFiles(str(tmp_path / "train.csv")).load()
    one_line(err, "train.csv: no column 'text'", "['body', 'label']")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"not gzip at all", "Not a gzipped file"), (None, "ended before the end-of-stream")],
    ids=["not-gzip", "truncated"],
)
def test_corrupt_gzip_is_one_line_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "train.jsonl.gz"
    if content is None:
        whole = gzip.compress(b'{"text": "x", "label": "a"}\n' * 1000)
        content = whole[: len(whole) // 2]
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        TextFiles(str(path)).load()
    one_line(err, f"{path}: cannot read", expected)


def test_unknown_file_format_is_one_line_listing_the_known_ones(tmp_path):
    (tmp_path / "train.txt").write_text("a review\n")
    with pytest.raises(UserError) as err:
        TextFiles(str(tmp_path / "train.txt")).load()
    one_line(err, "train.txt: unknown format; expected one of .jsonl", ".csv")


def test_label_outside_the_configured_names_is_one_line_naming_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [*ROWS, {"text": "meh", "label": "c"}])
    with pytest.raises(UserError) as err:
        TextFiles(str(path), label_names=["a", "b"]).load()
    one_line(err, f"{path}:9: label 'c' is not among the labels ['a', 'b']")


def test_a_single_label_is_one_line_error_not_a_torchmetrics_traceback(tmp_path):
    cfg = compose_config(tmp_path)
    net = RNNClassifier(vocab_size=20, num_classes=1, pad_id=0, embedding_dim=4, hidden_size=4)
    with pytest.raises(ConfigValueError) as err:
        build(cfg.module, "module", net=net, num_classes=1)
    one_line(err, "module.num_classes=1: expected at least 2 labels")


@pytest.mark.parametrize("streaming", [False, True], ids=["memory", "streaming"])
def test_a_split_left_empty_by_skipping_is_one_line_error(tmp_path, streaming):
    train = write_jsonl(tmp_path / "train.jsonl", ROWS * 3)
    test = write_jsonl(tmp_path / "test.jsonl", [], raw_lines=("{broken\n", '{"text": ""}\n'))
    dm = text_files_datamodule(str(train), test=str(test), streaming=streaming)
    with pytest.raises(UserError) as err:
        dm.splits()
    one_line(err, f"data.test: no usable records in {test}")


def test_a_validation_carve_left_empty_is_one_line_error():
    with pytest.raises(UserError) as err:
        carve_validation(TextSplit(["a", "b", "c", "d"], [0, 1, 0, 1]), 0.1, seed=0)
    one_line(err, "data.val_fraction=0.1 of 4 training texts leaves no validation texts")


def test_a_streamed_validation_carve_left_empty_is_one_line_error(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", ROWS[:2])
    dm = text_files_datamodule(str(train), streaming=True, val_fraction=0.01)
    with pytest.raises(UserError) as err:
        dm.splits()
    one_line(err, "data.val_fraction=0.01 of 2 training texts leaves no validation texts")


def test_skip_counts_land_in_the_run_dir_and_run_log_of_a_real_run(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", ROWS * 10, raw_lines=("{not json\n",))
    run_dir = tmp_path / "run"
    proc = run_py(
        "data=text_files",
        f"data.train={train}",
        "tokenizer=word",
        "model.embedding_dim=8",
        "model.hidden_size=8",
        "trainer.max_epochs=1",
        "logger=none",
        "callbacks=none",
        f"hydra.run.dir={run_dir}",
        cache=tmp_path / "cache",
        check=True,
    )
    assert skipped_json(run_dir)["train"]["skipped"] == {"malformed": 1}
    assert f"skipped 1 malformed records ({train}:81)" in (run_dir / "run.log").read_text()
    assert proc.returncode == 0 and (run_dir / "metrics.json").is_file()


# --- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["imdb", "text_files"])
def test_file_backed_data_writes_its_report_into_the_run_dir(tmp_path, option):
    data = {
        "imdb": f"data.root={make_imdb(tmp_path / 'aclImdb')}",
        "text_files": f"data.train={write_jsonl(tmp_path / 'train.jsonl', ROWS)}",
    }
    cfg = compose_config(tmp_path, f"data={option}", data[option], "data.val_fraction=0.5")
    build(cfg.data, "data").splits()
    report = json.loads((Path(cfg.paths.output_dir) / run_files.SKIPPED).read_text())
    # every record of the training files (2 x 3 reviews, or 8 rows), none skipped
    assert report["train"]["kept"] == {"imdb": 6, "text_files": len(ROWS)}[option]
    assert report["train"]["skipped"] == {}


def test_invalid_learning_rate_is_one_line_error_naming_the_key():
    net = RNNClassifier(vocab_size=20, num_classes=2, pad_id=0, embedding_dim=4, hidden_size=4)
    module = TextClassifier(net, 2, optimizer=partial(torch.optim.AdamW, lr=-1.0))
    with pytest.raises(UserError) as err:
        module.configure_optimizers()
    one_line(err, "module.optimizer: Invalid learning rate: -1.0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.accelerator=gpu", "trainer: No supported gpu backend found"),
        ("trainer.devices=0", "trainer: `Trainer(devices=0)` value is not a valid input"),
    ],
)
def test_devices_that_do_not_exist_are_one_line_errors(tmp_path, override, expected):
    cfg = compose_config(tmp_path, override)
    with pytest.raises(UserError) as err:
        build(cfg.trainer, "trainer")
    one_line(err, expected)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # the type hint already says which values Lightning takes
        ("trainer.precision=bf17", "trainer.precision='bf17': expected one of 64, 32, 16, "),
        ("trainer.devices=-1", "trainer: "),  # the right type; Lightning's reason
    ],
)
def test_trainer_values_lightning_rejects_with_value_errors_are_one_line(
    tmp_path, override, expected
):
    cfg = compose_config(tmp_path, "trainer.accelerator=cpu", override)
    with pytest.raises(UserError) as err:
        build(cfg.trainer, "trainer")
    one_line(err, expected)


def test_more_cpu_processes_than_cores_is_allowed(tmp_path):
    """64 DDP processes on 2 cores is slow, not wrong: how DDP code is tested on one machine."""
    cfg = compose_config(tmp_path, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=64")
    assert build(cfg.trainer, "trainer").num_devices == 64  # built, not launched


# --- files: run dir, checkpoints, tokenizers, predict input ---------------------------------


def test_run_dir_under_a_file_stops_before_textlab_starts(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = run_py(f"hydra.run.dir={blocker / 'run'}")
    # Hydra creates the run dir before run.py's code runs; its report names the path
    assert proc.returncode == 1 and f"Not a directory: '{blocker / 'run'}'" in proc.stderr


def test_unwritable_output_dir_is_one_line_error_for_file_backed_data(tmp_path):
    (tmp_path / "a-file").write_text("")
    train = write_jsonl(tmp_path / "train.jsonl", ROWS)
    with pytest.raises(UserError) as err:
        TextFiles(str(train), report_dir=str(tmp_path / "a-file" / "run")).load()
    one_line(err, f"{tmp_path / 'a-file' / 'run'}: cannot write skipped.json (Not a directory)")


def test_unwritable_output_dir_is_one_line_error_for_the_embedded_corpus(tmp_path, capsys):
    from textlab.app import main as cli

    (tmp_path / "a-file").write_text("")
    cfg = compose_config(
        tmp_path,
        "debug=fast",
        "data.train_size=40",
        "data.test_size=10",
        "logger=none",
        "callbacks=none",
        f"paths.output_dir={tmp_path / 'a-file' / 'run'}",
    )
    with pytest.raises(SystemExit) as exit_:
        cli.main(cfg)
    assert exit_.value.code == 2
    assert "error: paths.output_dir" in capsys.readouterr().err


class Evil:
    """An arbitrary class: unpickling it needs code from outside torch's allowlist."""

    def __reduce__(self):
        return (os.mkdir, (os.environ["EVIL_MARKER"],))


def test_a_checkpoint_carrying_code_is_refused_in_one_line_and_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "textlab": {"config": Evil()}}, path)
    proc = run_py("mode=eval", f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(proc, str(path), "is not a readable torch checkpoint")
    assert not marker.exists()


def test_a_corrupt_tokenizer_inside_a_checkpoint_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "model.ckpt"
    config = {"model": {"_target_": "textlab.models.rnn.RNNClassifier"}}
    extras = {"config": config, "tokenizer": '{"truncated', "label_names": ["a", "b"]}
    torch.save({"state_dict": {}, CHECKPOINT_KEY: extras}, path)
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    one_line(err, f"checkpoint {path} holds an unreadable tokenizer")


def test_a_corrupt_cached_tokenizer_is_retrained_not_fatal(tmp_path, tiny_texts):
    spec = TokenizerSpec(kind="word", vocab_size=50, min_frequency=1)
    texts = tiny_texts[0]
    spec.load_or_train(texts, "fp", tmp_path)
    (cached,) = (tmp_path / "tokenizers").glob("*.json")
    cached.write_text('{"truncated')
    retrained = spec.load_or_train(texts, "fp", tmp_path).to_str()
    assert retrained == spec.train(texts).to_str()  # the same tokenizer, trained again
    assert cached.read_text() == retrained  # and the broken entry replaced by it


def test_a_truncated_token_cache_entry_is_tokenized_again(tmp_path, caplog):
    path = tmp_path / "tokens" / "entry.npz"
    fresh = TokenizedDataset.from_sequences([[2, 5], [2, 6, 7]], [0, 1])
    token_cache.save(path, fresh)
    path.write_bytes(path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        dataset = token_cache.load_or_encode(path, lambda: fresh)
    assert dataset is fresh and "unreadable" in caplog.text
    assert len(token_cache.load_or_encode(path, lambda: None)) == 2  # rewritten, readable


def test_predict_input_with_invalid_utf8_or_a_huge_line_is_repaired_and_counted(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_bytes(b"\xef\xbb\xbfgreat fun\ncaf\xe9 was dull\n" + TEN_MB.encode() + b"\n")
    stats = ReadStats()
    reviews = list(read_reviews(path, "auto", "text", stats))
    assert [line for line, _ in reviews] == [1, 2, 3]
    assert reviews[0][1] == "great fun" and reviews[1][1] == "caf\ufffd was dull"
    assert len(reviews[2][1]) == MAX_TEXT_CHARS
    assert stats.repaired == {"invalid_utf8": 1, "truncated": 1}


def test_predict_input_line_that_is_not_a_review_is_one_line_naming_file_and_line(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"text": "fine"}\n{"body": "no text field"}\n')
    with pytest.raises(UserError) as err:
        list(read_reviews(path, "auto", "text"))
    one_line(err, f"{path}:2: no string field 'text'")
