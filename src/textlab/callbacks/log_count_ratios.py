"""Fit NBSVM's log-count ratios (`model.naive_bayes`) with one pass over the training data."""

from __future__ import annotations

import logging
import time

import lightning.pytorch as pl
from torch import nn

from textlab.errors import UserError

log = logging.getLogger(__name__)


def unfitted_bags(net: nn.Module) -> list[nn.Module]:
    """The n-gram bags inside `net` (an ensemble's members included) still without ratios."""
    return [
        module
        for module in net.modules()
        if getattr(module, "naive_bayes", False) and not bool(module.ratio_fitted)
    ]


class LogCountRatios(pl.Callback):
    """Before the first step (and the sanity check), count n-grams per class over the training
    loader and set each bag's ratios. Under DDP every process counts its shard and the counts
    are summed, so all processes get the same ratios. A resumed run restored them from its
    checkpoint (restored before `on_fit_start`) and skips the pass.
    """

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        net = pl_module.net
        bags = unfitted_bags(net)
        if not bags:
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
        for bag in bags:
            bag.fit_ratio(lambda counts: trainer.strategy.reduce(counts, reduce_op="sum"))
        log.info(
            "naive_bayes: log-count ratios of %d n-gram bag(s) from %d training reviews on this "
            "process (%.1f s)",
            len(bags),
            reviews,
            time.perf_counter() - start,
        )
