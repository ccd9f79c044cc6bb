"""NBSVM's log-count ratios are counted from the training data once, before anything reads them."""

import math

import lightning as L
import pytest
import torch
from quiet_trainer import quiet_trainer
from torch.utils.data import DataLoader

from textlab.base.errors import ConfigValueError
from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.models.ensemble import Ensemble
from textlab.models.ngram import NgramClassifier
from textlab.module import TextClassifier

# distinct tokens: positive reviews {3, 4} and {3, 5}; negative {6, 4} and {6, 5}
SEQUENCES = [[3, 4, 3], [3, 5], [6, 4], [6, 6, 5]]
LABELS = [1, 1, 0, 0]


class Reviews(L.LightningDataModule):
    def loader(self) -> DataLoader:
        dataset = TokenizedDataset.from_sequences(SEQUENCES, LABELS)
        return DataLoader(dataset, batch_size=3, collate_fn=PaddingCollator(pad_id=0))

    train_dataloader = val_dataloader = loader


def bag(**kwargs) -> NgramClassifier:
    torch.manual_seed(0)
    args = {"ngram": 1, "binary": True, "naive_bayes": True, **kwargs}
    return NgramClassifier(vocab_size=10, num_classes=2, pad_id=0, **args)


class FittedAtStart(L.Callback):
    """Records whether the ratios were there when validation and training began."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def on_sanity_check_start(self, trainer, pl_module) -> None:
        self.seen.append(bool(pl_module.net.ratio_fitted))

    on_train_start = on_sanity_check_start


def fit(net: torch.nn.Module, callback: L.Callback | None = None) -> None:
    module = TextClassifier(net, num_classes=2, optimizer=lambda params: torch.optim.SGD(params))
    trainer = quiet_trainer(max_epochs=1, callbacks=[callback] if callback else [])
    trainer.fit(module, datamodule=Reviews())


def test_ratios_come_from_per_class_review_counts_before_validation_and_training():
    net, fitted = bag(), FittedAtStart()
    fit(net, fitted)
    assert fitted.seen == [True, True]
    # 10 rows, each count plus one: |p|₁ = |q|₁ = 10 + 4; token 3 is in 2 positive reviews
    # (once each, however often it repeats) and no negative one
    expected = torch.zeros(10)
    expected[3], expected[6] = math.log(3), -math.log(3)
    assert torch.allclose(net.log_ratio, expected, atol=1e-6)


def test_a_restored_bag_keeps_its_ratios():
    # a resumed run restores them from the checkpoint before on_fit_start
    net = bag()
    net.load_state_dict({**net.state_dict(), "log_ratio": torch.full((10,), 0.5)})
    net.ratio_fitted.fill_(True)
    fit(net)
    assert torch.equal(net.log_ratio, torch.full((10,), 0.5))


def test_an_ensemble_member_counts_only_the_tokens_it_reads():
    member = bag()
    fit(Ensemble({"ngram": member}, max_lengths={"ngram": 1}))
    # cropped to the first token: 3, 3 positive; 6, 6 negative; 4 and 5 never seen
    assert member.log_ratio[3] > 0 > member.log_ratio[6]
    assert member.log_ratio[4] == member.log_ratio[5] == member.log_ratio[0] == 0


def test_an_unfitted_bag_reads_the_plain_binary_bag():
    ids = torch.tensor([[3, 4, 3, 0]])
    assert torch.equal(bag()(ids, ids != 0), bag(naive_bayes=False)(ids, ids != 0))


def test_more_than_two_classes_is_an_error_naming_the_key():
    with pytest.raises(ConfigValueError, match="^naive_bayes=True: expected false with 3 classes"):
        NgramClassifier(vocab_size=10, num_classes=3, pad_id=0, naive_bayes=True)
