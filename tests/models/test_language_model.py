"""Pretraining objectives: masking statistics, causal attention, tied weights, and that each
objective actually learns a tiny language."""

import math

import pytest
import torch
import torch.nn.functional as F

from textlab.models.attention import MultiHeadAttention
from textlab.models.language_model import (
    IGNORE,
    CausalLanguageModel,
    MaskedLanguageModel,
    RecurrentLanguageModel,
    mask_tokens,
    objective_for,
)
from textlab.models.positional import AlibiBias
from textlab.models.rnn import RNNClassifier
from textlab.models.transformer import TransformerClassifier

PAD, UNK, CLS, MASK = 0, 1, 2, 3
SPECIALS = [PAD, UNK, CLS, MASK]
VOCAB = 50


def transformer(**kwargs) -> TransformerClassifier:
    options = dict(
        d_model=32,
        num_heads=4,
        num_layers=2,
        ffn_dim=64,
        dropout=0.0,
        max_length=64,
        positional="rotary",
    )
    return TransformerClassifier(VOCAB, 2, PAD, **(options | kwargs))


def test_mlm_masking_follows_berts_15_80_10_10_and_never_touches_special_tokens():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 5000, (400, 500), generator=generator)
    ids[:, 0] = CLS
    maskable = ids != CLS
    corrupted, targets = mask_tokens(ids, maskable, MASK, 5000, 0.15, generator)
    chosen = targets != IGNORE
    assert chosen.float().mean().item() == pytest.approx(0.15 * 499 / 500, abs=0.003)
    assert not chosen[:, 0].any() and torch.equal(corrupted[:, 0], ids[:, 0])
    assert torch.equal(targets[chosen], ids[chosen])  # the original token is the target
    assert torch.equal(corrupted[~chosen], ids[~chosen])  # the rest is left as it was
    as_mask = (corrupted[chosen] == MASK).float().mean().item()
    kept = (corrupted[chosen] == ids[chosen]).float().mean().item()
    replaced = 1 - as_mask - kept
    assert as_mask == pytest.approx(0.8, abs=0.01)
    assert kept == pytest.approx(0.1, abs=0.01)  # + random draws of the same id: 1 in 5000
    assert replaced == pytest.approx(0.1, abs=0.01)


def test_mlm_loss_comes_from_the_chosen_positions_only():
    torch.manual_seed(0)
    model = MaskedLanguageModel(transformer(), MASK, SPECIALS, rate=0.3).eval()
    ids = torch.randint(4, VOCAB, (4, 24))
    out = model(ids, torch.Generator().manual_seed(5))
    corrupted, targets = mask_tokens(
        ids,
        torch.ones_like(ids, dtype=torch.bool),
        MASK,
        VOCAB,
        0.3,
        torch.Generator().manual_seed(5),
    )
    # full logits at every position: the ignored ones must change nothing
    states, _ = model.encoder.encode(corrupted, None)
    logits = model.output(states)  # (B, T, V)
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    assert out.count == (targets != IGNORE).sum() > 0
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # a different token at an unchosen position changes its input, never a target
    assert (targets[targets == IGNORE] == IGNORE).all()


@pytest.mark.parametrize("bias", [False, True], ids=["plain", "alibi"])
@pytest.mark.parametrize("padding", [False, True], ids=["no-padding", "padding"])
def test_causal_attention_by_hand_equals_sdpa_is_causal_in_outputs_and_gradients(bias, padding):
    torch.manual_seed(0)
    alibi = AlibiBias(16, 4) if bias else None
    manual = MultiHeadAttention(32, 4, impl="manual", score_bias=alibi)
    fused = MultiHeadAttention(32, 4, impl="sdpa", score_bias=alibi)
    fused.load_state_dict(manual.state_dict())
    x = torch.randn(3, 10, 32)
    mask = None
    if padding:
        mask = torch.ones(3, 10, dtype=torch.bool)
        mask[1, 7:] = False
    outputs, grads = [], []
    for attention in (manual, fused):
        inputs = x.clone().requires_grad_(True)
        y, _ = attention(inputs, mask, causal=True)
        y.pow(2).sum().backward()
        outputs.append(y)
        grads.append((inputs.grad, attention.qkv.weight.grad))
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-5)
    for by_hand, by_kernel in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(by_hand, by_kernel, atol=1e-4, rtol=1e-4)


