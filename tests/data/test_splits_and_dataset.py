import numpy as np
import torch

from textlab.data.dataset import TokenizedDataset
from textlab.data.splits import TextSplit, carve_groups, carve_validation


def make_split(n_pos: int, n_neg: int) -> TextSplit:
    texts = [f"review {i}" for i in range(n_pos + n_neg)]
    return TextSplit(texts, [1] * n_pos + [0] * n_neg)


def test_validation_carve_is_deterministic_stratified_and_disjoint():
    split = make_split(300, 100)
    train, val = carve_validation(split, fraction=0.1, seed=3)
    again_train, again_val = carve_validation(split, fraction=0.1, seed=3)

    assert val.texts == again_val.texts and train.texts == again_train.texts
    assert sorted(train.texts + val.texts) == sorted(split.texts)
    assert not set(train.texts) & set(val.texts)
    assert (val.labels.count(1), val.labels.count(0)) == (30, 10)  # class ratio kept


def test_validation_carve_depends_on_seed():
    split = make_split(200, 200)
    assert (
        carve_validation(split, 0.2, seed=1)[1].texts
        != carve_validation(split, 0.2, seed=2)[1].texts
    )


def test_group_carve_keeps_every_group_on_one_side_and_each_class_near_its_share():
    split = make_split(300, 300)
    groups = [f"movie {i // 7}" for i in range(600)]  # 7 reviews a movie; one has both labels
    train, val = carve_groups(split, groups, 0.1, seed=5)
    assert val.texts == carve_groups(split, groups, 0.1, seed=5)[1].texts
    assert val.texts != carve_groups(split, groups, 0.1, seed=6)[1].texts
    side = {text: "val" for text in val.texts} | {text: "train" for text in train.texts}
    by_group: dict[str, set[str]] = {}
    for text, group in zip(split.texts, groups, strict=True):
        by_group.setdefault(group, set()).add(side[text])
    assert all(len(sides) == 1 for sides in by_group.values())
    assert sorted(train.texts + val.texts) == sorted(split.texts)
    # whole groups of 7 cannot always land on 30 exactly; never over, a group short at most
    assert 30 - 7 < val.labels.count(1) <= 30 and 30 - 7 < val.labels.count(0) <= 30


def test_tokenized_dataset_returns_each_sequence_and_label():
    sequences = [[2, 5, 6], [2], [2, 7, 8, 9]]
    dataset = TokenizedDataset.from_sequences(sequences, [1, 0, 1])
    assert len(dataset) == 3
    for index, sequence in enumerate(sequences):
        item = dataset[index]
        assert item["input_ids"].dtype == torch.long
        assert item["input_ids"].tolist() == sequence
    assert [dataset[i]["label"] for i in range(3)] == [1, 0, 1]
    assert np.array_equal(dataset.lengths(), [3, 1, 4])
