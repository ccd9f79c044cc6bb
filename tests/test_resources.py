"""A network too large for this machine is one line before any memory is spent on it."""

from __future__ import annotations

import pytest
import torch
from config_compose import compose_config
from user_errors import one_line

from textlab.base.errors import UserError
from textlab.run.resources import available_memory, check_network_fits


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.hidden_size=1000000000"], "model: the network is too large to exist"),
        (["model=ngram", "model.buckets=100000000000"], "model: the network needs about"),
        # the rotary tables of 10^8 positions: no parameters, gigabytes of buffers
        (["model=transformer", "model.max_length=100000000"], "GiB of tables"),
    ],
)
def test_a_network_too_large_is_one_line_naming_model(tmp_path, overrides, expected):
    cfg = compose_config(tmp_path, *overrides)
    with pytest.raises(UserError) as err:
        check_network_fits(cfg.model, vocab_size=8000, num_classes=2, pad_id=0)
    one_line(err, expected)


def test_the_size_check_counts_the_real_network_and_draws_no_random_numbers(tmp_path):
    cfg = compose_config(tmp_path)  # the default bi-LSTM
    state = torch.get_rng_state()
    parameters = check_network_fits(cfg.model, vocab_size=8000, num_classes=2, pad_id=0)
    assert torch.equal(state, torch.get_rng_state())  # training draws the same as without it
    from textlab.models.factory import build_net

    net = build_net(cfg.model, vocab_size=8000, num_classes=2, pad_id=0)
    assert parameters == sum(p.numel() for p in net.parameters())
    assert available_memory() > 0


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.num_layers=100000"],
        ["model=transformer", "model.num_layers=1180591620717411303423"],
        ["model=ensemble", "model.members.lstm.net.num_layers=5000"],
    ],
)
def test_a_layer_count_past_any_real_network_is_refused_before_a_layer_is_built(
    tmp_path, overrides
):
    """Building is linear in layers even on the meta device: 100,000 LSTM layers ran for over
    a minute before the memory check could answer (found by the deep config fuzzer)."""
    cfg = compose_config(tmp_path, *overrides)
    key, value = overrides[-1].split("=")
    with pytest.raises(UserError) as err:
        check_network_fits(cfg.model, vocab_size=8000, num_classes=2, pad_id=0)
    one_line(err, f"{key}={value}: expected 1 to 1024")