def test_causal_encoder_never_sees_later_tokens():
    torch.manual_seed(0)
    encoder = transformer(positional="rotary").eval()
    ids = torch.randint(4, VOCAB, (2, 12))
    changed = ids.clone()
    changed[:, 8:] = (changed[:, 8:] + 7) % VOCAB
    before, _ = encoder.encode(ids, None, causal=True)
    after, _ = encoder.encode(changed, None, causal=True)
    torch.testing.assert_close(before[:, :8], after[:, :8])
    assert not torch.allclose(before[:, 8:], after[:, 8:])


def test_output_projection_is_the_input_embedding_itself():
    for model in (
        MaskedLanguageModel(transformer(), MASK, SPECIALS),
        CausalLanguageModel(transformer()),
        RecurrentLanguageModel(RNNClassifier(VOCAB, 2, PAD, 16, 16)),
    ):
        table = model.output.embedding.weight
        encoder_table = next(
            m for m in model.encoder.modules() if isinstance(m, torch.nn.Embedding)
        ).weight
        assert table is encoder_table
        names = [name for name, p in model.named_parameters() if p is table]
        assert len(names) == 1  # one parameter, so one optimiser update, not two


def test_a_bidirectional_rnn_with_stacked_layers_is_refused_for_language_modelling():
    rnn = RNNClassifier(VOCAB, 2, PAD, 16, 16, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match="num_layers=1"):
        RecurrentLanguageModel(rnn)


def test_objective_for_picks_by_model_and_rejects_mismatches():
    assert isinstance(
        objective_for(transformer(), "auto", MASK, SPECIALS, 0.15, None, 0), MaskedLanguageModel
    )
    rnn = RNNClassifier(VOCAB, 2, PAD, 16, 16)
    assert isinstance(
        objective_for(rnn, "auto", MASK, SPECIALS, 0.15, None, 0), RecurrentLanguageModel
    )
    with pytest.raises(ValueError, match="pretrain.objective=mlm"):
        objective_for(RNNClassifier(VOCAB, 2, PAD, 16, 16), "mlm", MASK, SPECIALS, 0.15, None, 0)


def repeating_corpus(batch: int, length: int) -> torch.Tensor:
    """A tiny language: cycles of 8 distinct tokens at random phases."""
    cycle = torch.arange(4, 12)
    starts = torch.randint(0, 8, (batch,))
    positions = (starts[:, None] + torch.arange(length)[None, :]) % 8
    return cycle[positions]


def train(model: torch.nn.Module, steps: int, lr: float, bf16: bool = False) -> float:
    """AdamW steps on the tiny language, then the held-out loss; `bf16`: under autocast, as
    trainer.precision=bf16-mixed runs (weights and optimiser stay float32)."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    for _ in range(steps):
        with autocast:
            out = model(repeating_corpus(16, 24))
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad(), autocast:
        return model(repeating_corpus(64, 24), torch.Generator().manual_seed(1)).loss.item()


@pytest.mark.parametrize("objective", ["mlm", "causal", "next_token-full", "next_token-sampled"])
def test_language_model_loss_on_a_tiny_corpus_falls_far_below_log_vocab(objective):
    torch.manual_seed(0)
    if objective.startswith("next_token"):
        unigram = torch.ones(VOCAB)
        sampled = 8 if objective.endswith("sampled") else 0
        model = RecurrentLanguageModel(
            RNNClassifier(VOCAB, 2, PAD, 32, 32, dropout=0.0), unigram, sampled
        )
    elif objective == "mlm":
        model = MaskedLanguageModel(transformer(), MASK, SPECIALS, rate=0.15)
    else:
        model = CausalLanguageModel(transformer())
    # masking scores ~15% of positions, so it needs more steps for as many targets
    loss = train(model, steps=300 if objective == "mlm" else 150, lr=3e-3)
    # a model that learned nothing sits at log(50) = 3.9; the cycle makes every token certain
    # given its neighbour, except the first of a causal block
    assert loss < 0.15 * math.log(VOCAB), loss


def test_masked_language_model_learns_under_bf16_autocast():
    # the GPU recipe's objective and precision (imdb_pretrain_transformer_gpu): the masked
    # positions' gather and the tied projection run in bf16, the loss and weights in float32
    torch.manual_seed(0)
    model = MaskedLanguageModel(transformer(), MASK, SPECIALS, rate=0.15)
    loss = train(model, steps=300, lr=3e-3, bf16=True)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert loss < 0.15 * math.log(VOCAB), loss
