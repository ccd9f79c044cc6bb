"""Checkpoints load without unpickling code; broken or foreign files fail with one line."""

import os
import pickle
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from cli_runner import assert_one_line_error, run_py
from in_process import main_error_line
from quiet_trainer import quiet_trainer
from torch.utils.data import DataLoader

from textlab.base.errors import UserError
from textlab.checkpoint.format import (
    CHECKPOINT_KEY,
    CheckpointExtras,
    checkpoint_extras,
    load_checkpoint,
)
from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.models.factory import build_net
from textlab.module import TextClassifier
from textlab.tokenization import pad_id

LSTM = {"_target_": "textlab.models.rnn.RNNClassifier", "embedding_dim": 16, "hidden_size": 16}
LABELS = ("negative", "positive")


def write_tiny_checkpoint(path: Path, tokenizer, model: dict, max_length: int = 32) -> Path:
    """A genuine Lightning checkpoint of a textlab model after one training step, in seconds."""
    torch.manual_seed(0)
    net = build_net(
        model,
        vocab_size=tokenizer.get_vocab_size(),
        num_classes=len(LABELS),
        pad_id=pad_id(tokenizer),
    )
    module = TextClassifier(net, len(LABELS), optimizer=partial(torch.optim.AdamW, lr=1e-3))
    config = {"model": model, "data": {"max_length": max_length}}
    extras = CheckpointExtras(checkpoint_extras(config, tokenizer, LABELS))
    ids = [enc.ids for enc in tokenizer.encode_batch(["a great film", "dull and far too long"])]
    loader = DataLoader(
        TokenizedDataset.from_sequences(ids, [1, 0]),
        batch_size=2,
        collate_fn=PaddingCollator(pad_id(tokenizer)),
    )
    trainer = quiet_trainer(max_steps=1, callbacks=[extras])
    data = L.LightningDataModule()  # as run.py trains; NBSVM ratios are counted from one
    data.train_dataloader = lambda: loader
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def lstm_checkpoint(tmp_path_factory, bpe_tokenizer) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "lstm.ckpt", bpe_tokenizer, LSTM)


def test_checkpoint_rebuilds_network_tokenizer_and_labels(lstm_checkpoint, bpe_tokenizer):
    saved = load_checkpoint(lstm_checkpoint)
    assert saved.label_names == LABELS
    assert saved.max_length == 32
    assert saved.tokenizer.to_str() == bpe_tokenizer.to_str()
    net = saved.build_net()
    assert not net.training
    raw = torch.load(lstm_checkpoint, weights_only=True)["state_dict"]
    assert torch.equal(net.head.weight, raw["net.head.weight"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        (b"", "is not a readable torch checkpoint"),
        (b"hello, I am a text file\n", "is not a readable torch checkpoint"),
    ],
)
def test_missing_or_unreadable_file_is_a_user_error_naming_it(tmp_path, content, expected):
    path = tmp_path / "model.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=expected) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_checkpoint_is_a_user_error(tmp_path, lstm_checkpoint):
    data = lstm_checkpoint.read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated.ckpt is not a readable torch checkpoint"):
        load_checkpoint(path)


def test_directory_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "content",
    [{"weights": torch.zeros(2)}, {"state_dict": {"w": torch.zeros(2)}}, [1, 2, 3]],
    ids=["plain-dict", "foreign-lightning", "not-a-dict"],
)
def test_foreign_checkpoint_is_rejected(tmp_path, content):
    path = tmp_path / "foreign.ckpt"
    torch.save(content, path)
    with pytest.raises(UserError, match="foreign.ckpt is not a textlab checkpoint"):
        load_checkpoint(path)


class _Payload:
    """Unpickling this would create `marker`: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "textlab": _Payload(marker)}, path, pickle_protocol=2)
    with pytest.raises(UserError, match="evil.ckpt"):
        load_checkpoint(path)
    assert not marker.exists()
    # the same file does run code under plain pickle semantics: the test is meaningful
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_incomplete_textlab_entry_is_rejected(tmp_path, lstm_checkpoint):
    raw = torch.load(lstm_checkpoint, weights_only=True)
    del raw[CHECKPOINT_KEY]["tokenizer"]
    path = tmp_path / "incomplete.ckpt"
    torch.save(raw, path)
    with pytest.raises(UserError, match="incomplete 'textlab' entry .missing: tokenizer"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_the_model_are_a_user_error(tmp_path, lstm_checkpoint):
    raw = torch.load(lstm_checkpoint, weights_only=True)
    raw[CHECKPOINT_KEY]["config"]["model"]["hidden_size"] = 8
    path = tmp_path / "mismatch.ckpt"
    torch.save(raw, path)
    with pytest.raises(UserError, match="mismatch.ckpt: its weights do not fit .*RNNClassifier"):
        load_checkpoint(path).build_net()


def test_cli_reports_a_truncated_checkpoint_in_one_line(tmp_path, lstm_checkpoint):
    path = tmp_path / "half.ckpt"
    path.write_bytes(lstm_checkpoint.read_bytes()[:1000])
    proc = run_py("mode=eval", f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(proc, str(path), "not a readable torch checkpoint")


def test_cli_refuses_a_checkpoint_of_another_model_type(tmp_path, lstm_checkpoint):
    # a real process: the refusal comes after the merge with the command line, which reads
    # Hydra's own record of it
    proc = run_py(
        "mode=predict",
        "model=transformer",
        f"ckpt_path={lstm_checkpoint}",
        "predict.text=fine",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert_one_line_error(proc, str(lstm_checkpoint), "RNNClassifier", "TransformerClassifier")


def test_modes_other_than_train_need_a_checkpoint(tmp_path, capsys):
    line = main_error_line(tmp_path, capsys, "mode=export")
    assert "mode=export needs ckpt_path=PATH" in line


def test_pickle_payload_helper_really_executes_under_plain_pickle(tmp_path):
    marker = tmp_path / "made"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()
