"""TensorBoard heatmaps of what each attention head looks at, for a few validation reviews."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from textlab.models.protocols import ShowsAttention


class AttentionMapLogger(pl.Callback):
    """After each validation, log one figure per (review, layer) with a heatmap per head.

    Works with any `pl_module.net` with the ShowsAttention protocol (the transformer); does
    nothing for other models or loggers other than TensorBoard.
    """

    def __init__(self, num_reviews: int = 2, max_tokens: int = 48) -> None:
        super().__init__()
        self.num_reviews = num_reviews
        self.max_tokens = max_tokens

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Compute and log the maps (rank zero only, not during the sanity check)."""
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if not isinstance(trainer.logger, TensorBoardLogger):
            return
        net = getattr(pl_module, "net", None)
        if not isinstance(net, ShowsAttention):
            return
        datamodule: Any = trainer.datamodule
        dataset = datamodule.val_dataset
        items = [dataset[i] for i in range(min(self.num_reviews, len(dataset)))]
        if not items:
            return
        batch = datamodule.collator(items)
        mask = batch["attention_mask"].to(pl_module.device)
        maps = net.attention_maps(batch["input_ids"].to(pl_module.device), mask)
        lengths = mask.sum(dim=1).tolist()

        experiment = trainer.logger.experiment
        for review, length in enumerate(lengths):
            n = min(int(length), self.max_tokens)
            ids = batch["input_ids"][review, :n].tolist()
            tokens = [datamodule.tokenizer.id_to_token(i) or f"<{i}>" for i in ids]
            for layer, weights in enumerate(maps):
                # the top-left n x n block of the full map: truncated rows sum to less than 1
                fig = head_grid_figure(weights[review, :, :n, :n], tokens)
                experiment.add_figure(
                    f"attention/review{review}/layer{layer}", fig, trainer.global_step, close=True
                )


def head_grid_figure(weights: Tensor, tokens: list[str]) -> Figure:
    """A grid of per-head heatmaps from (H, n, n) weights: query tokens down, keys across.

    Every head reads the same tokens, so only the grid's outer edges name them: key tokens
    under the lowest map of each column, query tokens left of the first column; inner maps
    have no ticks at all. Laying out and drawing text and ticks is what costs: with every map
    labelled and matplotlib's constrained layout placing them, a 4-layer, 8-head model spent
    20 s a validation here on the GPU machine, 43% of its fine-tuning. Margins are set by hand.
    """
    num_heads = weights.size(0)
    cols = math.ceil(math.sqrt(num_heads))
    rows = math.ceil(num_heads / cols)
    side = 0.3 + 0.12 * len(tokens)  # inches per map: one 5-point row per token
    label = 0.2 + 0.045 * max((len(token) for token in tokens), default=0)  # longest name
    title, gap = 0.25, 0.1
    width = label + cols * side + (cols - 1) * gap + gap
    height = label + rows * (side + title) + (rows - 1) * gap
    # a bare Figure on the Agg canvas: no pyplot global state, no GUI backend in workers
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=label / width,
        right=1 - gap / width,
        bottom=label / height,
        top=1 - title / height,
        wspace=gap / side,
        hspace=(title + gap) / side,
    )
    ticks = range(len(tokens))
    for head in range(num_heads):
        ax = fig.add_subplot(rows, cols, head + 1)
        ax.imshow(weights[head].float().cpu().numpy(), cmap="viridis")
        ax.set_title(f"head {head}", fontsize=8)
        ax.tick_params(length=0)  # the labels sit on the cells; tick marks are more to draw
        lowest = head + cols >= num_heads  # nothing under it in its column
        ax.set_xticks(ticks if lowest else [], tokens if lowest else [], rotation=90, fontsize=5)
        first = head % cols == 0
        ax.set_yticks(ticks if first else [], tokens if first else [], fontsize=5)
    return fig
