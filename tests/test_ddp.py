"""DDP on CPU (2 gloo processes): one run dir, exact evaluation, ranks started every way."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pytest
from cli_runner import free_port, hydra_dirs, run_py, run_torchrun
from torch.distributed import TCPStore

from textlab.base.errors import UserError
from textlab.data.eval_batches import EvalBatchSampler
from textlab.run import distributed

TINY = (
    "debug=fast",
    "trainer.accelerator=cpu",
    # odd split sizes: a sampler padding ranks to equal counts would repeat an example
    "data.train_size=401",
    "data.test_size=101",
)
TINY_LSTM = ("model.hidden_size=8", "model.embedding_dim=8")


@pytest.mark.parametrize(("size", "batch_size"), [(101, 32), (65, 32), (7, 2), (64, 32)])
def test_eval_batches_cover_every_example_once_with_equal_batch_counts(size, batch_size):
    samplers = [EvalBatchSampler(range(size), batch_size, rank, 2) for rank in (0, 1)]
    batches = [list(sampler) for sampler in samplers]
    seen = [index for rank_batches in batches for batch in rank_batches for index in batch]
    assert sorted(seen) == list(range(size))
    assert len(batches[0]) == len(batches[1]) == len(samplers[0])
    assert max(len(batch) for rank_batches in batches for batch in rank_batches) <= batch_size


class Lengths:
    def __init__(self, lengths: list[int]) -> None:
        self.values = np.array(lengths)

    def __len__(self) -> int:
        return len(self.values)

    def lengths(self) -> np.ndarray:
        return self.values


@pytest.mark.parametrize("world_size", [1, 2])
def test_eval_batches_by_length_pad_little_and_still_cover_every_example_once(world_size):
    lengths = Lengths([(i * 37) % 101 + 1 for i in range(101)])  # 1..101 shuffled
    samplers = [
        EvalBatchSampler(lengths, 8, rank, world_size, by_length=True) for rank in range(world_size)
    ]
    batches = [batch for sampler in samplers for batch in sampler]
    assert sorted(i for batch in batches for i in batch) == list(range(101))
    assert len({len(sampler) for sampler in samplers}) == 1
    for batch in batches:  # neighbours in length: the longest is at most 8 x world_size above
        spread = lengths.values[batch].max() - lengths.values[batch].min()
        assert spread < 8 * world_size


def test_lightning_not_imported_before_hydra_sets_up_logging():
    # run.py imports textlab.app.main before Hydra configures logging. Lightning imported then
    # gives its loggers a console handler of their own that ignores Hydra's: every DDP rank
    # printed Lightning's INFO lines ("Initializing distributed: GLOBAL_RANK: 1") again.
    probe = (
        "import sys, textlab.app.main; print(sorted(m for m in sys.modules if 'lightning' in m))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_rank_zero_keeps_its_command_line():
    argv = ["run.py", "model=transformer"]
    assert distributed.argv_for_this_rank(argv, {}) == argv
    assert distributed.argv_for_this_rank(argv, {"LOCAL_RANK": "0", "WORLD_SIZE": "2"}) == argv


@pytest.mark.parametrize(
    "env",
    [
        {"LOCAL_RANK": "1", "WORLD_SIZE": "2"},  # Lightning's launcher, a sweep job's ranks
        {"SLURM_NTASKS": "4", "SLURM_PROCID": "3"},  # srun
        {"LOCAL_RANK": "0", "NODE_RANK": "1"},  # second node
    ],
)
def test_workers_write_no_hydra_dir_and_no_log_file(env):
    argv = distributed.argv_for_this_rank(["run.py", "seed=1"], env)
    assert argv == ["run.py", "seed=1", *distributed.WORKER_OVERRIDES]


def test_workers_started_without_worker_overrides_drop_their_log_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_PROCID", "1")  # a submitit task other than rank 0
    monkeypatch.delenv("RANK", raising=False)
    root = logging.getLogger()
    file_handler = logging.FileHandler(tmp_path / "run.log")
    monkeypatch.setattr(root, "handlers", [file_handler])
    monkeypatch.setattr(root, "level", logging.INFO)
    distributed.quiet_worker_logging()
    assert root.handlers == [] and root.level == logging.WARNING


def test_torchrun_workers_take_rank_zeros_run_dir_from_torchruns_store(tmp_path):
    port = free_port()
    # stands in for the store torchrun's agent hosts
    agent_store = TCPStore("127.0.0.1", port, is_master=True, timeout=timedelta(seconds=10))
    env = {
        "TORCHELASTIC_RUN_ID": "none",
        "TORCHELASTIC_USE_AGENT_STORE": "True",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": "2",
    }
    run_dir = str(tmp_path / "it's a run")
    distributed.share_run_dir(run_dir, {**env, "RANK": "0"})
    argv = distributed.argv_for_this_rank(["run.py"], {**env, "RANK": "1"})
    assert argv == [
        "run.py",
        *distributed.WORKER_OVERRIDES,
        "hydra.run.dir='" + run_dir.replace("'", "\\'") + "'",
    ]
    del agent_store


def test_torchrun_workers_keep_a_run_dir_given_on_the_command_line():
    env = {"TORCHELASTIC_RUN_ID": "x", "RANK": "1", "WORLD_SIZE": "2"}
    argv = distributed.argv_for_this_rank(["run.py", "hydra.run.dir=out"], env)
    assert argv == ["run.py", "hydra.run.dir=out", *distributed.WORKER_OVERRIDES]


def test_a_sweep_under_torchrun_is_refused_before_it_starts():
    env = {"TORCHELASTIC_RUN_ID": "x", "RANK": "0", "WORLD_SIZE": "2"}
    with pytest.raises(UserError, match="torchrun"):
        distributed.argv_for_this_rank(["run.py", "-m", "seed=1,2"], env)


def metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """`model=transformer trainer.devices=2` from a fresh cwd, so stray dirs would show."""
    cwd = tmp_path_factory.mktemp("ddp")
    overrides = (*TINY, "model=transformer", "model.d_model=16", "model.ffn_dim=16")
    proc = run_py(*overrides, "trainer.devices=2", cache=cwd / "cache", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, proc


@pytest.mark.slow
def test_ddp_run_writes_one_run_dir_once(ddp_run):
    cwd, proc = ddp_run
    (run_dir,) = hydra_dirs(cwd)
    assert [p.parent for p in cwd.rglob("metrics.json")] == [run_dir]
    assert not list(cwd.rglob("*.log"))[1:], "one log file: rank 0's run.log"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    # the test stage (2 ranks, metrics synced) and the report (rank 0, one pass) count alike
    scores = metrics(run_dir)
    assert set(scores) == {f"{s}/{m}" for s in ("val", "test") for m in ("acc", "f1", "loss")} | {
        "val/acc_best"
    }
    matrix = json.loads((run_dir / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, matrix)) == 101  # data.test_size: every test review exactly once
    assert scores["test/acc"] == pytest.approx(sum(matrix[i][i] for i in range(2)) / 101)
    # each line once, not once per rank; rank 1 prints warnings only
    output = proc.stdout + proc.stderr
    assert output.count("Split train:") == 1
    assert output.count("Final metrics") == 1
    assert "Initializing distributed: GLOBAL_RANK: 1" not in output


@pytest.mark.slow
def test_ddp_evaluation_counts_every_test_example_once(ddp_run, tmp_path):
    """`mode=eval` of one checkpoint on 1 and on 2 processes gives the same metrics."""
    cwd, _ = ddp_run
    (run_dir,) = hydra_dirs(cwd)
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    results = {}
    for devices in (1, 2):
        out = tmp_path / f"eval{devices}"
        proc = run_py(
            "mode=eval",
            f"ckpt_path={ckpt}",
            "trainer.accelerator=cpu",
            f"trainer.devices={devices}",
            "logger=none",
            f"hydra.run.dir={out}",
            cache=cwd / "cache",
            cwd=cwd,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[devices] = metrics(out)
    one, two = results[1], results[2]
    # 101 test reviews: a padded 102nd would move the accuracy off a multiple of 1/101
    assert two["test/acc"] * 101 == pytest.approx(round(two["test/acc"] * 101), abs=1e-3)
    assert two["test/acc"] == pytest.approx(one["test/acc"], abs=1e-9)
    assert two["test/f1"] == pytest.approx(one["test/f1"], abs=1e-6)
    assert two["test/loss"] == pytest.approx(one["test/loss"], rel=1e-5)
    matrix = json.loads((tmp_path / "eval2" / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, matrix)) == 101


@pytest.mark.slow
def test_torchrun_ranks_share_one_run_dir(tmp_path):
    proc = run_torchrun(
        2,
        *TINY,
        *TINY_LSTM,
        "logger=none",
        "trainer.devices=2",
        cache=tmp_path / "cache",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = hydra_dirs(tmp_path)
    assert [p.parent for p in tmp_path.rglob("metrics.json")] == [run_dir]
    # rank 1 made no dir of its own, not even an empty one
    assert [p for p in (tmp_path / "outputs").glob("*/*")] == [run_dir]


@pytest.mark.slow
def test_streamed_test_split_reports_cover_every_example_under_ddp(tmp_path):
    from textlab.data.sources.synthetic import SyntheticReviews

    splits = SyntheticReviews(train_size=400, test_size=101, max_words=60).load()
    for name in ("train", "test"):
        texts, labels = splits[name]
        lines = [
            json.dumps({"text": t, "label": str(y)}) for t, y in zip(texts, labels, strict=True)
        ]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    run_dir = tmp_path / "run"
    proc = run_py(
        "data=text_files",
        f"data.train={tmp_path / 'train.jsonl'}",
        f"data.test={tmp_path / 'test.jsonl'}",
        "data.streaming=true",
        "data.batch_size=32",
        "trainer.max_epochs=1",
        "tokenizer.vocab_size=500",
        *TINY_LSTM,
        "logger=none",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"hydra.run.dir={run_dir}",
        cache=tmp_path / "cache",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the reports are a plain pass on rank 0: the whole split, not rank 0's share of it
    matrix = json.loads((run_dir / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, matrix)) == 101
    correct = sum(matrix[i][i] for i in range(len(matrix)))
    assert correct / 101 == pytest.approx(metrics(run_dir)["test/acc"], abs=1e-6)


@pytest.mark.slow
def test_ddp_pretraining_writes_one_run_dir_and_reads_each_block_once(tmp_path):
    overrides = (*TINY, *TINY_LSTM, "mode=pretrain", "pretrain.block_size=16", "logger=none")
    proc = run_py(*overrides, "trainer.devices=2", cache=tmp_path / "cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = hydra_dirs(tmp_path)
    assert [p.parent for p in tmp_path.rglob("metrics.json")] == [run_dir]
    scores = metrics(run_dir)
    # 5 batches (debug=fast's limit) of 32 blocks of 16 tokens on each of the 2 ranks
    assert scores["pretrain/tokens_seen"] == 2 * 5 * 32 * 16
    assert (proc.stdout + proc.stderr).count("Final metrics") == 1
