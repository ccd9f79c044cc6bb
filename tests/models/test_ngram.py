"""Bag of n-grams: sees tokens and their neighbours, ignores padding and longer-range order."""

import pytest
import torch
from config_compose import compose_config

from textlab.base.errors import ConfigValueError
from textlab.models.factory import build_net
from textlab.models.ngram import NgramClassifier, distinct


def model(ngram: int = 2, buckets: int = 1000, binary: bool = False) -> NgramClassifier:
    torch.manual_seed(0)
    return NgramClassifier(
        vocab_size=50, num_classes=2, pad_id=0, ngram=ngram, buckets=buckets, binary=binary
    )


def test_padding_does_not_change_the_logits():
    net = model(ngram=3).eval()
    ids = torch.tensor([[7, 8, 9, 10]])
    padded = torch.tensor([[7, 8, 9, 10, 0, 0, 0]])
    mask = padded != 0
    assert torch.allclose(net(ids, ids != 0), net(padded, mask), atol=1e-6)


def test_counts_every_token_and_every_real_ngram_and_hashes_into_the_buckets():
    net = model(ngram=3, buckets=17)
    ids = torch.tensor([[5, 6, 7, 8, 0, 0]])
    gram_ids, real = net.gram_ids(ids, ids != 0)
    assert real.sum().item() == 4 + 3 + 2  # tokens, bigrams, trigrams of a 4-token review
    grams = gram_ids[real]
    assert (grams[:4] == ids[0, :4]).all()
    assert ((grams[4:] >= 50) & (grams[4:] < 50 + 17)).all()


def test_distinct_keeps_each_real_id_once_per_row():
    ids = torch.tensor([[4, 9, 4, 4, 7, 0], [3, 3, 3, 0, 0, 0]])
    real = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    kept, first = distinct(ids, real)
    assert [sorted(kept[row][first[row]].tolist()) for row in range(2)] == [[4, 7, 9], [3]]
    assert (kept >= 0).all()  # padding must still be a valid row for EmbeddingBag


def test_binary_counts_a_repeated_phrase_once():
    # the same distinct tokens and bigrams, repeated a different number of times
    short, long = torch.tensor([[5, 6, 5, 6, 0, 0]]), torch.tensor([[5, 6, 5, 6, 5, 6]])
    binary, counted = model(ngram=2, binary=True).eval(), model(ngram=2).eval()
    assert torch.allclose(binary(short, short != 0), binary(long, long != 0), atol=1e-6)
    assert not torch.allclose(counted(short, short != 0), counted(long, long != 0), atol=1e-6)


def test_bigrams_see_neighbour_order_but_unigrams_do_not():
    ids, swapped = torch.tensor([[3, 4, 5, 6]]), torch.tensor([[4, 3, 6, 5]])
    mask = torch.ones_like(ids, dtype=torch.bool)
    unigram, bigram = model(ngram=1).eval(), model(ngram=2).eval()
    assert torch.allclose(unigram(ids, mask), unigram(swapped, mask), atol=1e-6)
    assert not torch.allclose(bigram(ids, mask), bigram(swapped, mask), atol=1e-6)


def test_learns_that_a_bigram_flips_the_label():
    # "not good" (1, 2) is negative, "good" alone positive: unigram counts cannot separate
    # [1, 2, 3] from [2, 1, 3], bigrams can
    net = model(ngram=2)
    ids = torch.tensor([[1, 2, 3], [2, 1, 3], [3, 1, 2], [2, 3, 1]])
    labels = torch.tensor([0, 1, 0, 1])
    mask = torch.ones_like(ids, dtype=torch.bool)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(net(ids, mask), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (net(ids, mask).argmax(-1) == labels).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ngram": 4}, "ngram=4"),
        ({"buckets": 0}, "buckets=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"binary": "yes"}, "binary='yes'"),
    ],
)
def test_bad_values_name_the_argument(kwargs, message):
    with pytest.raises(ConfigValueError, match=f"^{message}: expected"):
        NgramClassifier(vocab_size=10, num_classes=2, pad_id=0, **kwargs)


def test_imdb_ngram_experiment_builds_nbsvm_features(tmp_path):
    cfg = compose_config(tmp_path, "experiment=imdb_ngram")
    net = build_net(cfg.model, vocab_size=100, num_classes=2, pad_id=0)
    assert (net.ngram, net.binary, net.naive_bayes) == (3, True, True)
    assert cfg.module.optimizer.lr == 2e-2
