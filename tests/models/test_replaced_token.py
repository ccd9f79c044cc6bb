"""ELECTRA's replaced-token detection (`pretrain.objective=electra`): the sampler, what the
encoder is shown and asked, where each loss's gradient goes, and that it learns a tiny language."""

import math

import pytest
import torch
import torch.nn.functional as F
from test_language_model import MASK, PAD, SPECIALS, VOCAB, repeating_corpus, transformer

import textlab.models.replaced_token as replaced_token
from textlab.models.language_model import objective_for
from textlab.models.replaced_token import ReplacedTokenDetection, sample_rows
from textlab.models.rnn import RNNClassifier


def electra(rate: float = 0.15, weight: float = 50.0) -> ReplacedTokenDetection:
    return ReplacedTokenDetection(
        transformer(), transformer(num_layers=1), MASK, SPECIALS, rate, weight
    )


def test_sample_rows_draws_from_the_softmax_and_never_an_impossible_id():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0])
    logits = probs.log().expand(200_000, -1)  # log(0) = -inf: never to be drawn
    drawn = sample_rows(logits, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(drawn, minlength=5).float() / len(drawn)
    # binomial standard error at 200k draws is at most 0.0011
    assert torch.allclose(frequencies, probs, atol=0.005), frequencies
    assert frequencies[4] == 0


def test_sample_rows_reads_each_row_on_its_own():
    logits = torch.full((3, 6), -30.0)
    logits[0, 2] = logits[1, 5] = logits[2, 0] = 30.0  # one near-certain id per row
    assert sample_rows(logits).tolist() == [2, 5, 0]


def test_generator_and_encoder_share_one_token_table_which_is_also_the_output():
    model = electra()
    table = model.encoder.tokens.weight
    assert model.generator_lm.tokens.weight is table and model.output.embedding.weight is table
    assert [name for name, p in model.named_parameters() if p is table] == [
        "encoder.tokens.weight"
    ]  # one parameter, one optimiser update


def inputs_seen(model: ReplacedTokenDetection, ids: torch.Tensor) -> tuple:
    """What the generator and then the encoder read in one forward pass (the shared table's
    inputs, in call order), and the pass's output."""
    seen = []
    hook = model.encoder.tokens.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    out = model(ids, torch.Generator().manual_seed(0))
    hook.remove()
    return seen, out


def test_the_generator_reads_masks_and_the_encoder_its_samples_at_the_same_positions():
    torch.manual_seed(0)
    ids = torch.randint(4, VOCAB, (64, 40))
    ids[:, 0] = 2  # a special id ([CLS]): never chosen
    (masked, corrupted), out = inputs_seen(electra(), ids)
    chosen = masked == MASK
    assert chosen.float().mean().item() == pytest.approx(0.15, abs=0.02)
    assert not chosen[:, 0].any() and out.count == chosen.sum()
    assert torch.equal(masked[~chosen], ids[~chosen])
    assert torch.equal(corrupted[~chosen], ids[~chosen])  # only chosen positions change
    changed = (corrupted != ids)[chosen].float().mean().item()
    # an untrained generator samples almost uniformly over 50 ids: about 1 in 50 is the original
    assert 0.9 < changed < 1.0
    assert out.parts is not None and set(out.parts) == {"detect_loss", "detect_acc", "replaced"}
    assert out.parts["replaced"].item() == pytest.approx((corrupted != ids).float().mean().item())


def test_a_sample_equal_to_the_original_is_labelled_original(monkeypatch):
    model = electra()
    ids = torch.randint(4, VOCAB, (8, 30))  # no special ids: every position may be chosen
    # the forward pass's first draw from a generator seeded 0 picks the same positions
    chosen = torch.rand(ids.shape, generator=torch.Generator().manual_seed(0)) < 0.15
    # a generator that samples the original token everywhere replaces nothing ...
    monkeypatch.setattr(replaced_token, "sample_rows", lambda logits, generator=None: ids[chosen])
    with torch.no_grad():  # ... so a detector sure that every token is original is right
        model.detector[-1].weight.zero_()
        model.detector[-1].bias.fill_(-20.0)
    out = model(ids, torch.Generator().manual_seed(0))
    assert out.count == chosen.sum() > 0
    assert out.parts["detect_acc"].item() == 1.0 and out.parts["replaced"].item() == 0.0
    assert out.parts["detect_loss"].item() < 1e-6


def gradients(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_the_detection_loss_never_reaches_the_generators_own_layers():
    # the samples are drawn without gradient, so the generator's layers learn from its masked-LM
    # loss alone, while the encoder learns from detection and the shared table from both
    torch.manual_seed(0)
    model = electra()
    ids = torch.randint(4, VOCAB, (16, 24))
    run = lambda: model(ids, torch.Generator().manual_seed(3))  # noqa: E731 (same draws twice)
    out = run()
    from_total = gradients(model, out.total)
    from_lm = gradients(model, run().loss)
    generator_layers = [n for n in from_lm if n.startswith("generator_lm.blocks")]
    assert generator_layers
    for name in generator_layers:
        torch.testing.assert_close(from_total[name], from_lm[name], rtol=1e-4, atol=1e-7)
    assert not any(name.startswith("encoder.blocks") for name in from_lm)
    assert any(from_total[n].abs().sum() > 0 for n in from_total if n.startswith("encoder.blocks"))
    table = "encoder.tokens.weight"
    assert not torch.allclose(from_total[table], from_lm[table])  # detection moves it too
    torch.testing.assert_close(
        out.total, out.loss + 50.0 * out.parts["detect_loss"], rtol=1e-6, atol=1e-6
    )
    assert out.minimised is out.total  # what the pretraining module steps on


def test_objective_for_builds_electra_for_the_transformer_only():
    built = objective_for(
        transformer(), "electra", MASK, SPECIALS, 0.15, None, 0, transformer(num_layers=1), 7.0
    )
    assert isinstance(built, ReplacedTokenDetection) and built.weight == 7.0
    with pytest.raises(ValueError, match="pretrain.objective=electra"):
        rnn = RNNClassifier(VOCAB, 2, PAD, 16, 16)
        objective_for(rnn, "electra", MASK, SPECIALS, 0.15, None, 0)


def train(model: ReplacedTokenDetection, steps: int = 300):
    """AdamW on `total` over the tiny language, then one held-out pass in eval mode."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=3e-3)
    for _ in range(steps):
        out = model(repeating_corpus(16, 24))
        optimiser.zero_grad()
        out.total.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        return model(repeating_corpus(64, 24), torch.Generator().manual_seed(1))


def test_electras_generator_learns_a_tiny_language():
    torch.manual_seed(0)
    out = train(electra())
    # log(50) = 3.9 knowing nothing; the cycle makes every masked token certain
    assert out.loss.item() < 0.15 * math.log(VOCAB), out.loss


def test_electras_encoder_learns_to_spot_replaced_tokens():
    # the generator's own layers held at random: it keeps proposing wrong tokens (1 in 50 is
    # right by chance), so about a quarter of the positions are replaced, and the encoder has to
    # find them from the cycle they break
    torch.manual_seed(0)
    model = electra(rate=0.25)
    for part in (model.generator_lm.blocks, model.generator_lm.final_norm, model.output.transform):
        part.requires_grad_(False)
    model.output.bias.requires_grad_(False)
    out = train(model)
    replaced = 0.25 * 49 / 50
    guessing = F.binary_cross_entropy(torch.tensor(replaced), torch.tensor(replaced)).item()
    assert out.parts["detect_loss"].item() < 0.3 * guessing, out.parts
    assert out.parts["detect_acc"].item() > 0.95
