"""`resume=auto` finds, refuses and ignores as specified; `callbacks.early_stopping.patience`
stops a run that no longer improves, says so in run.log, and the run ends as usual."""

from __future__ import annotations

import json

import pytest
import torch
from cli_runner import run_py
from in_process import main_error_line
from lightning.pytorch.demos.boring_classes import BoringModel
from quiet_trainer import quiet_trainer

from textlab.callbacks.early_stopping import EarlyStop

TINY = ("debug=fast", "data.train_size=120", "data.test_size=30", "model.hidden_size=8",
        "model.embedding_dim=8", "logger=none")  # fmt: skip


def test_resume_auto_starts_new_then_resumes_then_refuses_other_settings(tmp_path, capsys):
    run_dir = tmp_path / "run"
    first = run_py(*TINY, "resume=auto", f"hydra.run.dir={run_dir}", cache=tmp_path, check=True)
    assert "resume=auto: no" in first.stderr + first.stdout  # nothing to resume: a new run
    done = json.loads((run_dir / "metrics.json").read_text())

    again = run_py(*TINY, "resume=auto", f"hydra.run.dir={run_dir}", cache=tmp_path, check=True)
    assert "resume=auto: resuming from" in again.stderr + again.stdout
    assert json.loads((run_dir / "metrics.json").read_text()) == done  # the finished run's

    # main_error_line's run dir is tmp_path / "run": this run's
    other = main_error_line(tmp_path, capsys, *TINY, "resume=auto", "data.batch_size=16")
    assert "resume=auto:" in other
    assert "data.batch_size=32 but this run has data.batch_size=16" in other, other


def test_resume_never_ignores_the_run_dirs_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    run_py(*TINY, f"hydra.run.dir={run_dir}", cache=tmp_path, check=True)
    proc = run_py(*TINY, "data.batch_size=16", f"hydra.run.dir={run_dir}", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]  # today's behaviour: a new run in place
    last = run_dir / "checkpoints" / "last.ckpt"
    assert f"Restoring states from the checkpoint path at {last}" not in proc.stderr + proc.stdout


def test_early_stopping_stops_a_run_that_no_longer_improves(tmp_path):
    still = ("trainer.max_epochs=4", "trainer.limit_train_batches=2", "module.optimizer.lr=0")
    stopped = tmp_path / "stopped"
    run_py(*TINY, *still, "callbacks.early_stopping.patience=1", f"hydra.run.dir={stopped}",
           cache=tmp_path, check=True)  # fmt: skip
    log = (stopped / "run.log").read_text()
    # lr 0: val/acc never moves, so one validation without improvement ends it after epoch 2
    assert "early stopping after epoch 2 of 4: val/acc did not improve" in log
    assert log.count(" epoch ") >= 2 and "epoch 3/4" not in log
    last = torch.load(stopped / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1  # 0-based: the second epoch was the last
    assert {"val/acc", "val/acc_best", "test/acc"} <= set(
        json.loads((stopped / "metrics.json").read_text())
    )


class FlatValAcc(BoringModel):
    """Logs the same val/acc after every validation: a run that never improves."""

    def validation_step(self, batch, batch_idx):
        self.log("val/acc", 0.5)


@pytest.mark.parametrize(("patience", "epochs"), [(None, 4), (1, 2)])
def test_early_stopping_is_off_until_patience_is_set(patience, epochs):
    trainer = quiet_trainer(max_epochs=4, limit_train_batches=2, limit_val_batches=1,
                            callbacks=[EarlyStop(patience=patience)])  # fmt: skip
    trainer.fit(FlatValAcc())
    assert trainer.current_epoch == epochs
