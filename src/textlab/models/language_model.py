"""Pretraining objectives around a classifier's encoder, so that fine-tuning starts from weights
that already know the language: masked and causal language modelling for the transformer,
next-token prediction in both directions for the recurrent network.

Each objective takes a block of token ids (B, T) and returns the loss with the number of
predicted tokens and how many of them were right. The output projection is the input embedding
itself (tied weights, Press & Wolf 2017): one vocabulary table to learn, not two.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textlab.base.errors import ConfigValueError
from textlab.models.rnn import RNNClassifier
from textlab.models.transformer import TransformerClassifier

OBJECTIVES = ("mlm", "causal", "electra", "next_token")
IGNORE = -100  # target of a position that carries no loss (F.cross_entropy's ignore_index)


class LMOutput(NamedTuple):
    loss: Tensor  # mean over predicted positions
    correct: Tensor  # predicted positions whose argmax is the target (exact, or among samples)
    count: Tensor  # predicted positions
    total: Tensor | None = None  # what training minimises, when more than `loss` (electra)
    parts: dict[str, Tensor] | None = None  # further per-batch figures to log (electra)

    @property
    def minimised(self) -> Tensor:
        """What training steps on: `total` where the objective has one, else `loss`."""
        return self.loss if self.total is None else self.total


def mask_tokens(
    input_ids: Tensor,
    maskable: Tensor,
    mask_id: int,
    vocab_size: int,
    rate: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """BERT's corruption: `rate` of the maskable positions are chosen; of those 80% become
    [MASK], 10% a random token, 10% stay. Returns (corrupted ids, targets): the original id
    at chosen positions and IGNORE everywhere else, so only chosen positions carry loss."""
    draw = lambda: torch.rand(input_ids.shape, generator=generator, device=input_ids.device)  # noqa: E731
    chosen = (draw() < rate) & maskable
    targets = torch.where(chosen, input_ids, IGNORE)
    to_mask = chosen & (draw() < 0.8)
    to_random = chosen & ~to_mask & (draw() < 0.5)  # half of the remaining 20%
    random_ids = torch.randint(
        vocab_size, input_ids.shape, generator=generator, device=input_ids.device
    )
    corrupted = torch.where(to_mask, mask_id, input_ids)
    corrupted = torch.where(to_random, random_ids, corrupted)
    return corrupted, targets


def scored(logits: Tensor, targets: Tensor) -> LMOutput:
    """Cross-entropy and accuracy of (N, V) logits against (N,) targets (IGNORE skipped)."""
    keep = targets != IGNORE
    loss = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE)
    correct = ((logits.argmax(dim=-1) == targets) & keep).sum()
    return LMOutput(loss, correct, keep.sum())


class TiedOutput(nn.Module):
    """Hidden states (..., C) -> vocabulary logits through the token embedding (V, E).

    BERT's prediction head: dense + GELU + LayerNorm before the shared table; the dense layer
    also maps C to E when they differ (the recurrent network's states to its embedding).
    The LayerNorm's gain starts at most 1/(√E·std(table)), so that the first logits have about
    unit scale: an RNN's N(0, 1) embedding would otherwise start them at ~√E (loss ~20, not
    log V), while the transformer's N(0, 0.02²) table keeps BERT's gain of 1.
    """

    def __init__(self, embedding: nn.Embedding, hidden_size: int) -> None:
        super().__init__()
        vocab_size, embedding_dim = embedding.weight.shape
        self.embedding = embedding
        self.transform = nn.Sequential(
            nn.Linear(hidden_size, embedding_dim), nn.GELU(), nn.LayerNorm(embedding_dim)
        )
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        with torch.no_grad():
            spread = float(embedding.weight.std()) * embedding_dim**0.5
            self.transform[2].weight.fill_(min(1.0, 1.0 / max(spread, 1e-6)))

    def hidden(self, states: Tensor) -> Tensor:
        return self.transform(states)

    def forward(self, states: Tensor) -> Tensor:
        return F.linear(self.hidden(states), self.embedding.weight, self.bias)


class MaskedLanguageModel(nn.Module):
    """The transformer reads the corrupted block and predicts the original chosen tokens."""

    def __init__(
        self,
        encoder: TransformerClassifier,
        mask_id: int,
        special_ids: list[int],
        rate: float = 0.15,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.output = TiedOutput(encoder.tokens, encoder.tokens.embedding_dim)
        self.mask_id, self.rate = mask_id, rate
        self.register_buffer("special_ids", torch.tensor(special_ids), persistent=False)

    def forward(self, input_ids: Tensor, generator: torch.Generator | None = None) -> LMOutput:
        return masked_token_loss(
            self.encoder, self.output, input_ids, None, self.special_ids, self.mask_id, self.rate,
            generator,
        )  # fmt: skip


def masked_token_loss(
    encoder: TransformerClassifier,
    output: TiedOutput,
    input_ids: Tensor,
    attention_mask: Tensor | None,
    special_ids: Tensor,
    mask_id: int,
    rate: float,
    generator: torch.Generator | None = None,
) -> LMOutput:
    """BERT's loss of one batch: `encoder` reads it corrupted (mask_tokens) and `output`
    predicts the chosen tokens. Never chosen: special ids ([PAD] [CLS] [MASK] ...) and, given
    `attention_mask`, padding (a pretraining block has none)."""
    maskable = ~torch.isin(input_ids, special_ids)
    if attention_mask is not None:
        maskable &= attention_mask.bool()
    vocab_size = encoder.tokens.num_embeddings
    corrupted, targets = mask_tokens(input_ids, maskable, mask_id, vocab_size, rate, generator)
    states, _ = encoder.encode(corrupted, attention_mask)  # (B, T, C)
    chosen = targets != IGNORE
    # only the ~15% chosen positions go through the vocabulary projection
    return scored(output(states[chosen]), targets[chosen])


class CausalLanguageModel(nn.Module):
    """The transformer, each position seeing only earlier ones, predicts the next token."""

    def __init__(self, encoder: TransformerClassifier) -> None:
        super().__init__()
        self.encoder = encoder
        self.output = TiedOutput(encoder.tokens, encoder.tokens.embedding_dim)

    def forward(self, input_ids: Tensor, generator: torch.Generator | None = None) -> LMOutput:
        states, _ = self.encoder.encode(input_ids, None, causal=True)  # (B, T, C)
        logits = self.output(states[:, :-1])  # (B, T-1, V): position t predicts t + 1
        return scored(logits.flatten(0, 1), input_ids[:, 1:].flatten())


class RecurrentLanguageModel(nn.Module):
    """The recurrent network predicts the next token from its forward states and, when it is
    bidirectional, the previous token from its backward states (ELMo's two directions).

    With `num_sampled` > 0, training scores each target against that many negatives drawn
    from the unigram distribution ** 0.75 (`unigram`), corrected by log(expected count) (Jean
    et al. 2015): the full softmax over a 20k vocabulary costs ~10x the LSTM itself on a CPU.
    Evaluation always uses the full softmax, so validation loss and perplexity are exact.
    """

    def __init__(
        self, encoder: RNNClassifier, unigram: Tensor | None = None, num_sampled: int = 0
    ) -> None:
        super().__init__()
        rnn = encoder.rnn
        if rnn.bidirectional and rnn.num_layers > 1:
            # nn.LSTM feeds both directions of layer 1 to each direction of layer 2, so the
            # "forward" states of layer 2 have already read the token they are asked for
            raise ConfigValueError(
                f"model.num_layers={rnn.num_layers}: language-model pretraining of a "
                "bidirectional RNN needs num_layers=1 (upper layers would see the future)"
            )
        self.encoder = encoder
        self.hidden_size = rnn.hidden_size
        self.directions = 2 if rnn.bidirectional else 1
        self.output = TiedOutput(encoder.embedding, self.hidden_size)
        self.num_sampled = num_sampled
        if num_sampled > 0:
            if unigram is None:
                raise ValueError("sampled softmax needs the unigram counts")
            smoothed = unigram.double().clamp(min=1) ** 0.75
            self.register_buffer("sampling", (smoothed / smoothed.sum()).float(), persistent=False)

    def forward(self, input_ids: Tensor, generator: torch.Generator | None = None) -> LMOutput:
        mask = torch.ones_like(input_ids, dtype=torch.bool)
        states, _ = self.encoder.states(input_ids, mask)  # (B, T, H*dirs)
        hidden = [states[:, :-1, : self.hidden_size]]  # forward at t predicts t + 1
        targets = [input_ids[:, 1:]]
        if self.directions == 2:
            hidden.append(states[:, 1:, self.hidden_size :])  # backward at t predicts t - 1
            targets.append(input_ids[:, :-1])
        flat_states = torch.cat([h.flatten(0, 1) for h in hidden])  # (N, H)
        flat_targets = torch.cat([t.flatten() for t in targets])  # (N,)
        if self.training and self.num_sampled > 0:
            return self.sampled(flat_states, flat_targets, generator)
        return scored(self.output(flat_states), flat_targets)

    def sampled(
        self, states: Tensor, targets: Tensor, generator: torch.Generator | None
    ) -> LMOutput:
        """Sampled softmax: the target and `num_sampled` shared negatives, logQ-corrected."""
        negatives = torch.multinomial(
            self.sampling, self.num_sampled, replacement=True, generator=generator
        )  # (K,)
        hidden = self.output.hidden(states)  # (N, E)
        table, bias = self.output.embedding.weight, self.output.bias
        expected = (self.sampling * self.num_sampled).log()  # log(K q(w)) per word
        true_logit = (hidden * table[targets]).sum(-1) + bias[targets] - expected[targets]
        neg_logits = hidden @ table[negatives].T + bias[negatives] - expected[negatives]  # (N, K)
        # a negative that is the target itself would count the right word as wrong
        neg_logits = neg_logits.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
        logits = torch.cat([true_logit[:, None], neg_logits], dim=1).float()  # (N, 1 + K)
        loss = F.cross_entropy(logits, torch.zeros_like(targets))
        correct = (logits.argmax(dim=-1) == 0).sum()
        return LMOutput(loss, correct, torch.tensor(targets.numel(), device=targets.device))


def objective_for(
    encoder: nn.Module,
    objective: str,
    mask_id: int | None,
    special_ids: list[int],
    mask_rate: float,
    unigram: Tensor | None,
    num_sampled: int,
    generator_lm: nn.Module | None = None,
    detection_weight: float = 50.0,
) -> nn.Module:
    """The pretraining objective `objective` (mlm | causal | electra | next_token | auto) for
    `encoder`; electra also needs `generator_lm`, a shallower network of the encoder's width."""
    if objective == "auto":
        objective = "mlm" if isinstance(encoder, TransformerClassifier) else "next_token"
    if hasattr(encoder, "head"):
        # the class head is fine-tuning's, started fresh; left in, DDP would find it unused
        encoder.head = nn.Identity()
    if objective in ("mlm", "causal", "electra") and isinstance(encoder, TransformerClassifier):
        if objective == "electra":
            # imported here: replaced_token builds on this module's pieces
            from textlab.models.replaced_token import ReplacedTokenDetection

            assert mask_id is not None and isinstance(generator_lm, TransformerClassifier)
            return ReplacedTokenDetection(
                encoder, generator_lm, mask_id, special_ids, mask_rate, detection_weight
            )
        if objective == "causal":
            return CausalLanguageModel(encoder)
        assert mask_id is not None
        return MaskedLanguageModel(encoder, mask_id, special_ids, mask_rate)
    if objective == "next_token" and isinstance(encoder, RNNClassifier):
        return RecurrentLanguageModel(encoder, unigram, num_sampled)
    fits = "mlm, causal or electra" if isinstance(encoder, TransformerClassifier) else "next_token"
    if not isinstance(encoder, (TransformerClassifier, RNNClassifier)):
        raise ConfigValueError(
            f"model._target_={type(encoder).__name__}: pretraining needs the transformer or an "
            "RNN (model=transformer|lstm|gru|rnn)"
        )
    raise ConfigValueError(
        f"pretrain.objective={objective}: expected {fits} (or auto) for {type(encoder).__name__}"
    )
