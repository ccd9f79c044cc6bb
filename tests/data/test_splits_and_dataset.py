import numpy as np
import torch

from textlab.data.dataset import TokenizedDataset
from textlab.data.splits import TextSplit, carve_validation


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
