"""The aclImdb reader on layouts the tests create; the real copy when TEXTLAB_IMDB_ROOT is set."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from config_compose import compose_config

from textlab.base import run_files
from textlab.base.errors import UserError
from textlab.data.sources.imdb import AclImdb, imdb_datamodule
from textlab.data.splits import TextSplit, carve_validation
from textlab.modes.train import train


def make_layout(root: Path, splits=("train", "test"), per_class: int = 5) -> Path:
    for split in splits:
        for folder in ("pos", "neg"):
            (root / split / folder).mkdir(parents=True)
            for i in range(per_class):
                text = f"{split} {folder} review {i} " + (
                    "great fun" if folder == "pos" else "dull"
                )
                (root / split / folder / f"{i}_{7 if folder == 'pos' else 2}.txt").write_text(text)
    (root / "train" / "unsup").mkdir(exist_ok=True)  # ignored, as in the official archive
    (root / "train" / "unsup" / "0_0.txt").write_text("unlabelled")
    return root


def test_reader_labels_neg_0_pos_1_and_reads_both_splits(tmp_path):
    source = AclImdb(make_layout(tmp_path / "aclImdb"))
    splits = source.load()
    assert set(splits) == {"train", "test"}
    texts, labels = splits["train"]
    assert len(texts) == 10 and labels.count(0) == labels.count(1) == 5
    assert all(("pos" in text) == (label == 1) for text, label in zip(texts, labels, strict=True))
    assert source.label_names == ("negative", "positive")


def test_missing_test_folder_warns_once_and_gives_no_test_split(tmp_path, caplog):
    source = AclImdb(make_layout(tmp_path / "aclImdb", splits=("train",)))
    with caplog.at_level(logging.WARNING):
        assert set(source.load()) == {"train"}
        source.load()
    warnings = [r for r in caplog.records if "no test/ folder" in r.getMessage()]
    assert len(warnings) == 1


def test_missing_root_is_a_one_line_error_naming_path_and_layout(tmp_path):
    with pytest.raises(UserError) as error:
        AclImdb(tmp_path / "nowhere").load()
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere") in message and "<root>/{train,test}/{pos,neg}/*.txt" in message


@pytest.mark.parametrize("remove", ["train", "train/neg", "test/pos"])
def test_wrong_layout_is_a_one_line_error(tmp_path, remove):
    root = make_layout(tmp_path / "aclImdb")
    for path in sorted((root / remove).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / remove).rmdir()
    with pytest.raises(UserError, match=r"data\.root=.*expected the aclImdb layout"):
        AclImdb(root).load()


def test_invalid_utf8_is_replaced_and_counted_not_dropped(tmp_path, caplog):
    root = make_layout(tmp_path / "aclImdb", splits=("train",))
    (root / "train" / "pos" / "0_7.txt").write_bytes(b"caf\xe9 was great")
    with caplog.at_level(logging.WARNING):
        texts, labels = AclImdb(root).load()["train"]
    assert len(texts) == 10
    assert "caf\ufffd was great" in texts
    assert any("1 reviews had invalid UTF-8" in r.getMessage() for r in caplog.records)


def test_streamed_splits_hold_the_same_reviews_as_in_memory(tmp_path):
    root = make_layout(tmp_path / "aclImdb", per_class=20)
    memory = imdb_datamodule(str(root), val_fraction=0.2, seed=3).splits()
    streamed = imdb_datamodule(str(root), val_fraction=0.2, seed=3, streaming=True).splits()
    for name in ("train", "val", "test"):
        assert [text for text, _ in streamed[name].examples()] == memory[name].texts
        assert streamed[name].fingerprint() == memory[name].fingerprint()


def with_movies(root: Path, per_movie: int = 3) -> Path:
    """urls_{pos,neg}.txt as the official archive has them: line `id` is review id's movie;
    each folder numbers its own reviews, so movie k's pos and neg ids differ."""
    for folder, shift in (("pos", 0), ("neg", 1)):
        count = len(list((root / "train" / folder).glob("*.txt")))
        lines = [
            f"http://www.imdb.com/title/tt{i // per_movie + shift:07d}/usercomments\n"
            for i in range(count)
        ]
        (root / "train" / f"urls_{folder}.txt").write_text("".join(lines))
    return root


def movies_by_side(dm, root: Path) -> dict[str, set[str]]:
    """Movie URL → the sides ("train", "val") its training reviews landed on."""
    urls = {
        (folder, i): line
        for folder in ("pos", "neg")
        for i, line in enumerate((root / "train" / f"urls_{folder}.txt").read_text().splitlines())
    }
    text_movie = {
        path.read_text(): urls[(path.parent.name, int(path.name.split("_")[0]))]
        for path in (root / "train").glob("*/*_*.txt")
        if path.parent.name in ("pos", "neg")
    }
    sides: dict[str, set[str]] = {}
    for name in ("train", "val"):
        for text in dm.splits()[name].texts:
            sides.setdefault(text_movie[text], set()).add(name)
    return sides


