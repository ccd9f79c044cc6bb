"""TransformerClassifier: same maths on both attention paths, blind to padding, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from textlab.base.errors import ConfigValueError
from textlab.models.positional import AlibiBias, RotaryPositions, sinusoidal_table
from textlab.models.transformer import TransformerClassifier

VOCAB, PAD, CLS, CLASSES = 50, 0, 1, 3
TINY = {"d_model": 16, "num_heads": 4, "num_layers": 2, "ffn_dim": 32, "max_length": 32}


def make_model(**kwargs) -> TransformerClassifier:
    torch.manual_seed(0)
    return TransformerClassifier(VOCAB, CLASSES, PAD, **{**TINY, **kwargs}).eval()


def make_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] + random ids, right-padded with PAD to the longest length."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, VOCAB, (len(lengths), max(lengths)), generator=gen)
    ids[:, 0] = CLS
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    return ids.masked_fill(~mask, PAD), mask


@pytest.mark.parametrize("d_model", [6, 5])
def test_sinusoidal_table_matches_the_closed_form(d_model):
    table = sinusoidal_table(9, d_model)
    for pos in range(9):
        for j in range(d_model):
            angle = pos / 10000 ** ((j - j % 2) / d_model)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[pos, j].item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("positional", ["sinusoidal", "rotary", "alibi"])
@pytest.mark.parametrize("pooling", ["cls", "mean", "max", "meanmax"])
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_manual_and_sdpa_classifiers_give_same_logits_and_gradients(pooling, norm, positional):
    kwargs = {"pooling": pooling, "norm": norm, "positional": positional}
    manual = make_model(attention="manual", **kwargs).double()
    sdpa = make_model(attention="sdpa", **kwargs).double()
    sdpa.load_state_dict(manual.state_dict())
    ids, mask = make_batch([9, 5, 2])
    logits = []
    for model in (manual, sdpa):
        out = model(ids, mask)
        out.logsumexp(-1).sum().backward()
        logits.append(out)
    torch.testing.assert_close(logits[0], logits[1])
    for (name, p_manual), p_sdpa in zip(manual.named_parameters(), sdpa.parameters(), strict=True):
        torch.testing.assert_close(p_manual.grad, p_sdpa.grad, msg=name)


@pytest.mark.parametrize("positional", ["sinusoidal", "rotary", "alibi"])
@pytest.mark.parametrize("pooling", ["cls", "mean", "max", "meanmax"])
@pytest.mark.parametrize("attention", ["manual", "sdpa"])
def test_logits_of_a_review_do_not_depend_on_padding_from_longer_reviews(
    attention, pooling, positional
):
    model = make_model(attention=attention, pooling=pooling, positional=positional)
    ids, mask = make_batch([6, 20, 13])
    with torch.no_grad():
        batched = model(ids, mask)
        for i, length in enumerate([6, 20, 13]):
            alone = model(ids[i : i + 1, :length], mask[i : i + 1, :length])
            torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=1e-5)


def test_input_longer_than_max_length_raises_error_naming_both_lengths():
    model = make_model(max_length=8)
    ids, mask = make_batch([9])
    with pytest.raises(ValueError, match=r"model\.max_length=8: the input has 9 tokens"):
        model(ids, mask)
    model(ids[:, :8], mask[:, :8])  # exactly max_length is fine


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rotary", "alibi", "none"])
def test_every_positional_kind_produces_finite_logits(positional):
    model = make_model(positional=positional)
    ids, mask = make_batch([7, 3])
    logits = model(ids, mask)
    assert logits.shape == (2, CLASSES) and torch.isfinite(logits).all()


def test_rotary_scores_depend_only_on_the_offset_between_query_and_key():
    rotary = RotaryPositions(max_length=40, head_dim=8)
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 1, 1, 1, 8, generator=gen)
    # the same q and k placed at every position: (1, 1, 40, 8)
    q_rot, k_rot = rotary(q.expand(1, 1, 40, 8)), rotary(k.expand(1, 1, 40, 8))
    scores = q_rot[0, 0] @ k_rot[0, 0].T  # (40, 40), query position x key position
    for offset in (-3, 0, 1, 5):
        diagonal = scores.diagonal(offset)
        torch.testing.assert_close(diagonal, diagonal[:1].expand_as(diagonal))
    # a rotation: every vector keeps its length
    torch.testing.assert_close(q_rot.norm(dim=-1), q.norm(dim=-1).expand(1, 1, 40))


def test_rotary_at_position_zero_is_the_identity_and_tables_are_not_saved():
    rotary = RotaryPositions(max_length=4, head_dim=6)
    x = torch.randn(1, 2, 1, 6)
    torch.testing.assert_close(rotary(x), x)
    model = make_model(positional="rotary")
    assert not any("cos" in key or "sin" in key for key in model.state_dict())


def test_alibi_penalises_scores_by_head_slope_times_distance():
    bias = AlibiBias(max_length=10, num_heads=4)(6)  # slopes 1/4, 1/16, 1/64, 1/256
    assert bias.shape == (4, 6, 6)
    for h, slope in enumerate([1 / 4, 1 / 16, 1 / 64, 1 / 256]):
        for i, j in [(0, 0), (0, 5), (5, 0), (2, 4)]:
            assert bias[h, i, j].item() == pytest.approx(-slope * abs(i - j))


def test_without_positions_mean_pooling_ignores_word_order_and_with_them_it_does_not():
    ids, mask = make_batch([8])
    shuffled = torch.cat([ids[:, :1], ids[:, 1:].flip(1)], dim=1)
    order_blind = make_model(positional="none", pooling="mean")
    torch.testing.assert_close(order_blind(ids, mask), order_blind(shuffled, mask))
    order_aware = make_model(positional="sinusoidal", pooling="mean")
    assert not torch.allclose(order_aware(ids, mask), order_aware(shuffled, mask))


def test_attention_maps_give_per_layer_head_weights_over_real_keys_only():
    model = make_model(attention="sdpa", dropout=0.5, attention_dropout=0.5).train()
    ids, mask = make_batch([6, 4])
    maps = model.attention_maps(ids, mask)
    assert len(maps) == TINY["num_layers"]
    for weights in maps:
        assert weights.shape == (2, TINY["num_heads"], 6, 6)
        assert not weights.requires_grad
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, TINY["num_heads"], 6))
        assert torch.all(weights[1, :, :, 4:] == 0.0)
    assert model.training  # the caller's mode is restored
    torch.testing.assert_close(maps[0], model.attention_maps(ids, mask)[0])  # no dropout


def test_a_batch_containing_an_empty_sequence_gives_no_nan():
    model = make_model(pooling="mean")
    ids, mask = make_batch([5, 1])
    mask[1] = False
    assert torch.isfinite(model(ids, mask)).all()


def test_positions_table_is_not_saved_in_the_state_dict():
    assert not any("table" in key for key in make_model().state_dict())


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"num_heads": 3}, "num_heads"),
        ({"attention": "flash"}, "attention"),
        ({"positional": "relative"}, "positional"),
        ({"positional": "rotary", "d_model": 12, "num_heads": 4}, "num_heads"),
        ({"pooling": "first"}, "pooling"),
        ({"norm": "sandwich"}, "norm"),
        ({"dropout": 1.0}, "dropout"),
        ({"num_layers": 0}, "num_layers"),
        ({"max_length": 0}, "max_length"),
    ],
)
def test_bad_constructor_arguments_raise_config_value_error_naming_the_key(kwargs, key):
    with pytest.raises(ConfigValueError, match=f"^{key}=.*: expected"):
        TransformerClassifier(VOCAB, CLASSES, PAD, **{**TINY, **kwargs})
