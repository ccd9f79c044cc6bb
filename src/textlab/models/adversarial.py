"""Adversarial training on the token embeddings (Miyato, Dai & Goodfellow 2017, "Adversarial
Training Methods for Semi-Supervised Text Classification").

Token ids cannot be nudged, but their embeddings can: each training review also takes a second
pass with its embeddings moved a small step in the direction that raises its loss most (the
loss gradient, one step, no iteration), and the network learns from both losses. It is a
regulariser for exactly what overfits on IMDb: a few strong words carrying a prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from textlab.base.errors import require, require_off_or
from textlab.models.protocols import EmbedsTokens


def adversarial_losses(
    net: nn.Module,
    embedding: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    loss_of: Callable[[Tensor], Tensor],
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """(logits, loss, adversarial loss) of one batch through `net`, whose `embedding` maps the
    ids to (B, T, E).

    Each review's perturbation has L2 norm `eps` times the batch's mean token-embedding norm,
    over the whole review, so one `eps` means the same for embeddings of any scale (the LSTM's
    start at N(0, 1), the transformer's at N(0, 0.02²)). Miyato et al. normalise the table
    instead and use 5.0 at 256 dimensions: about 0.3 of a token's norm.
    """
    captured: list[Tensor] = []

    def capture(module: nn.Module, args: Any, output: Tensor) -> Tensor:
        if not output.requires_grad:  # a frozen table (freeze_encoder_epochs): its output still
            output = output.detach().requires_grad_()  # needs a gradient to point the step
        captured.append(output)
        return output

    logits = _with_hook(net, embedding, capture, input_ids, attention_mask)
    loss = loss_of(logits)
    (embedded,) = captured
    (grad,) = torch.autograd.grad(loss, embedded, retain_graph=True)
    real = attention_mask.unsqueeze(-1).to(grad.dtype)
    grad = grad.detach() * real  # padding is never perturbed
    norms = embedded.detach().norm(dim=-1) * real.squeeze(-1)
    token_norm = norms.sum() / real.sum().clamp_min(1)  # a batch of empty reviews: no step
    direction = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    step = eps * token_norm * direction

    def perturb(module: nn.Module, args: Any, output: Tensor) -> Tensor:
        return output + step

    adversarial = _with_hook(net, embedding, perturb, input_ids, attention_mask)
    return logits, loss, loss_of(adversarial)


def _with_hook(
    net: nn.Module, embedding: nn.Module, hook: Callable[..., Tensor], *inputs: Tensor
) -> Tensor:
    handle = embedding.register_forward_hook(hook)
    try:
        return net(*inputs)
    finally:
        handle.remove()


def check_adversarial(eps: float, net: nn.Module, compile: bool) -> None:
    name = type(net).__name__
    no_table = f"0 for {name}: it has no token embedding to perturb"
    require_off_or("adversarial_eps", eps, isinstance(net, EmbedsTokens), no_table)
    # the hooks change every step, and a compiled network would recompile each time
    require(not (eps and compile), "adversarial_eps", eps, "0 with module.compile=true")
