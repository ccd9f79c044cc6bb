"""Resuming replays the uninterrupted run: same batches, same dropout, same best checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import OmegaConf
from quiet_trainer import quiet_trainer
from torch.utils.data import DataLoader, DistributedSampler

from textlab.base.errors import UserError
from textlab.callbacks.resume import CarryBestCheckpoint, RestoreLoaderPosition
from textlab.callbacks.seed_each_batch import SeedEachBatch
from textlab.checkpoint.format import SavedRun
from textlab.checkpoint.resume_checks import check_can_resume, check_step_count_unchanged
from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.data.loaders import ResumableDataLoader
from textlab.data.sources.synthetic import SyntheticReviews
from textlab.models.rnn import RNNClassifier
from textlab.module import TextClassifier

ROOT = Path(__file__).resolve().parents[1]
SEED = 5


def dataset(n: int = 24) -> TokenizedDataset:
    # label = whether token 5 comes before token 6
    sequences = [[2, *([5, 6] if i % 2 else [6, 5]), *range(7, 7 + i % 5)] for i in range(n)]
    return TokenizedDataset.from_sequences(sequences, [i % 2 for i in range(n)])


def train_loader(data: TokenizedDataset) -> ResumableDataLoader:
    return ResumableDataLoader(
        data,
        batch_size=4,
        sampler=DistributedSampler(data, num_replicas=1, rank=0, seed=SEED),
        collate_fn=PaddingCollator(pad_id=0),
    )


def labels_in_order(loader: DataLoader) -> list[list[int]]:
    return [batch["input_ids"][:, 1:3].tolist() + batch["labels"].tolist() for batch in loader]


def test_shuffle_depends_on_seed_and_epoch_only():
    first, second = train_loader(dataset()), train_loader(dataset())
    labels_in_order(first)  # epoch 0 on one loader only
    torch.manual_seed(123)  # and a different global RNG state
    first.sampler.set_epoch(1)
    second.sampler.set_epoch(1)
    assert labels_in_order(first) == labels_in_order(second)
    second.sampler.set_epoch(2)
    assert labels_in_order(first) != labels_in_order(second)


def test_loader_resumes_after_the_batches_it_served():
    full = labels_in_order(train_loader(dataset()))
    interrupted = train_loader(dataset())
    iterator = iter(interrupted)
    next(iterator), next(iterator)
    state = interrupted.state_dict()
    assert state == {"batches_served": 2}
    resumed = train_loader(dataset())
    resumed.load_state_dict(state)
    assert labels_in_order(resumed) == full[2:]
    assert labels_in_order(resumed) == full  # the skip applies to one pass only


SCHEDULERS = {
    # sized by trainer.estimated_stepping_batches, like the default config's
    "onecycle": partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2, pct_start=0.2),
    "step": partial(torch.optim.lr_scheduler.StepLR, step_size=4, gamma=0.7),
}


def tiny_module(init_seed: int, scheduler: str) -> TextClassifier:
    torch.manual_seed(init_seed)
    net = RNNClassifier(
        vocab_size=16, num_classes=2, pad_id=0, embedding_dim=8, hidden_size=8, dropout=0.3
    )
    return TextClassifier(
        net,
        num_classes=2,
        optimizer=partial(torch.optim.AdamW, lr=1e-2),
        scheduler=SCHEDULERS[scheduler],
    )


def fit(ckpt_path=None, callbacks=(), max_epochs=3, init_seed=0, scheduler="onecycle"):
    """Fit the tiny module with the callbacks train.py adds; returns (module, trainer)."""
    module = tiny_module(init_seed, scheduler)
    trainer = quiet_trainer(
        max_epochs=max_epochs,
        num_sanity_val_steps=0,
        # Only the checkpoints a test asks for; Lightning's default one would land in the cwd.
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        callbacks=[SeedEachBatch(SEED), RestoreLoaderPosition(), *callbacks],
    )
    val = DataLoader(dataset(8), batch_size=4, collate_fn=PaddingCollator(0))
    trainer.fit(module, train_loader(dataset()), val, ckpt_path=ckpt_path, weights_only=True)
    return module, trainer


def weights(module: TextClassifier) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in module.state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Per scheduler: 3 epochs of 6 batches, saved after each epoch and every 4 steps."""
    runs = {}

    def run(scheduler: str):
        if scheduler not in runs:
            folder = tmp_path_factory.mktemp(scheduler)
            every_epoch = ModelCheckpoint(folder, "{epoch}", save_top_k=-1)
            every_4_steps = ModelCheckpoint(folder, "{step}", save_top_k=-1, every_n_train_steps=4)
            module, trainer = fit(callbacks=[every_epoch, every_4_steps], scheduler=scheduler)
            runs[scheduler] = folder, weights(module), logged(trainer)
        return runs[scheduler]

    return run


