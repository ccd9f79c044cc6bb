"""Pooling over real tokens: "meanmax" is the mean and the max side by side."""

from __future__ import annotations

import torch

from textlab.models.pooling import masked_pool, pooled_width
from textlab.models.rnn import RNNClassifier
from textlab.models.transformer import TransformerClassifier


def test_meanmax_is_the_mean_then_the_max_over_real_tokens_only():
    states = torch.tensor([[[1.0, -4.0], [3.0, 2.0], [100.0, 100.0]]])  # last position padding
    mask = torch.tensor([[True, True, False]])
    pooled = masked_pool("meanmax")(states, mask)
    assert pooled.tolist() == [[2.0, -1.0, 3.0, 2.0]]
    assert pooled_width("meanmax", 2) == 4 and pooled_width("max", 2) == 2


def test_both_networks_give_their_heads_twice_the_features_and_learn_through_both_halves():
    ids = torch.tensor([[1, 5, 6, 0], [1, 7, 0, 0]])
    mask = ids != 0
    nets = [
        TransformerClassifier(10, 2, 0, d_model=8, num_heads=2, num_layers=1, ffn_dim=16,
                              pooling="meanmax"),
        RNNClassifier(10, 2, 0, embedding_dim=4, hidden_size=4, pooling="meanmax"),
    ]  # fmt: skip
    for net, width in zip(nets, (16, 16), strict=True):
        head = net.head[-1] if isinstance(net.head, torch.nn.Sequential) else net.head
        assert head.in_features == width
        net(ids, mask).sum().backward()
        half = width // 2
        # the mean half and the max half of the head both receive gradient
        assert head.weight.grad[:, :half].abs().sum() > 0
        assert head.weight.grad[:, half:].abs().sum() > 0