def test_movie_carve_keeps_each_movie_on_one_side_in_memory_and_streaming(tmp_path):
    root = with_movies(make_layout(tmp_path / "aclImdb", per_class=30))
    memory = imdb_datamodule(str(root), val_fraction=0.2, seed=3, carve="movie")
    sides = movies_by_side(memory, root)
    assert len(sides) == 11 and all(len(s) == 1 for s in sides.values())
    val = memory.splits()["val"]
    assert val.labels.count(0) == val.labels.count(1) == 6  # whole movies of 3, 20% each
    streamed = imdb_datamodule(str(root), val_fraction=0.2, seed=3, carve="movie", streaming=True)
    for name in ("train", "val"):
        assert [text for text, _ in streamed.splits()[name].examples()] == (
            memory.splits()[name].texts
        )
    random_carve = imdb_datamodule(str(root), val_fraction=0.2, seed=3)
    assert any(len(s) == 2 for s in movies_by_side(random_carve, root).values())  # the contrast


def test_movie_carve_without_urls_takes_blocks_of_adjacent_ids_and_says_so(tmp_path, caplog):
    root = make_layout(tmp_path / "aclImdb", splits=("train",), per_class=100)
    with caplog.at_level(logging.WARNING):
        val = imdb_datamodule(str(root), val_fraction=0.2, seed=3, carve="movie").splits()["val"]
    assert any("blocks of adjacent review ids" in r.getMessage() for r in caplog.records)
    for folder in ("pos", "neg"):
        ids = sorted(int(text.split()[3]) for text in val.texts if f" {folder} " in text)
        # 20 of a folder's 100 in 10 blocks of 2 adjacent ids: (0, 1), (2, 3), ...
        assert len(ids) == 20 and ids[0::2] == [i - 1 for i in ids[1::2]] and ids[0] % 2 == 0
        assert len({i // 2 for i in ids}) == 10 and ids[-1] - ids[0] > 20  # not one run


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("short_urls", "urls_neg.txt has 10 lines, none for review 10_2.txt; expected one URL"),
        ("odd_name", "review.txt: data.carve=movie expects aclImdb's <id>_<rating>.txt names"),
    ],
)
def test_movie_carve_on_a_broken_layout_is_one_line(tmp_path, breakage, expected):
    root = with_movies(make_layout(tmp_path / "aclImdb", splits=("train",), per_class=12))
    if breakage == "short_urls":
        lines = (root / "train" / "urls_neg.txt").read_text().splitlines()[:10]
        (root / "train" / "urls_neg.txt").write_text("\n".join(lines) + "\n")
    else:
        (root / "train" / "pos" / "review.txt").write_text("a review with an odd file name")
    with pytest.raises(UserError) as error:
        imdb_datamodule(str(root), carve="movie").splits()
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_run_without_a_test_split_skips_the_test_stage(tmp_path):
    root = make_layout(tmp_path / "aclImdb", splits=("train",), per_class=12)
    cfg = compose_config(
        tmp_path,
        "experiment=imdb_lstm_nbsvm",
        f"data.root={root}",
        "data.batch_size=4",
        "data.max_length=16",
        "tokenizer.vocab_size=60",
        "model.members.lstm.net.embedding_dim=8",
        "model.members.lstm.net.hidden_size=8",
        "model.members.ngram.net.buckets=256",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "logger=none",
        "~callbacks.rich_progress_bar",
        "~callbacks.lr_monitor",
    )
    metrics = train(cfg)
    assert "val/acc" in metrics and not any(name.startswith("test/") for name in metrics)
    saved = json.loads(run_files.metrics_path(tmp_path / "run").read_text())
    assert saved == metrics
    assert list((tmp_path / "cache" / "tokens").glob("*.npz"))  # token ids were cached


# Real data: CI points TEXTLAB_IMDB_ROOT at shared/datasets/aclImdb (train/ only).
IMDB_ROOT = os.environ.get("TEXTLAB_IMDB_ROOT")
real_imdb = pytest.mark.skipif(not IMDB_ROOT, reason="TEXTLAB_IMDB_ROOT is not set")


@real_imdb
def test_real_train_split_has_25000_balanced_reviews_and_a_deterministic_carve():
    texts, labels = AclImdb(IMDB_ROOT).load()["train"]
    assert len(texts) == 25_000 and labels.count(0) == labels.count(1) == 12_500
    assert all(text.strip() for text in texts)
    split = TextSplit(texts, labels)
    train, val = carve_validation(split, 0.1, seed=42)
    again_train, again_val = carve_validation(split, 0.1, seed=42)
    assert val.texts == again_val.texts and len(train) + len(val) == 25_000
    assert val.labels.count(0) == val.labels.count(1) == 1250


@real_imdb
def test_real_copy_without_test_folder_has_no_test_split():
    files = AclImdb(IMDB_ROOT).file_lists()
    if (Path(IMDB_ROOT) / "test").is_dir():
        assert len(files["test"][0]) == 25_000
    else:
        assert "test" not in files
