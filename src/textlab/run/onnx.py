"""The ONNX side of `mode=export`: a network in ONNX's terms, written with dynamic batch and
sequence axes, and checked against PyTorch with onnxruntime.

Inputs: `input_ids` (B, T) int64 and `attention_mask` (B, T) int64, 1 on real tokens; output:
`logits` (B, C). RNN models go through the TorchScript exporter (torch.export unrolls nn.LSTM
over time, which fixes the sequence length) and a pack-free forward pass; everything else
through torch.export (dynamo).
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from torch import nn

from textlab.base.errors import UserError
from textlab.models.ensemble import Ensemble
from textlab.models.pooling import masked_pool
from textlab.models.rnn import RNNClassifier, reverse_within_length
from textlab.tokenization import CLS_TOKEN, SPECIAL_TOKENS, pad_id, special_id

INPUTS, OUTPUT = ("input_ids", "attention_mask"), "logits"
TOLERANCE = 1e-4  # max |logit difference| accepted between onnxruntime and PyTorch
RNN_OPSET = 17


@dataclass(frozen=True)
class SpecialIds:
    """The ids sample inputs are made of: textlab's tokenizers put SPECIAL_TOKENS first."""

    vocab_size: int
    pad: int
    cls: int
    first_ordinary: int = len(SPECIAL_TOKENS)

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> SpecialIds:
        return cls(tokenizer.get_vocab_size(), pad_id(tokenizer), special_id(tokenizer, CLS_TOKEN))


