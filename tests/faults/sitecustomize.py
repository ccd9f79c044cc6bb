"""Test-only fault injection, active only when a test puts this folder on PYTHONPATH.

`TEXTLAB_FAULT_RANK=R` makes the training step of DDP rank R raise at batch
`TEXTLAB_FAULT_BATCH` (default 2), as a bug or a bad record on one process would, after
writing the time to `TEXTLAB_FAULT_STAMP` (if set) so a test can time the job's exit. The
product has no hook for this: the patch is applied as `textlab.module` is imported.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import time

FAULT_RANK = os.environ.get("TEXTLAB_FAULT_RANK")
FAULT_BATCH = int(os.environ.get("TEXTLAB_FAULT_BATCH", "2"))


def _patch(module) -> None:
    step = module.TextClassifier.training_step

    def training_step(self, batch, batch_idx):
        if batch_idx == FAULT_BATCH and self.global_rank == int(FAULT_RANK):
            if os.environ.get("TEXTLAB_FAULT_STAMP"):
                with open(os.environ["TEXTLAB_FAULT_STAMP"], "w") as stamp:
                    stamp.write(str(time.time()))
            raise RuntimeError(f"injected fault on rank {self.global_rank}, batch {batch_idx}")
        return step(self, batch, batch_idx)

    module.TextClassifier.training_step = training_step


class _PatchOnImport:
    def find_spec(self, name, path=None, target=None):
        if name != "textlab.module":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module) -> None:
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if FAULT_RANK is not None:
    sys.meta_path.insert(0, _PatchOnImport())
