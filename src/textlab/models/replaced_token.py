"""`pretrain.objective=electra`: replaced-token detection (ELECTRA, Clark et al. 2020).

A masked language model learns only from the ~15% of positions it masks. ELECTRA trains a small
masked LM (the generator) on those positions, puts its *samples* there, and trains the encoder
(the discriminator, the network fine-tuning keeps) to say at every position whether the token
is the original: a loss on all tokens, with which the paper found small encoders learn more per
unit of compute than with BERT's objective (on IMDb at 21M tokens it gained nothing here:
benchmarks/README.md). The generator is thrown away after pretraining.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textlab.models.language_model import LMOutput, TiedOutput, scored
from textlab.models.transformer import TransformerClassifier


class ReplacedTokenDetection(nn.Module):
    """`generator_lm` (ELECTRA's generator: a shallower transformer of the same width) fills
    the chosen positions of a block with samples from its masked-LM distribution; `encoder`
    predicts which positions were replaced. Both read one token table, as in ELECTRA: the
    generator's output projection is that table too.

    The loss is the generator's masked-LM loss plus `weight` x the encoder's per-token binary
    cross-entropy (ELECTRA's λ = 50: the detection loss is much smaller per token). `loss`,
    `correct` and `count` describe the generator's masked tokens (so perplexity reads like the
    MLM objective's); `parts` carries the detector's loss and accuracy, and the replaced share.
    """

    def __init__(
        self,
        encoder: TransformerClassifier,
        generator_lm: TransformerClassifier,
        mask_id: int,
        special_ids: list[int],
        rate: float = 0.15,
        weight: float = 50.0,
    ) -> None:
        super().__init__()
        if generator_lm.tokens.weight.shape != encoder.tokens.weight.shape:
            raise ValueError("the generator must be as wide as the encoder to share its table")
        generator_lm.tokens = encoder.tokens
        generator_lm.head = nn.Identity()  # its class head is never used
        self.encoder, self.generator_lm = encoder, generator_lm
        self.output = TiedOutput(encoder.tokens, encoder.tokens.embedding_dim)
        width = encoder.tokens.embedding_dim
        # ELECTRA's discriminator head: dense + GELU, then one logit per token
        self.detector = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 1))
        self.mask_id, self.rate, self.weight = mask_id, rate, weight
        self.register_buffer("special_ids", torch.tensor(special_ids), persistent=False)

    def forward(self, input_ids: Tensor, generator: torch.Generator | None = None) -> LMOutput:
        draw = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
        chosen = (draw < self.rate) & ~torch.isin(input_ids, self.special_ids)
        states, _ = self.generator_lm.encode(input_ids.masked_fill(chosen, self.mask_id), None)
        logits = self.output(states[chosen])  # (N, V): only the chosen positions
        masked_lm = scored(logits, input_ids[chosen])
        with torch.no_grad():  # a sample is not differentiable: the encoder's loss stops here
            samples = sample_rows(logits, generator)
        corrupted = input_ids.clone()
        corrupted[chosen] = samples
        # a sample that happens to be the original token is original, as ELECTRA labels it
        replaced = (corrupted != input_ids).float()
        hidden, _ = self.encoder.encode(corrupted, None)
        detected = self.detector(hidden).squeeze(-1).float()  # (B, T) logits
        detection = F.binary_cross_entropy_with_logits(detected, replaced)
        accuracy = ((detected > 0).float() == replaced).float().mean()
        return masked_lm._replace(
            total=masked_lm.loss + self.weight * detection,
            # `replaced`: the share an encoder answering "original" everywhere gets wrong
            parts={
                "detect_loss": detection.detach(),
                "detect_acc": accuracy,
                "replaced": replaced.mean(),
            },
        )


def sample_rows(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One id per row of (N, V) logits, drawn from their softmax, by inverting the cumulative
    distribution: one uniform number a row. torch.multinomial draws an exponential number for
    every entry instead, which took 0.4 s a step of 1,228 x 20,000 on a CPU thread (the whole
    rest of the step 0.7 s); this takes a few tens of ms."""
    cumulative = F.softmax(logits.float(), dim=-1).cumsum(dim=-1)  # (N, V)
    uniform = torch.rand(logits.size(0), 1, generator=generator, device=logits.device)
    # scaled by the last entry, not 1: float32 sums of 20k terms are off by ~1e-6
    drawn = torch.searchsorted(cumulative, uniform * cumulative[:, -1:], right=True)
    return drawn.squeeze(1).clamp(max=logits.size(1) - 1)
