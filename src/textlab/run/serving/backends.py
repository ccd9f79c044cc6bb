"""The model behind the server: PyTorch, or ONNX Runtime on the checkpoint exported at start.

Both take token ids cut by `encode_ids` (the rule of training and mode=predict) and return
(N, C) probabilities; `predict_texts` is the batcher's work function.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from textlab.base import run_files
from textlab.base.errors import UserError
from textlab.checkpoint.format import SavedRun
from textlab.run.inference import TextPredictor
from textlab.run.onnx import SpecialIds, export_checked
from textlab.tokenization import encode_ids

log = logging.getLogger(__name__)

PADDING_SLACK = 1.5  # padded positions per real token a forward pass may compute


@dataclass(frozen=True)
class Prediction:
    """One text's class probabilities and how many tokens the model read ([CLS] included)."""

    probabilities: list[float]
    tokens: int


class OnnxPredictor(TextPredictor):
    """TextPredictor with onnxruntime in place of the network: same tokenizer, same padding."""

    def __init__(self, path: Path, saved: SavedRun, device: str) -> None:
        import onnxruntime

        super().__init__(torch.nn.Identity(), saved.tokenizer, saved.max_length, "cpu")
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            providers.insert(0, "CUDAExecutionProvider")
        options = onnxruntime.SessionOptions()
        # as many threads as torch uses (OMP_NUM_THREADS, taskset), not one per core it sees
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)

    def of_ids(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        batch = self.pad(ids)
        feed = {
            "input_ids": batch["input_ids"].numpy(),
            "attention_mask": batch["attention_mask"].long().numpy(),
        }
        (logits,) = self.session.run(None, feed)
        return torch.from_numpy(logits).float().softmax(dim=-1)

    def runs_on(self) -> str:
        # onnxruntime falls back to the CPU when its CUDA provider cannot load: say which it took
        return "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"


def torch_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"serve.device={name}: no CUDA device here; use serve.device=cpu")
    return torch.device(name)


def export_for_serving(saved: SavedRun, run_dir: Path) -> Path:
    """model.onnx in the run dir, checked against PyTorch as mode=export checks it."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise UserError("serve.backend=onnx needs the onnx extra: pip install -e '.[onnx]'")
    path = run_dir / run_files.ONNX_MODEL
    tokens = SpecialIds.of(saved.tokenizer)
    _, diff = export_checked(saved.build_net(), path, saved.max_length, tokens)
    log.info("Exported %s for serving (max |logit difference| vs PyTorch %.2e)", path, diff)
    return path


def make_predictor(
    saved: SavedRun, backend: str, device: str, onnx_path: Path | None
) -> TextPredictor:
    """The TextPredictor for `serve.backend`; onnx reads `onnx_path` (see export_for_serving)."""
    if backend == "onnx":
        assert onnx_path is not None
        return OnnxPredictor(onnx_path, saved, device)
    return TextPredictor(saved.build_net(), saved.tokenizer, saved.max_length, torch_device(device))


def predict_texts(predictor: TextPredictor, texts: list[str]) -> list[Prediction]:
    """The batcher's work: tokenize as mode=predict does, then one padded forward pass per
    group of similar lengths (see length_groups)."""
    ids = encode_ids(predictor.tokenizer, texts, predictor.max_length)
    rows: list[list[float]] = [[] for _ in ids]
    for group in length_groups([len(seq) for seq in ids]):
        probs = predictor.of_ids([ids[index] for index in group])
        for index, row in zip(group, probs.tolist(), strict=True):
            rows[index] = row
    return [Prediction(row, len(seq)) for row, seq in zip(rows, ids, strict=True)]


def length_groups(lengths: list[int], slack: float = PADDING_SLACK) -> list[list[int]]:
    """Indices of `lengths` in groups, shortest first, each padded to its longest at a cost of
    at most `slack` times its real tokens. Reviews vary from 12 to 400 words: one batch of 32
    padded to 256 tokens wasted 2-3x the work and halved the texts/s batching gave."""
    groups: list[list[int]] = []
    group: list[int] = []
    real = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        # sorted, so lengths[index] is the longest yet: the padded cost if it joins
        if group and (len(group) + 1) * lengths[index] > slack * (real + lengths[index]):
            groups.append(group)
            group, real = [], 0
        group.append(index)
        real += lengths[index]
    return [*groups, group] if group else groups
