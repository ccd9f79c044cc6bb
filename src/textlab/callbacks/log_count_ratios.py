"""Fit NBSVM's log-count ratios (`model.naive_bayes`) with one pass over the training data."""

from __future__ import annotations

import logging
import time

import lightning.pytorch as pl

from textlab.base.errors import UserError
from textlab.models.protocols import FitsFromData

log = logging.getLogger(__name__)


class LogCountRatios(pl.Callback):
    """Before the first step (and the sanity check), count n-grams per class over the training
    loader and set each bag's ratios (a `net` with the FitsFromData protocol). Under DDP every
    process counts its shard and the counts are summed, so all processes get the same ratios. A
    resumed run restored them from its checkpoint (restored before `on_fit_start`) and skips
    the pass.
    """

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        net = pl_module.net
        if not isinstance(net, FitsFromData) or not net.needs_fit():
            return
        if trainer.datamodule is None:
            raise UserError(
                "model.naive_bayes: the log-count ratios are counted from a LightningDataModule's "
                "train_dataloader(); expected trainer.fit(..., datamodule=...)"
            )
        start, reviews = time.perf_counter(), 0
        for batch in trainer.datamodule.train_dataloader():
            ids, mask, labels = (
                batch[key].to(pl_module.device) for key in ("input_ids", "attention_mask", "labels")
            )
            net.observe(ids, mask, labels)
            reviews += len(labels)
        net.fit(lambda counts: trainer.strategy.reduce(counts, reduce_op="sum"))
        log.info(
            "naive_bayes: log-count ratios from %d training reviews on this process (%.1f s)",
            reviews,
            time.perf_counter() - start,
        )
