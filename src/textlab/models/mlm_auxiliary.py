"""Masked language modelling kept up while a pretrained transformer fine-tunes
(`module.mlm_weight`).

Fine-tuning pulls the encoder towards whatever separates the training labels, and on IMDb that
overfits within an epoch. Adding the pretraining objective to the classification loss, on the
same batches, keeps the encoder a model of the language while it learns the task (Chronopoulou
et al. 2019, "An Embarrassingly Simple Approach for Transfer Learning from Pretrained Language
Models"; Howard & Ruder 2018 fine-tune the language model first for the same reason).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from textlab.base.errors import UserError, require_off_or
from textlab.models.language_model import IGNORE, LMOutput, TiedOutput, mask_tokens, scored
from textlab.models.token_noise import NoiseIds
from textlab.models.transformer import TransformerClassifier

# The pretraining checkpoint's MaskedLanguageModel holds this head as `output`, under `net.`.
PRETRAINED_HEAD_PREFIX = "net.output."
TABLE = "embedding.weight"  # the head's view of the token table it is tied to


class AuxiliaryMLM(nn.Module):
    """BERT's masked-token loss of a batch through a classifier's transformer encoder.

    Its prediction head is the pretraining one, tied to the classifier's token table: mode=train
    copies the trained transform and bias from `pretrained=`, and they stay fixed, so the loss
    holds the encoder (and the table) to the language model pretraining left, rather than
    letting a head drift to follow the encoder. It masks a separate copy of the batch, so the
    classification pass still reads the reviews whole.
    """

    def __init__(self, net: nn.Module, ids: NoiseIds, rate: float = 0.15) -> None:
        super().__init__()
        assert isinstance(net, TransformerClassifier), "module.check_mlm refuses other networks"
        self.output = TiedOutput(net.tokens, net.tokens.embedding_dim)
        self.output.transform.requires_grad_(False)
        self.output.bias.requires_grad_(False)
        self.mask_id, self.rate = ids.noise, rate
        self.register_buffer("special_ids", torch.tensor(ids.special), persistent=False)

    def forward(self, net: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> LMOutput:
        assert isinstance(net, TransformerClassifier)
        maskable = attention_mask.bool() & ~torch.isin(input_ids, self.special_ids)
        vocab_size = net.tokens.num_embeddings
        corrupted, targets = mask_tokens(input_ids, maskable, self.mask_id, vocab_size, self.rate)
        states, _ = net.encode(corrupted, attention_mask)
        chosen = targets != IGNORE
        return scored(self.output(states[chosen]), targets[chosen])

    def load_pretrained(self, state_dict: dict[str, Tensor], path: str) -> None:
        """The transform and bias of a mode=pretrain checkpoint's prediction head (the table is
        the classifier's own, already loaded with the encoder)."""
        head = {
            key.removeprefix(PRETRAINED_HEAD_PREFIX): value
            for key, value in state_dict.items()
            if key.startswith(PRETRAINED_HEAD_PREFIX)
        }
        head.pop(TABLE, None)
        missing = [key for key in self.output.state_dict() if key not in head and key != TABLE]
        if missing:
            raise UserError(
                f"pretrained={path} has no {PRETRAINED_HEAD_PREFIX}{missing[0]}; module.mlm_weight "
                "expected a transformer's mode=pretrain checkpoint"
            )
        self.output.load_state_dict(head, strict=False)


def check_mlm(weight: float, net: nn.Module) -> None:
    not_transformer = f"0 for {type(net).__name__}: the masked-token loss needs model=transformer"
    require_off_or("mlm_weight", weight, isinstance(net, TransformerClassifier), not_transformer)
