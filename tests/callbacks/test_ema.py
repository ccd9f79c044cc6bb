"""`callbacks.ema.decay`: validation, checkpoints and the test stage all see the weight average."""

from __future__ import annotations

import json

import pytest
import torch
from cli_runner import run_py
from in_process import main_error_line

TINY = ("debug=fast", "data.train_size=120", "data.test_size=30", "model.hidden_size=8",
        "model.embedding_dim=8", "logger=none", "trainer.max_epochs=2")  # fmt: skip


def test_ema_checkpoints_the_average_and_the_test_stage_scores_it(tmp_path):
    run_dir, eval_dir = tmp_path / "run", tmp_path / "eval"
    run_py(*TINY, "callbacks.ema.decay=0.9", f"hydra.run.dir={run_dir}", cache=tmp_path, check=True)
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    best = torch.load(ckpt, weights_only=True)
    average, raw = best["state_dict"], best["current_model_state"]
    assert average.keys() == raw.keys()
    assert any(not torch.equal(average[name], raw[name]) for name in raw)

    # mode=eval builds the network from state_dict alone: the in-run test must agree with it
    run_py("mode=eval", f"ckpt_path={ckpt}", f"hydra.run.dir={eval_dir}", cache=tmp_path,
           check=True)  # fmt: skip
    trained = json.loads((run_dir / "metrics.json").read_text())
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    for name in ("test/acc", "test/loss"):
        assert trained[name] == pytest.approx(evaluated[name], abs=1e-6), name


@pytest.mark.parametrize("decay", ["1.5", "-0.1", "1.0"])
def test_ema_decay_outside_0_1_is_a_one_line_error(tmp_path, capsys, decay):
    line = main_error_line(tmp_path, capsys, *TINY, f"callbacks.ema.decay={decay}")
    assert f"callbacks.ema.decay={float(decay)!r}" in line and "[0, 1)" in line