def logged(trainer: L.Trainer) -> dict[str, float]:
    # the running curves (train/*_running) restart at a mid-epoch resume, by design (module.py)
    items = trainer.callback_metrics.items()
    return {name: float(value) for name, value in items if not name.endswith("_running")}


@pytest.mark.parametrize(
    ("scheduler", "checkpoint"),
    [
        *[
            ("onecycle", c)
            for c in ("epoch=0", "epoch=1", "step=4", "step=8", "step=12", "step=16")
        ],
        # no estimated_stepping_batches: Lightning itself restores the loader position
        *[("step", c) for c in ("epoch=1", "step=8", "step=12")],
    ],
)
def test_resume_replays_the_uninterrupted_run_exactly(uninterrupted, scheduler, checkpoint):
    folder, expected, expected_metrics = uninterrupted(scheduler)
    # another initialisation: everything that matters must come from the checkpoint
    module, trainer = fit(folder / f"{checkpoint}.ckpt", init_seed=1, scheduler=scheduler)
    for name, value in weights(module).items():
        assert torch.equal(value, expected[name]), (checkpoint, name)
    # val/acc_best spans the epochs before the resume; after step 16 (epoch 2), the epoch's
    # train/* metrics include the batches trained before it
    assert logged(trainer) == expected_metrics


def test_mid_epoch_checkpoint_records_the_batches_served(uninterrupted):
    folder, _, _ = uninterrupted("onecycle")
    loops = torch.load(folder / "step=8.ckpt", weights_only=True)["loops"]["fit_loop"]
    loops = loops["state_dict"]
    assert loops["combined_loader"] == [{"batches_served": 2}]  # 6 per epoch: 8 = 6 + 2


def test_resume_into_a_new_folder_keeps_the_best_checkpoint(tmp_path):
    def keeper(folder):
        # "best" = highest loss: an early epoch, from before the resume point
        return ModelCheckpoint(folder, "best", monitor="val/loss", mode="max", save_last=True)

    # a StepLR: OneCycleLR cannot stretch from 2 to 4 epochs
    full = keeper(tmp_path / "full")
    fit(callbacks=[full], max_epochs=4, scheduler="step")
    first = keeper(tmp_path / "first")
    fit(callbacks=[first], max_epochs=2, scheduler="step")
    resumed = keeper(tmp_path / "resumed")
    last = tmp_path / "first" / "last.ckpt"
    carry = CarryBestCheckpoint(last)
    fit(ckpt_path=last, callbacks=[resumed, carry], max_epochs=4, scheduler="step")

    assert torch.equal(resumed.best_model_score, full.best_model_score)
    assert Path(resumed.best_model_path) == tmp_path / "resumed" / "best.ckpt"
    best = torch.load(resumed.best_model_path, weights_only=True)["state_dict"]
    expected = torch.load(full.best_model_path, weights_only=True)["state_dict"]
    assert all(torch.equal(best[name], expected[name]) for name in expected)


def test_resume_refuses_a_step_count_the_scheduler_was_not_built_for():
    saved = {"trainer": {"max_epochs": 5}, "data": {"batch_size": 32}}
    cfg = OmegaConf.create(
        {
            "trainer": {"max_epochs": 10},
            "data": {"batch_size": 32},
            "module": {"scheduler": {"_target_": "torch.optim.lr_scheduler.OneCycleLR"}},
        }
    )
    with pytest.raises(UserError, match="trainer.max_epochs=10 .* trained with 5"):
        check_step_count_unchanged(saved, cfg, "last.ckpt")
    cfg.trainer.max_epochs = 5
    cfg.module.scheduler.epochs = 8  # the schedule's length, when longer than the run
    with pytest.raises(UserError, match="module.scheduler.epochs=8 .* trained with None"):
        check_step_count_unchanged(saved, cfg, "last.ckpt")
    cfg.module.scheduler = None
    check_step_count_unchanged(saved, cfg, "last.ckpt")


