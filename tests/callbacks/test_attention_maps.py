"""AttentionMapLogger: one TensorBoard figure per review and layer, only when it makes sense."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure

from textlab.callbacks.attention_maps import AttentionMapLogger, head_grid_figure
from textlab.models.transformer import TransformerClassifier


class RecordingWriter:
    def __init__(self) -> None:
        self.figures: dict[str, tuple[Figure, int]] = {}

    def add_figure(self, tag, figure, global_step=None, close=True):
        self.figures[tag] = (figure, global_step)


def collate(items):
    lengths = torch.tensor([len(item["input_ids"]) for item in items])
    mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]
    ids = torch.zeros(mask.shape, dtype=torch.long)
    ids[mask] = torch.cat([item["input_ids"] for item in items])
    labels = torch.tensor([item["label"] for item in items])
    return {"input_ids": ids, "attention_mask": mask, "lengths": lengths, "labels": labels}


@pytest.fixture
def writer(monkeypatch):
    recorder = RecordingWriter()
    monkeypatch.setattr(TensorBoardLogger, "experiment", property(lambda self: recorder))
    return recorder


def fake_trainer(tmp_path, sanity_checking=False):
    val = [{"input_ids": torch.randint(2, 20, (n,)), "label": n % 2} for n in (9, 4, 6)]
    tokenizer = SimpleNamespace(id_to_token=lambda i: f"tok{i}")
    datamodule = SimpleNamespace(val_dataset=val, collator=collate, tokenizer=tokenizer)
    return SimpleNamespace(
        sanity_checking=sanity_checking,
        is_global_zero=True,
        logger=TensorBoardLogger(tmp_path),
        datamodule=datamodule,
        global_step=7,
    )


def tiny_module():
    net = TransformerClassifier(20, 2, 0, d_model=8, num_heads=2, num_layers=3, ffn_dim=16)
    return SimpleNamespace(net=net, device=torch.device("cpu"))


def test_logs_one_figure_per_review_and_layer_with_truncated_token_labels(tmp_path, writer):
    AttentionMapLogger(num_reviews=2, max_tokens=5).on_validation_end(
        fake_trainer(tmp_path), tiny_module()
    )
    expected = {f"attention/review{r}/layer{layer}" for r in range(2) for layer in range(3)}
    assert set(writer.figures) == expected
    figure, step = writer.figures["attention/review1/layer2"]
    assert step == 7 and len(figure.axes) == 2  # one heatmap per head
    labels = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert len(labels) == 4 and all(label.startswith("tok") for label in labels)
    assert len(figure.axes[0].get_yticklabels()) == 4
    assert len(writer.figures["attention/review0/layer0"][0].axes[0].get_xticklabels()) == 5


def test_does_nothing_during_sanity_check_or_for_models_without_attention(tmp_path, writer):
    callback = AttentionMapLogger()
    callback.on_validation_end(fake_trainer(tmp_path, sanity_checking=True), tiny_module())
    no_maps = SimpleNamespace(net=torch.nn.Linear(2, 2), device=torch.device("cpu"))
    callback.on_validation_end(fake_trainer(tmp_path), no_maps)
    assert writer.figures == {}


def test_only_the_grids_outer_edges_name_the_tokens():
    """8 heads in a 3 x 3 grid: key tokens under the lowest map of each column (heads 5, 6, 7;
    nothing is under head 5), query tokens left of the first column (heads 0, 3, 6)."""
    tokens = [f"tok{i}" for i in range(6)]
    figure = head_grid_figure(torch.rand(8, 6, 6).softmax(-1), tokens)
    named = {"x": set(), "y": set()}
    for head, ax in enumerate(figure.axes):
        assert ax.get_title() == f"head {head}"
        assert ax.images[0].get_array().shape == (6, 6)
        for axis, labels in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
            texts = [label.get_text() for label in labels]
            if any(texts):
                assert texts == tokens
                named[axis].add(head)
    assert named == {"x": {5, 6, 7}, "y": {0, 3, 6}}
    figure.canvas.draw()  # the hand-set margins leave a drawable figure
