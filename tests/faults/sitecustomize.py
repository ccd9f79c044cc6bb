"""Test-only fault injection, active only when a test puts this folder on PYTHONPATH.

`TEXTLAB_FAULT_RANK=R` makes the training step of DDP rank R raise at batch
`TEXTLAB_FAULT_BATCH` (default 2), as a bug or a bad record on one process would, after
writing the time to `TEXTLAB_FAULT_STAMP` (if set) so a test can time the job's exit.
`TEXTLAB_FAULT_TEXT=S` makes `mode=serve`'s model call raise for any batch holding a text that
contains S, as a bug in a backend would, and take 3 s over a batch holding `<<slow>>` (a queue
builds up behind it). The product has no hook for either: each patch is applied as its
module is imported.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import time

FAULT_RANK = os.environ.get("TEXTLAB_FAULT_RANK")
FAULT_BATCH = int(os.environ.get("TEXTLAB_FAULT_BATCH", "2"))
FAULT_TEXT = os.environ.get("TEXTLAB_FAULT_TEXT")


def _patch_training_step(module) -> None:
    step = module.TextClassifier.training_step

    def training_step(self, batch, batch_idx):
        if batch_idx == FAULT_BATCH and self.global_rank == int(FAULT_RANK):
            if os.environ.get("TEXTLAB_FAULT_STAMP"):
                with open(os.environ["TEXTLAB_FAULT_STAMP"], "w") as stamp:
                    stamp.write(str(time.time()))
            raise RuntimeError(f"injected fault on rank {self.global_rank}, batch {batch_idx}")
        return step(self, batch, batch_idx)

    module.TextClassifier.training_step = training_step


def _patch_serving_backend(module) -> None:
    predict_texts = module.predict_texts

    def failing_predict_texts(predictor, texts):
        if any(FAULT_TEXT in text for text in texts):
            raise RuntimeError(f"injected fault on a batch of {len(texts)}\nsecond line")
        if any("<<slow>>" in text for text in texts):
            time.sleep(3)
        return predict_texts(predictor, texts)

    module.predict_texts = failing_predict_texts


class _PatchOnImport:
    def __init__(self, patches: dict) -> None:
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        if name not in self.patches:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module) -> None:
            exec_module(module)
            self.patches[name](module)

        spec.loader.exec_module = exec_and_patch
        return spec


_PATCHES = {}
if FAULT_RANK is not None:
    _PATCHES["textlab.module"] = _patch_training_step
if FAULT_TEXT is not None:
    _PATCHES["textlab.run.serving.backends"] = _patch_serving_backend
if _PATCHES:
    sys.meta_path.insert(0, _PatchOnImport(_PATCHES))
