"""Faults: a NaN loss stops the run with one line; nothing runs code from data or checkpoints;
under DDP a failing rank ends the whole job promptly and uneven data never hangs."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from cli_runner import ROOT, assert_one_line_error, fault_env, run_py

from textlab.base.errors import NonFiniteLossError
from textlab.callbacks.finite_loss import FiniteLossCheck

TINY = (
    "debug=fast",
    "data.train_size=200",
    "data.test_size=50",
    "model.hidden_size=8",
    "model.embedding_dim=8",
    "logger=none",
    "callbacks=none",
)


# --- non-finite loss ------------------------------------------------------------------------


def test_a_nan_loss_stops_training_with_one_line_naming_the_step(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_py(*TINY, "module.optimizer.lr=1e30", f"hydra.run.dir={run_dir}", cache=tmp_path)
    assert_one_line_error(proc, "the training loss is nan at step", "module.optimizer.lr")
    assert not (run_dir / "metrics.json").exists()


def fake_trainer(all_ranks_finite: bool) -> SimpleNamespace:
    strategy = SimpleNamespace(reduce_boolean_decision=lambda ok, all: ok and all_ranks_finite)
    loop = SimpleNamespace(epoch_loop=SimpleNamespace(batch_idx=4))
    return SimpleNamespace(strategy=strategy, global_step=7, current_epoch=1, fit_loop=loop)


def test_every_rank_stops_when_any_rank_sees_a_non_finite_loss():
    check = FiniteLossCheck()
    check.on_before_backward(fake_trainer(True), None, torch.tensor(0.5))  # finite: goes on
    with pytest.raises(NonFiniteLossError, match=r"is inf at step 7 \(epoch 1, batch 4\)"):
        check.on_before_backward(fake_trainer(True), None, torch.tensor(float("inf")))
    # finite here, NaN on another rank: this rank stops too instead of waiting for it
    with pytest.raises(NonFiniteLossError, match="NaN or infinite on another process"):
        check.on_before_backward(fake_trainer(False), None, torch.tensor(0.5))


def test_the_check_can_be_turned_off():
    from textlab.models.bow import BagOfWordsClassifier
    from textlab.module import TextClassifier

    net = BagOfWordsClassifier(vocab_size=10, num_classes=2, pad_id=0, embedding_dim=4)
    for enabled, expected in ((True, [FiniteLossCheck]), (False, [])):
        module = TextClassifier(net, 2, optimizer=torch.optim.SGD, check_finite_loss=enabled)
        assert [type(c) for c in module.configure_callbacks()] == expected


# --- security -------------------------------------------------------------------------------


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func), {kw.arg: kw.value for kw in node.keywords}


def test_nothing_unpickles_or_evaluates_data_or_checkpoints():
    """torch.load and Lightning's ckpt_path always with weights_only=True; no eval/exec/pickle."""
    problems = []
    for path in sorted((ROOT / "src" / "textlab").rglob("*.py")):
        tree = ast.parse(path.read_text())
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + [getattr(node, "module", "")]
                if {"pickle", "dill", "marshal", "shelve", "cloudpickle"} & set(names):
                    problems.append(f"{where}:{node.lineno} imports {names}")
        for node, func, keywords in calls(tree):
            weights_only = keywords.get("weights_only")
            safe = isinstance(weights_only, ast.Constant) and weights_only.value is True
            if func in ("eval", "exec", "yaml.load", "yaml.unsafe_load"):
                problems.append(f"{where}:{node.lineno} calls {func}")
            if func == "torch.load" and not safe:
                problems.append(f"{where}:{node.lineno} torch.load without weights_only=True")
            trainer_call = func.endswith((".fit", ".test", ".validate"))
            if trainer_call and "ckpt_path" in keywords and not safe:
                problems.append(f"{where}:{node.lineno} {func}(ckpt_path=...) unsafe")
            allow = keywords.get("allow_pickle")
            if isinstance(allow, ast.Constant) and allow.value:
                problems.append(f"{where}:{node.lineno} allow_pickle")
    assert problems == []


# --- DDP (2 CPU processes) ------------------------------------------------------------------

DDP = ("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
JOB_LIMIT_S = 120
FAULT_TO_EXIT_S = 30  # Lightning's launcher polls its child ranks every 5 s
WORDS = ("dull", "fine")


def run_job(*overrides: str, cache: Path, env: dict[str, str]) -> tuple[int, str, float]:
    """`run.py` in its own process group; (exit code, stderr, seconds). Fails past the limit,
    or when any process of the job (a rank) outlives rank 0."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *overrides],
        cwd=ROOT,
        env={**os.environ, "TEXTLAB_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # ranks inherit the group: one signal reaches all of them
    )
    try:
        _, stderr = proc.communicate(timeout=JOB_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the job did not exit within {JOB_LIMIT_S} s")
    elapsed = time.monotonic() - started
    for _ in range(50):  # rank 0 is gone; the other ranks may take a moment to follow
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("a rank outlived rank 0 by more than 5 s")
    return proc.returncode, stderr, elapsed


@pytest.mark.slow
@pytest.mark.parametrize("rank", [1, 0])
def test_a_rank_that_raises_ends_the_whole_job_promptly(tmp_path, rank):
    # tests/faults/sitecustomize.py makes `rank`'s training step raise at its third batch
    stamp = tmp_path / "fault-time"
    env = fault_env(TEXTLAB_FAULT_RANK=str(rank), TEXTLAB_FAULT_STAMP=str(stamp))
    code, stderr, elapsed = run_job(
        *TINY, *DDP, f"hydra.run.dir={tmp_path / 'run'}", cache=tmp_path / "cache", env=env
    )
    after_fault = time.time() - float(stamp.read_text())
    assert code != 0
    assert f"injected fault on rank {rank}" in stderr
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert after_fault < FAULT_TO_EXIT_S
    print(f"rank {rank} raised; all ranks gone {after_fault:.1f} s later (job {elapsed:.1f} s)")


@pytest.mark.slow
def test_streaming_uneven_data_over_two_ranks_completes(tmp_path):
    """203 training and 51 test records on 2 ranks: no rank waits for a batch that never comes."""
    for name, count in (("train", 203), ("test", 51)):
        rows = [{"text": f"{WORDS[i % 2]} film {i}", "label": i % 2} for i in range(count)]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_dir = tmp_path / "run"
    code, stderr, elapsed = run_job(
        *DDP,
        "data=text_files",
        f"data.train={tmp_path / 'train.jsonl'}",
        f"data.test={tmp_path / 'test.jsonl'}",
        "data.streaming=true",
        "data.batch_size=16",
        "tokenizer=word",
        "trainer.max_epochs=2",
        "model.hidden_size=8",
        "model.embedding_dim=8",
        "logger=none",
        "callbacks=none",
        f"hydra.run.dir={run_dir}",
        cache=tmp_path / "cache",
        env={},
    )
    assert code == 0, stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"val/acc", "test/acc"} <= set(metrics)
    assert json.loads((run_dir / "skipped.json").read_text())["train"]["kept"] == 203
    print(f"uneven streaming DDP run finished in {elapsed:.1f} s")
