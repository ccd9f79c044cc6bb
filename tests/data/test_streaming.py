"""Streaming: each example exactly once per epoch across ranks and workers, equal batch counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_compose import compose_config
from jsonl_files import write_jsonl
from torch.utils.data import DataLoader

from textlab.base.errors import UserError
from textlab.data.loaders import EpochLoader
from textlab.data.sharding import rank_batch_sizes
from textlab.data.sources.text_files import text_files_datamodule
from textlab.data.streaming import FilePerExample, StreamingTextDataset, buffer_shuffle
from textlab.tokenization import TokenizerSpec

NAMES = [f"w{i}" for i in range(37)]  # odd, so ranks and workers get unequal shares
TOKENIZER = TokenizerSpec(kind="word", vocab_size=100, min_frequency=1).train(NAMES)


def read_name(path: Path) -> str:
    return path.name


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> FilePerExample:
    folder = tmp_path_factory.mktemp("examples")
    paths = [folder / name for name in NAMES]
    for path in paths:
        path.touch()  # the file name is the text: nothing to read
    return FilePerExample(paths, [i % 2 for i in range(len(paths))], read_name)


def identity(batch):
    return batch


def epoch_batches(dataset: StreamingTextDataset, workers: int) -> list[list[str]]:
    """The batches one rank yields, each as the names of its examples."""
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, collate_fn=identity)
    return [[TOKENIZER.id_to_token(int(item["input_ids"][1])) for item in b] for b in loader]


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("world_size", [1, 2])
def test_every_example_once_per_epoch_across_ranks_and_workers(files, workers, world_size):
    per_rank = []
    for rank in range(world_size):
        dataset = StreamingTextDataset(
            files, TOKENIZER, 8, batch_size=4, shuffle=True, seed=1, buffer_size=5,
            rank=rank, world_size=world_size,
        )  # fmt: skip
        batches = epoch_batches(dataset, workers)
        assert len(batches) == len(dataset)
        assert all(1 <= len(batch) <= 4 for batch in batches)
        per_rank.append(batches)
    seen = [name for batches in per_rank for batch in batches for name in batch]
    assert sorted(seen) == sorted(NAMES)  # exactly once: no repeats, none missing
    assert len({len(batches) for batches in per_rank}) == 1  # equal batch counts: no DDP hang


def test_shuffle_buffer_changes_order_between_epochs_but_not_the_examples(files):
    dataset = StreamingTextDataset(files, TOKENIZER, 8, 4, shuffle=True, seed=0, buffer_size=6)
    orders = []
    for epoch in (0, 1, 0):
        dataset.set_epoch(epoch)
        orders.append([name for batch in epoch_batches(dataset, 0) for name in batch])
    assert orders[0] != orders[1]
    assert sorted(orders[0]) == sorted(orders[1]) == sorted(NAMES)
    assert orders[0] == orders[2]  # seed + epoch fixes the order


@pytest.mark.parametrize("workers", [0, 2])
def test_a_mid_epoch_resume_yields_the_rest_of_that_epoch(files, workers):
    """Restored at batch 3 of epoch 1, the loader skips what was trained on and goes on."""

    def loader() -> EpochLoader:
        dataset = StreamingTextDataset(files, TOKENIZER, 8, 4, shuffle=True, seed=3, buffer_size=6)
        return EpochLoader(
            dataset, batch_size=None, num_workers=workers, collate_fn=identity, epoch_fn=lambda: 1
        )

    def names(batches) -> list[list[str]]:
        return [[TOKENIZER.id_to_token(int(item["input_ids"][1])) for item in b] for b in batches]

    whole = names(loader())
    resumed = loader()
    resumed.load_state_dict({"batches_served": 3})
    assert names(resumed) == whole[3:]
    assert resumed.state_dict() == {"batches_served": len(whole)}


def test_without_shuffle_the_order_is_file_order(files):
    dataset = StreamingTextDataset(files, TOKENIZER, 8, 4, shuffle=False)
    assert [name for batch in epoch_batches(dataset, 0) for name in batch] == NAMES


def test_buffer_shuffle_keeps_every_item_with_a_bounded_buffer():
    import random

    items = list(range(100))
    out = list(buffer_shuffle(iter(items), 10, random.Random(0)))
    assert sorted(out) == items and out != items
    # an item cannot come out more than buffer_size places before its turn
    assert all(out.index(i) >= i - 10 for i in items)


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("batch_size", [2, 3, 8])
def test_rank_batch_sizes_cover_all_examples_with_equal_counts(world_size, batch_size):
    for num in range(world_size, 80):
        sizes = [rank_batch_sizes(num, world_size, r, batch_size) for r in range(world_size)]
        assert sum(map(sum, sizes)) == num
        assert len({len(s) for s in sizes}) == 1
        assert all(1 <= size <= batch_size for s in sizes for size in s)


def test_fewer_examples_than_ranks_is_an_error_on_every_rank():
    for rank in range(4):
        with pytest.raises(UserError, match="cannot fill"):
            rank_batch_sizes(3, 4, rank, 8)


def test_text_files_stream_cycles_files_and_carves_val_from_train(tmp_path):
    for part in range(3):
        rows = [{"text": f"f{part} line {i}", "label": "ab"[i % 2]} for i in range(20)]
        write_jsonl(tmp_path / f"train-{part}.jsonl", rows)
    dm = text_files_datamodule(str(tmp_path / "train-*.jsonl"), streaming=True, batch_size=4)
    splits = dm.splits()
    train = [text for text, _ in splits["train"].examples()]
    val = [text for text, _ in splits["val"].examples()]
    assert not set(train) & set(val) and len(train) + len(val) == 60 and val
    assert dm.label_names == ("a", "b")
    # the first few records come from different files in turn
    first = [text.split()[0] for text, _ in list(splits["train"].examples())[:3]]
    assert first == ["f0", "f1", "f2"]


def test_streaming_datamodule_batches_are_padded_and_reseeded_by_the_trainer_epoch(tmp_path):
    from types import SimpleNamespace

    rows = [{"text": f"t{i} " * (1 + i % 5), "label": i % 3} for i in range(30)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "val.jsonl", rows[:7])
    dm = text_files_datamodule(
        str(tmp_path / "train.jsonl"), val=str(tmp_path / "val.jsonl"), streaming=True,
        batch_size=4, shuffle_buffer=8,
    )  # fmt: skip
    tokenizer = TokenizerSpec(kind="word", vocab_size=100, min_frequency=1).train(
        list(dm.splits()["train"].texts)
    )
    dm.attach_tokenizer(tokenizer)
    assert dm.label_names == ("0", "1", "2") and not dm.has_split("test")
    loader = dm.train_dataloader()
    dm.trainer = SimpleNamespace(current_epoch=0)
    first = [batch["labels"].tolist() for batch in loader]
    dm.trainer = SimpleNamespace(current_epoch=1)
    second = [batch["labels"].tolist() for batch in loader]
    assert len(first) == len(loader) == 8 and first != second
    batch = next(iter(dm.val_dataloader()))
    assert batch["input_ids"].shape[0] == batch["attention_mask"].shape[0] == 4
    assert len(dm.val_dataset) == 7


def test_files_that_change_during_a_run_stop_it_instead_of_hanging_ddp(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"text": n, "label": 0} for n in NAMES])
    dm = text_files_datamodule(str(path), val=str(path), streaming=True, batch_size=4)
    stream = dm.splits()["train"].source  # counted now
    dataset = StreamingTextDataset(stream, TOKENIZER, 8, batch_size=4)
    assert len(epoch_batches(dataset, 0)) == 10
    for rows in ([{"text": "w0", "label": 0}], []):  # one record more, then fewer
        write_jsonl(path, [{"text": n, "label": 0} for n in NAMES[: 30 + 7 * len(rows)]] + rows)
        with pytest.raises(UserError, match="changed during the run"):
            epoch_batches(dataset, 0)


def test_a_streaming_run_trains_validates_and_tests(tmp_path):
    from textlab.modes.train import train

    rows = [{"text": f"{'good' if i % 2 else 'bad'} movie {i}", "label": i % 2} for i in range(40)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "test.jsonl", rows[:10])
    cfg = compose_config(
        tmp_path,
        "data=text_files",
        f"data.train={tmp_path / 'train.jsonl'}",
        f"data.test={tmp_path / 'test.jsonl'}",
        "data.streaming=true",
        "data.batch_size=4",
        "tokenizer=word",
        "model.embedding_dim=8",
        "model.hidden_size=8",
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "logger=none",
        "~callbacks.rich_progress_bar",
        "~callbacks.lr_monitor",
    )
    metrics = train(cfg)
    assert {"val/acc", "test/acc"} <= set(metrics)
