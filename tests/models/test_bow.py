"""The bag-of-words baseline is blind to word order, by design."""

import torch

from textlab.models.bow import BagOfWordsClassifier


def test_bag_of_words_ignores_word_order():
    model = BagOfWordsClassifier(vocab_size=30, num_classes=2, pad_id=0).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    torch.testing.assert_close(model(ids, mask), model(ids.flip(1), mask))
