import torch

from textlab.data.collate import PaddingCollator


def test_collator_pads_to_longest_in_batch_and_masks_padding():
    items = [
        {"input_ids": torch.tensor([2, 5, 6]), "label": 1},
        {"input_ids": torch.tensor([2, 7]), "label": 0},
        {"input_ids": torch.tensor([2, 8, 9, 10, 11]), "label": 1},
    ]
    batch = PaddingCollator(pad_id=0)(items)

    assert batch["input_ids"].shape == (3, 5)  # longest in batch, not a global maximum
    assert batch["input_ids"].dtype == torch.long
    assert batch["input_ids"][1].tolist() == [2, 7, 0, 0, 0]
    assert batch["attention_mask"].tolist() == [
        [True, True, True, False, False],
        [True, True, False, False, False],
        [True, True, True, True, True],
    ]
    assert batch["lengths"].tolist() == [3, 2, 5]
    assert batch["labels"].tolist() == [1, 0, 1]


def test_collator_uses_the_given_pad_id():
    items = [
        {"input_ids": torch.tensor([1]), "label": 0},
        {"input_ids": torch.tensor([1, 2]), "label": 0},
    ]
    batch = PaddingCollator(pad_id=99)(items)
    assert batch["input_ids"][0].tolist() == [1, 99]
    assert batch["attention_mask"][0].tolist() == [True, False]
