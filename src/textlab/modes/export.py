"""`mode=export`: the checkpoint's network as ONNX, with dynamic batch and sequence axes.

Writes model.onnx, tokenizer.json and export.json (label names, max_length, input names) to
the run dir; how the network becomes ONNX is run/onnx.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from textlab.base import run_files
from textlab.base.atomic import write_json_atomic, write_text_atomic
from textlab.base.fingerprint import file_sha256
from textlab.checkpoint.format import SavedRun
from textlab.run.onnx import INPUTS, OUTPUT, SpecialIds, export_checked

log = logging.getLogger(__name__)


def export(cfg: DictConfig, saved: SavedRun) -> dict[str, Any]:
    """Export `saved`'s network to the run dir; checks it with onnxruntime when installed."""
    run_dir = Path(cfg.paths.output_dir)
    path = run_dir / run_files.ONNX_MODEL
    tokens = SpecialIds.of(saved.tokenizer)
    use_dynamo, diff = export_checked(saved.build_net(), path, saved.max_length, tokens)
    info: dict[str, Any] = {
        "model": saved.model_target,
        "exporter": "torch.export" if use_dynamo else "torchscript",
        "inputs": {name: "int64 (batch, sequence)" for name in INPUTS},
        "outputs": {OUTPUT: "float32 (batch, num_classes)"},
        "label_names": list(saved.label_names),
        "max_length": saved.max_length,
        "pad_id": tokens.pad,
        "checkpoint": {"path": str(saved.path), "sha256": file_sha256(saved.path)},
        "max_abs_logit_diff": diff,
    }
    if diff is None:
        log.warning("onnxruntime not installed: %s exported but not checked", path)
    else:
        log.info("onnxruntime matches PyTorch: max |logit difference| %.2e", diff)
    write_text_atomic(run_dir / run_files.TOKENIZER, saved.tokenizer.to_str())
    write_json_atomic(run_dir / run_files.EXPORT_INFO, info)
    print(f"Exported {path} (max |logit difference| vs PyTorch: {info['max_abs_logit_diff']})")
    return info
