"""Which tokens a prediction rests on, for the demo page.

Occlusion works for every model and backend: drop one token, predict again, and the token's
weight is how much the predicted label's probability falls without it (negative: the token
argued against the label). A network that shows its attention (the transformer) also gives
its last layer's attention from the pooled position, averaged over heads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from textlab.models.protocols import ShowsAttention
from textlab.run.inference import TextPredictor
from textlab.tokenization import encode_spans

OCCLUSION_BATCH = 64  # texts per forward pass: a 512-token review is 511 variants


def occlusion(predictor: TextPredictor, ids: list[int]) -> tuple[list[float], list[float]]:
    """(class probabilities of `ids`, a weight per token); [CLS] always weighs 0."""
    variants = [ids] + [ids[:i] + ids[i + 1 :] for i in range(1, len(ids))]
    probs = torch.cat(
        [
            predictor.of_ids(variants[start : start + OCCLUSION_BATCH])
            for start in range(0, len(variants), OCCLUSION_BATCH)
        ]
    )  # (T, C): the review, then the review without token i for i = 1..T-1
    label = int(probs[0].argmax())
    drops = (probs[0, label] - probs[1:, label]).tolist()
    return probs[0].tolist(), [0.0, *drops]


@torch.no_grad()
def pooled_attention(net: nn.Module, ids: list[int]) -> list[float] | None:
    """Last layer's attention (mean over heads) from the position the classifier pools."""
    if not isinstance(net, ShowsAttention):
        return None
    input_ids = torch.tensor([ids])
    mask = torch.ones_like(input_ids, dtype=torch.bool)
    device = next(net.parameters()).device
    last = net.attention_maps(input_ids.to(device), mask.to(device))[-1][0].mean(0)  # (T, T)
    # [CLS] pooling reads row 0; mean pooling averages every position's row
    row = last[0] if getattr(net, "pooling", "cls") == "cls" else last.mean(0)
    return row.float().cpu().tolist()


def explain(predictor: TextPredictor, attention_net: nn.Module | None, text: str) -> dict[str, Any]:
    """Probabilities, and per kept token its characters in `text` and its weights."""
    ids, offsets = encode_spans(predictor.tokenizer, text, predictor.max_length)
    probs, weights = occlusion(predictor, ids)
    attention = pooled_attention(attention_net, ids) if attention_net is not None else None
    attributions = []
    for index, (token_id, (start, end)) in enumerate(zip(ids, offsets, strict=True)):
        token: dict[str, Any] = {
            "token": predictor.tokenizer.id_to_token(token_id),
            "start": start,
            "end": end,
            "occlusion": weights[index],
        }
        if attention is not None:
            token["attention"] = attention[index]
        attributions.append(token)
    return {"probabilities": probs, "attributions": attributions, "kept": len(ids)}
