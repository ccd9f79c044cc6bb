"""`mode=export`: the checkpoint's network as ONNX, with dynamic batch and sequence axes.

Writes model.onnx, tokenizer.json and export.json (label names, max_length, input names) to
the run dir. Inputs: `input_ids` (B, T) int64 and `attention_mask` (B, T) int64, 1 on real
tokens; output: `logits` (B, C). RNN models go through the TorchScript exporter (torch.export
unrolls nn.LSTM over time, which fixes the sequence length) and a pack-free forward pass;
everything else through torch.export (dynamo).
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from textlab import run_files
from textlab.atomic import write_json_atomic, write_text_atomic
from textlab.checkpoint import SavedRun, file_sha256
from textlab.errors import UserError
from textlab.models.ensemble import Ensemble
from textlab.models.lstm import RNNClassifier
from textlab.models.pooling import masked_max, masked_mean
from textlab.tokenization import pad_id

log = logging.getLogger(__name__)

INPUTS, OUTPUT = ("input_ids", "attention_mask"), "logits"
TOLERANCE = 1e-4  # max |logit difference| accepted between onnxruntime and PyTorch
RNN_OPSET = 17


class IntMask(nn.Module):
    """The ONNX interface: an int64 attention mask (1 = token, as in HF); textlab nets take bool."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids, attention_mask.bool())


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of x (B, T, D) over its first `lengths[b]` steps; padding stays last."""
    steps = torch.arange(x.size(1), device=x.device).unsqueeze(0)  # (1, T)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, T); its own inverse
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


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
            pooled = (masked_mean if self.net.pooling == "mean" else masked_max)(x, mask)
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
    vocab_size: int, batch: int, length: int, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    """Random ids (B, T) with [CLS]-like id 2 first and right padding (id 0) in the last row."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, max(vocab_size, 4), (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, max(1, length // 2) :] = 0
    ids[:, 0] = 2
    return ids.masked_fill(mask == 0, 0), mask


def export_onnx(
    module: nn.Module, path: Path, use_dynamo: bool, max_length: int, vocab_size: int
) -> None:
    """Write `module` to `path` with symbolic batch and sequence axes."""
    if importlib.util.find_spec("onnx") is None or (
        use_dynamo and importlib.util.find_spec("onnxscript") is None
    ):
        raise UserError("mode=export needs the onnx extra: pip install -e '.[onnx]'")
    args = sample_inputs(vocab_size, 2, min(8, max_length))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation, tracer notes
        if use_dynamo:
            batch = torch.export.Dim("batch")
            sequence = torch.export.Dim("sequence", max=max_length)
            axes = {name: {0: batch, 1: sequence} for name in INPUTS}
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamo=True,
                dynamic_shapes=axes,
                external_data=False,
                verbose=False,
            )
        else:
            axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamo=False,
                dynamic_axes={**axes, OUTPUT: {0: "batch"}},
                opset_version=RNN_OPSET,
            )
    import onnx

    graph_inputs = onnx.load(str(path), load_external_data=False).graph.input
    for graph_input in graph_inputs:
        dims = graph_input.type.tensor_type.shape.dim[:2]
        if not all(dim.dim_param for dim in dims):
            raise UserError(f"{path}: the exporter fixed the shape of {graph_input.name}")


def max_logit_difference(path: Path, module: nn.Module, vocab_size: int, max_length: int) -> float:
    """Largest |onnxruntime - PyTorch| logit over batches of two shapes other than the sample."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch, length in ((3, max_length), (5, max(2, max_length // 3))):
        ids, mask = sample_inputs(vocab_size, batch, length, seed=batch)
        (onnx_logits,) = session.run(
            None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        )
        with torch.no_grad():
            torch_logits = module(ids, mask)
        worst = max(worst, float((torch.from_numpy(onnx_logits) - torch_logits).abs().max()))
    return worst


def export(cfg: DictConfig, saved: SavedRun) -> dict[str, Any]:
    """Export `saved`'s network to the run dir; checks it with onnxruntime when installed."""
    run_dir = Path(cfg.paths.output_dir)
    module, use_dynamo = exportable(saved.build_net())
    path = run_dir / run_files.ONNX_MODEL
    vocab_size = saved.tokenizer.get_vocab_size()
    export_onnx(module, path, use_dynamo, saved.max_length, vocab_size)
    info: dict[str, Any] = {
        "model": saved.model_target,
        "exporter": "torch.export" if use_dynamo else "torchscript",
        "inputs": {name: "int64 (batch, sequence)" for name in INPUTS},
        "outputs": {OUTPUT: "float32 (batch, num_classes)"},
        "label_names": list(saved.label_names),
        "max_length": saved.max_length,
        "pad_id": pad_id(saved.tokenizer),
        "checkpoint": {"path": str(saved.path), "sha256": file_sha256(saved.path)},
        "max_abs_logit_diff": None,
    }
    if importlib.util.find_spec("onnxruntime") is not None:
        diff = max_logit_difference(path, module, vocab_size, saved.max_length)
        info["max_abs_logit_diff"] = diff
        if diff > TOLERANCE:
            raise UserError(f"{path}: onnxruntime logits differ from PyTorch by {diff:.2e}")
        log.info("onnxruntime matches PyTorch: max |logit difference| %.2e", diff)
    else:
        log.warning("onnxruntime not installed: %s exported but not checked", path)
    write_text_atomic(run_dir / run_files.TOKENIZER, saved.tokenizer.to_str())
    write_json_atomic(run_dir / run_files.EXPORT_INFO, info)
    print(f"Exported {path} (max |logit difference| vs PyTorch: {info['max_abs_logit_diff']})")
    return info