def test_a_checkpoint_that_does_not_fit_the_module_cannot_resume(bpe_tokenizer):
    module = tiny_module(0, "step")
    state = module.state_dict()
    del state["val_acc_best.max_value"]  # as in checkpoints from before it was saved
    saved = SavedRun(Path("old.ckpt"), {}, bpe_tokenizer, ("negative", "positive"), state)
    with pytest.raises(UserError, match="old.ckpt does not fit .*val_acc_best.max_value"):
        check_can_resume(saved, OmegaConf.create({}), module)


def run_py(*overrides: str, cache: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "TEXTLAB_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "run.py", *overrides],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def finished(proc: subprocess.Popen) -> None:
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]


# Without a monitor, best.ckpt is rewritten at every save (last.ckpt always is), so the test stage
# uses the final weights: the metrics compare whole runs, not an early "best" epoch.
EVERY_SAVE = "callbacks.model_checkpoint.monitor=null"
MID_EPOCH = "+callbacks.last_checkpoint.every_n_train_steps=3"


def streamed_reviews(folder: Path) -> tuple[str, ...]:
    """Overrides for a run that streams 400 embedded-corpus reviews from JSONL files."""
    splits = SyntheticReviews(train_size=400, test_size=100, max_words=60, seed=3).load()
    for name, (texts, labels) in splits.items():
        rows = [json.dumps({"text": t, "label": y}) for t, y in zip(texts, labels, strict=True)]
        (folder / f"{name}.jsonl").write_text("\n".join(rows) + "\n")
    return (
        "data=text_files",
        f"data.train={folder / 'train.jsonl'}",
        f"data.test={folder / 'test.jsonl'}",
        "data.streaming=true",
        "data.shuffle_buffer=64",
        "data.batch_size=32",
        "tokenizer.vocab_size=500",
    )


# Epoch-end and mid-epoch kills of a run on length-bucketed batches (the embedded corpus's
# default), a mid-epoch kill of a streamed run, whose loader re-reads and drops the batches
# already trained on, and an epoch-end kill of a run that averages its weights.
KILLS = {
    "epoch-end": ("debug=fast", "data.bucketing=true"),
    "mid-epoch": ("debug=fast", "data.bucketing=true", MID_EPOCH),
    "streaming-mid-epoch": (MID_EPOCH,),
    # the weight average travels in the checkpoint beside the raw weights it goes on from
    "ema-epoch-end": ("debug=fast", "data.bucketing=true", "callbacks.ema.decay=0.9"),
}


@pytest.mark.slow
@pytest.mark.parametrize("kill", list(KILLS))
def test_run_killed_with_sigkill_resumes_to_the_same_metrics(tmp_path, kill):
    """kill -9 once last.ckpt exists, resume with only ckpt_path=: same metrics and weights."""
    epochs = 2 if kill.startswith("streaming") else 3
    data = streamed_reviews(tmp_path) if kill.startswith("streaming") else ()
    config = (*data, *KILLS[kill], f"trainer.max_epochs={epochs}", "seed=9", EVERY_SAVE)
    cache = tmp_path / "cache"
    finished(run_py(*config, f"hydra.run.dir={tmp_path / 'full'}", cache=cache))
    full_last = torch.load(tmp_path / "full/checkpoints/last.ckpt", weights_only=True)
    per_epoch = full_last["global_step"] // epochs

    killed_dir = tmp_path / "killed"
    proc = run_py(*config, f"hydra.run.dir={killed_dir}", cache=cache)
    last = killed_dir / "checkpoints" / "last.ckpt"
    while not last.exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed_dir / "metrics.json").exists()
    step = torch.load(last, weights_only=True)["global_step"]
    assert step < 2 * per_epoch, "killed too late to test a resume"
    assert (step % per_epoch != 0) == (MID_EPOCH in config), step

    resumed_dir = tmp_path / "resumed"
    finished(run_py(f"ckpt_path={last}", f"hydra.run.dir={resumed_dir}", cache=cache))
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    resumed = json.loads((resumed_dir / "metrics.json").read_text())
    assert set(resumed) == set(full)
    for name, value in full.items():
        assert resumed[name] == pytest.approx(value, abs=1e-6), name
    final = torch.load(resumed_dir / "checkpoints/best.ckpt", weights_only=True)["state_dict"]
    expected = torch.load(tmp_path / "full/checkpoints/best.ckpt", weights_only=True)
    assert all(torch.equal(final[name], value) for name, value in expected["state_dict"].items())
