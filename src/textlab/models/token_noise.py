"""Token masking as input noise while training a classifier (`module.token_mask_rate`).

Each training batch hides a random share of its real tokens behind one id: [MASK] where the
tokenizer came from masked-language-model pretraining (the encoder has learnt to read around
it), [UNK] otherwise. A network that can no longer count on any single word has to gather
evidence from the whole review: word dropout (Iyyer et al. 2015), and the input noise of the
noisy student (Xie et al. 2020), where a student learns its teacher's clean predictions from
noised inputs. Validation, test and predictions read the text whole.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from tokenizers import Tokenizer
from torch import Tensor

from textlab.tokenization import MASK_TOKEN, UNK_TOKEN, special_id, special_ids


class NoiseIds(NamedTuple):
    """The id that hides a token, and the special ids ([PAD], [CLS], ...) never hidden."""

    noise: int
    special: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> NoiseIds:
        mask = tokenizer.token_to_id(MASK_TOKEN)
        noise = mask if mask is not None else special_id(tokenizer, UNK_TOKEN)
        return cls(noise, tuple(special_ids(tokenizer)))


def mask_at_random(input_ids: Tensor, attention_mask: Tensor, rate: float, ids: NoiseIds) -> Tensor:
    """`input_ids` with each real, non-special token replaced by `ids.noise` with probability
    `rate`, independently (drawn from torch's global generator, which the run seeds)."""
    special = torch.tensor(ids.special, dtype=input_ids.dtype, device=input_ids.device)
    hide = torch.rand(input_ids.shape, device=input_ids.device) < rate
    hide &= attention_mask.bool() & ~torch.isin(input_ids, special)
    return torch.where(hide, torch.full_like(input_ids, ids.noise), input_ids)


def noised_batch(batch: dict[str, Tensor], rate: float, ids: NoiseIds | None) -> dict[str, Tensor]:
    """A training batch with its `input_ids` masked at random (the rest shared, not copied)."""
    assert ids is not None, "mode=train passes the tokenizer's noise ids"
    masked = mask_at_random(batch["input_ids"], batch["attention_mask"], rate, ids)
    return {**batch, "input_ids": masked}
