"""RNNClassifier: packed sequences, so padding never changes a logit; bad arguments name the key."""

import pytest
import torch

from textlab.base.errors import ConfigValueError
from textlab.models.rnn import RNNClassifier


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "meanmax"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_a_prediction(cell, pooling, bidirectional):
    torch.manual_seed(0)
    model = RNNClassifier(
        vocab_size=50,
        num_classes=2,
        pad_id=0,
        embedding_dim=16,
        hidden_size=16,
        num_layers=2,
        cell=cell,
        bidirectional=bidirectional,
        pooling=pooling,
    ).eval()
    review = torch.randint(3, 50, (1, 7))
    alone = model(review, torch.ones(1, 7, dtype=torch.bool))

    batch = torch.zeros(3, 20, dtype=torch.long)  # 0 is [PAD]
    batch[0, :7] = review[0]
    batch[1] = torch.randint(3, 50, (20,))
    batch[2, :12] = torch.randint(3, 50, (12,))
    mask = batch != 0
    in_batch = model(batch, mask)

    torch.testing.assert_close(in_batch[0:1], alone, atol=1e-5, rtol=1e-5)


def test_rnn_classifier_output_shape_and_gradients_flow():
    model = RNNClassifier(vocab_size=30, num_classes=3, pad_id=0, embedding_dim=8, hidden_size=8)
    ids = torch.randint(1, 30, (4, 9))
    logits = model(ids, torch.ones(4, 9, dtype=torch.bool))
    assert logits.shape == (4, 3)
    logits.sum().backward()
    assert model.embedding.weight.grad is not None and model.embedding.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"cell": "transformer"}, "cell"),
        ({"pooling": "first"}, "pooling"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"dropout": 1.5}, "dropout"),
        ({"weight_drop": 1.0}, "weight_drop"),
    ],
)
def test_bad_rnn_arguments_name_the_key(kwargs, key):
    with pytest.raises(ConfigValueError, match=rf"^{key}="):
        RNNClassifier(vocab_size=10, num_classes=2, pad_id=0, **kwargs)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_pack_free_states_equal_packed_sequences_in_values_and_gradients(cell):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from textlab.models.rnn import pack_free

    torch.manual_seed(0)
    net = RNNClassifier(50, 2, 0, 8, 12, num_layers=2, cell=cell, dropout=0.0)
    x = torch.randn(4, 9, 8)
    lengths = torch.tensor([9, 3, 1, 6])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(net.rnn(packed)[0], batch_first=True, total_length=9)
    mask = (torch.arange(9)[None, :] < lengths[:, None]).unsqueeze(-1)
    states, finals = pack_free(net.rnn, x, lengths, training=False)
    torch.testing.assert_close(states * mask, expected, atol=1e-6, rtol=1e-5)
    # the final states are those of each sequence's own end (forward) and start (backward)
    torch.testing.assert_close(finals[0], expected[torch.arange(4), lengths - 1, :12])
    torch.testing.assert_close(finals[1], expected[:, 0, 12:])
    weight = net.rnn.weight_hh_l0_reverse
    by_packing = torch.autograd.grad(expected.pow(2).sum(), weight)[0]
    by_hand = torch.autograd.grad(
        (pack_free(net.rnn, x, lengths, False)[0] * mask).pow(2).sum(), weight
    )[0]
    torch.testing.assert_close(by_hand, by_packing, atol=1e-5, rtol=1e-4)


def test_weight_drop_masks_recurrent_weights_once_per_batch_and_only_while_training():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from textlab.models.rnn import pack_free

    torch.manual_seed(0)
    net = RNNClassifier(50, 2, 0, 8, 12, cell="lstm", dropout=0.0, weight_drop=0.5)
    x = torch.randn(3, 11, 8)
    lengths = torch.tensor([11, 4, 7])
    mask = (torch.arange(11)[None, :] < lengths[:, None]).unsqueeze(-1)
    plain = pack_free(net.rnn, x, lengths, training=False, weight_drop=0.5)[0]
    torch.testing.assert_close(plain, pack_free(net.rnn, x, lengths, training=False)[0])

    torch.manual_seed(7)
    dropped = pack_free(net.rnn, x, lengths, training=True, weight_drop=0.5)[0] * mask
    # the same draws made by hand, then held fixed over every time step of a packed reference
    reference = torch.nn.LSTM(8, 12, batch_first=True, bidirectional=True)
    torch.manual_seed(7)
    with torch.no_grad():
        for name, value in net.rnn.named_parameters():
            masked = torch.nn.functional.dropout(value, 0.5) if "weight_hh" in name else value
            getattr(reference, name).copy_(masked)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected = pad_packed_sequence(reference(packed)[0], batch_first=True, total_length=11)[0]
    torch.testing.assert_close(dropped, expected, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(dropped, plain * mask, atol=1e-3)

    # a dropped connection gets no gradient; the input weights are never dropped
    dropped.pow(2).sum().backward()
    kept = reference.weight_hh_l0 != 0
    grad = net.rnn.weight_hh_l0.grad
    assert grad[~kept].abs().max() == 0 and (grad[kept] != 0).float().mean() > 0.99
    assert 0.4 < (~kept).float().mean() < 0.6
    assert (net.rnn.weight_ih_l0.grad != 0).float().mean() > 0.99