class IntMask(nn.Module):
    """The ONNX interface: an int64 attention mask (1 = token, as in HF); textlab nets take bool."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids, attention_mask.bool())


class PackFreeRNN(nn.Module):
    """RNNClassifier's eval-mode forward without pack_padded_sequence, which ONNX cannot express.

    Padding sits on the right, so forward-direction states at real tokens never see it; the
    backward direction reads each review reversed within its own length, so padding comes last
    there too. Pooling ignores padded positions, hence the same logits as the packed model.
    One unidirectional layer per (layer, direction) shares the original parameters.
    """

    def __init__(self, net: RNNClassifier) -> None:
        super().__init__()
        self.net = net
        rnn = net.rnn
        self.directions = 2 if rnn.bidirectional else 1
        extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if rnn.bias else ())
        self.cells = nn.ModuleList()
        for layer in range(rnn.num_layers):
            width = rnn.input_size if layer == 0 else rnn.hidden_size * self.directions
            for direction in range(self.directions):
                cell = type(rnn)(width, rnn.hidden_size, bias=rnn.bias, batch_first=True, **extra)
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for name in names:
                    setattr(cell, f"{name}_l0", getattr(rnn, f"{name}{suffix}"))
                self.cells.append(cell)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.bool()
        lengths = mask.sum(dim=1).clamp(min=1)  # (B,)
        x = self.net.embedding(input_ids)  # (B, T, E); dropout is off in eval mode
        finals: list[torch.Tensor] = []
        for layer in range(len(self.cells) // self.directions):
            outputs, finals = [], []
            for direction in range(self.directions):
                cell = self.cells[layer * self.directions + direction]
                if direction == 0:
                    out, _ = cell(x)  # (B, T, H)
                    at_last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(-1))
                    finals.append(out.gather(1, at_last).squeeze(1))  # (B, H)
                else:
                    out = reverse_within_length(cell(reverse_within_length(x, lengths))[0], lengths)
                    finals.append(out[:, 0])  # the backward pass ends at the first token
                outputs.append(out)
            x = torch.cat(outputs, dim=-1)  # (B, T, H * directions)
        if self.net.pooling == "last":
            pooled = torch.cat(finals, dim=-1)
        else:
            pooled = masked_pool(self.net.pooling)(x, mask)
        return self.net.head(pooled)


def exportable(net: nn.Module) -> tuple[nn.Module, bool]:
    """(module with the ONNX interface, whether to use torch.export rather than TorchScript)."""
    if isinstance(net, RNNClassifier):
        return IntMask(PackFreeRNN(net)).eval(), False
    if isinstance(net, Ensemble) and any(
        isinstance(m, RNNClassifier) for m in net.members.values()
    ):
        members = {
            name: PackFreeRNN(m) if isinstance(m, RNNClassifier) else m
            for name, m in net.members.items()
        }
        return IntMask(Ensemble(members, net.max_lengths, net.lr_scales, net.weights)).eval(), False
    return IntMask(net).eval(), True


def sample_inputs(
    tokens: SpecialIds, batch: int, length: int, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    """Random ordinary ids (B, T) after [CLS], with right padding in the last row."""
    generator = torch.Generator().manual_seed(seed)
    high = max(tokens.vocab_size, tokens.first_ordinary + 1)
    ids = torch.randint(tokens.first_ordinary, high, (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, max(1, length // 2) :] = 0
    ids[:, 0] = tokens.cls
    return ids.masked_fill(mask == 0, tokens.pad), mask


def export_onnx(
    module: nn.Module, path: Path, use_dynamo: bool, max_length: int, tokens: SpecialIds
) -> None:
    """Write `module` to `path` with symbolic batch and sequence axes."""
    if importlib.util.find_spec("onnx") is None or (
        use_dynamo and importlib.util.find_spec("onnxscript") is None
    ):
        raise UserError("mode=export needs the onnx extra: pip install -e '.[onnx]'")
    args = sample_inputs(tokens, 2, min(8, max_length))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation, tracer notes
        if use_dynamo:
            dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence", max=max_length)}
            shapes = {"dynamic_shapes": {name: dims for name in INPUTS}, "external_data": False}
            options = {"dynamo": True, "verbose": False, **shapes}
        else:
            axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
            dynamic_axes = {**axes, OUTPUT: {0: "batch"}}
            options = {"dynamo": False, "dynamic_axes": dynamic_axes, "opset_version": RNN_OPSET}
        torch.onnx.export(
            module, args, str(path), input_names=list(INPUTS), output_names=[OUTPUT], **options
        )
    import onnx

    graph_inputs = onnx.load(str(path), load_external_data=False).graph.input
    for graph_input in graph_inputs:
        dims = graph_input.type.tensor_type.shape.dim[:2]
        if not all(dim.dim_param for dim in dims):
            raise UserError(f"{path}: the exporter fixed the shape of {graph_input.name}")


def max_logit_difference(
    path: Path, module: nn.Module, tokens: SpecialIds, max_length: int
) -> float:
    """Largest |onnxruntime - PyTorch| logit over batches of two shapes other than the sample."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch, length in ((3, max_length), (5, max(2, max_length // 3))):
        ids, mask = sample_inputs(tokens, batch, length, seed=batch)
        (onnx_logits,) = session.run(
            None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        )
        with torch.no_grad():
            torch_logits = module(ids, mask)
        worst = max(worst, float((torch.from_numpy(onnx_logits) - torch_logits).abs().max()))
    return worst


def export_checked(
    net: nn.Module, path: Path, max_length: int, tokens: SpecialIds
) -> tuple[bool, float | None]:
    """Export `net` to `path` (mode=export, mode=serve's onnx backend): whether torch.export
    wrote it (else TorchScript), and the largest onnxruntime-vs-PyTorch logit difference, at
    most TOLERANCE, or None when onnxruntime is not installed to check it."""
    module, use_dynamo = exportable(net)
    export_onnx(module, path, use_dynamo, max_length, tokens)
    if importlib.util.find_spec("onnxruntime") is None:
        return use_dynamo, None
    diff = max_logit_difference(path, module, tokens, max_length)
    if diff > TOLERANCE:
        raise UserError(f"{path}: onnxruntime logits differ from PyTorch by {diff:.2e}")
    return use_dynamo, diff
