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

from textlab.base.errors import require_off_or
from textlab.models.language_model import LMOutput, TiedOutput, masked_token_loss
from textlab.models.token_noise import NoiseIds
from textlab.models.transformer import TransformerClassifier


class AuxiliaryMLM(nn.Module):
    """BERT's masked-token loss of a batch through a classifier's transformer encoder.

    Its prediction head is the pretraining one, tied to the classifier's token table: mode=train
    copies the trained transform and bias from `pretrained=` (checkpoint/pretrained.py), and
    they stay fixed, so the loss holds the encoder (and the table) to the language model
    pretraining left, rather than letting a head drift to follow the encoder. It masks a
    separate copy of the batch, so the classification pass still reads the reviews whole.
    """

    def __init__(self, net: nn.Module, ids: NoiseIds, rate: float = 0.15) -> None:
        super().__init__()
        assert isinstance(net, TransformerClassifier), "check_mlm refuses other networks"
        self.output = TiedOutput(net.tokens, net.tokens.embedding_dim)
        self.output.transform.requires_grad_(False)
        self.output.bias.requires_grad_(False)
        self.mask_id, self.rate = ids.noise, rate
        self.register_buffer("special_ids", torch.tensor(ids.special), persistent=False)

    def forward(self, net: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> LMOutput:
        assert isinstance(net, TransformerClassifier)
        return masked_token_loss(
            net, self.output, input_ids, attention_mask, self.special_ids, self.mask_id, self.rate
        )


def check_mlm(weight: float, net: nn.Module) -> None:
    not_transformer = f"0 for {type(net).__name__}: the masked-token loss needs model=transformer"
    require_off_or("mlm_weight", weight, isinstance(net, TransformerClassifier), not_transformer)
