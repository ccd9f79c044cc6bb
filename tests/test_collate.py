import pytest
import torch

from textlab.data.collate import PaddingCollator
from textlab.data.sources.synthetic import synthetic_datamodule
from textlab.models.rnn import RNNClassifier
from textlab.models.transformer import TransformerClassifier
from textlab.tokenization import TokenizerSpec


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


def test_collator_rounds_the_padded_length_up_to_the_multiple():
    items = [
        {"input_ids": torch.tensor([2, 5, 6]), "label": 1},
        {"input_ids": torch.tensor([2, 8, 9, 10, 11]), "label": 0},
    ]
    batch = PaddingCollator(pad_id=0, pad_to_multiple_of=4)(items)
    assert batch["input_ids"].tolist() == [[2, 5, 6, 0, 0, 0, 0, 0], [2, 8, 9, 10, 11, 0, 0, 0]]
    assert batch["attention_mask"].sum(dim=1).tolist() == [3, 5]  # the extra columns are padding
    assert batch["lengths"].tolist() == [3, 5]
    # a batch whose longest is already a multiple is not padded further
    assert PaddingCollator(0, pad_to_multiple_of=5)(items)["input_ids"].shape == (2, 5)
    # never past the widest input the network takes (6 here), unless an item is longer itself
    assert PaddingCollator(0, pad_to_multiple_of=4, max_width=6)(items)["input_ids"].shape == (2, 6)
    assert PaddingCollator(0, pad_to_multiple_of=4, max_width=3)(items)["input_ids"].shape == (2, 5)


def test_a_transformer_whose_max_length_is_no_multiple_still_reads_every_padded_batch():
    """data.max_length=20 with pad_to_multiple_of=16: 32 columns would pass the network's
    max_length (the rotary tables' size), so padding stops at 20."""
    net = TransformerClassifier(50, 2, 0, d_model=16, num_heads=2, num_layers=1, ffn_dim=32,
                                positional="rotary", pooling="mean", max_length=20)  # fmt: skip
    items = [{"input_ids": torch.randint(3, 50, (n,)), "label": 0} for n in (18, 3)]
    batch = PaddingCollator(0, pad_to_multiple_of=16, max_width=20)(items)
    assert batch["input_ids"].shape == (2, 20)
    assert net(batch["input_ids"], batch["attention_mask"]).shape == (2, 2)


@pytest.mark.parametrize("kind", ["transformer", "lstm"])
def test_padding_to_a_multiple_changes_no_logit(kind):
    """Rounding T up only adds masked columns: both networks read the same reviews the same."""
    torch.manual_seed(0)
    items = [
        {"input_ids": torch.randint(3, 50, (n,)), "label": 0} for n in (7, 19, 12, 1)
    ]  # fmt: skip
    if kind == "transformer":
        net = TransformerClassifier(50, 2, 0, d_model=16, num_heads=2, num_layers=2, ffn_dim=32)
    else:
        net = RNNClassifier(50, 2, 0, embedding_dim=8, hidden_size=8, cell="lstm")
    net.eval()
    tight, rounded = PaddingCollator(0)(items), PaddingCollator(0, pad_to_multiple_of=64)(items)
    assert tight["input_ids"].shape[1] == 19 and rounded["input_ids"].shape[1] == 64
    with torch.no_grad():
        expected = net(tight["input_ids"], tight["attention_mask"])
        actual = net(rounded["input_ids"], rounded["attention_mask"])
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("options", [{"bucketing": True}, {"bucketing": False}])
def test_the_datamodule_pads_every_split_to_the_configured_multiple(options):
    data = synthetic_datamodule(
        train_size=64, test_size=32, batch_size=8, pad_to_multiple_of=16, **options
    )
    spec = TokenizerSpec(kind="word", vocab_size=200, min_frequency=1)
    data.attach_tokenizer(spec.train(data.splits()["train"].texts))
    for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader()):
        widths = [batch["input_ids"].shape[1] for batch in loader]
        assert widths and all(width % 16 == 0 for width in widths), widths


def test_the_datamodule_never_pads_past_the_longest_input_it_reads():
    data = synthetic_datamodule(
        train_size=64, test_size=32, batch_size=8, max_length=20, pad_to_multiple_of=16
    )
    data.attach_tokenizer(TokenizerSpec(kind="word", vocab_size=200, min_frequency=1).train(
        data.splits()["train"].texts
    ))  # fmt: skip
    widths = {batch["input_ids"].shape[1] for batch in data.train_dataloader()}
    assert widths and widths <= {16, 20}, widths
