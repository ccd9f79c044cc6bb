"""torchrun across nodes, simulated on one machine: two launchers, one process each.

Slow. Each launcher is what a user starts on one node (`torchrun --nnodes=2 --node_rank=N
--rdzv_backend=c10d --rdzv_endpoint=HOST:PORT run.py ...`); here both nodes are this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cli_runner import ROOT, free_port, hydra_dirs, run_py
from test_ddp import TINY, TINY_LSTM

OVERRIDES = (*TINY, *TINY_LSTM, "logger=none")


def torchrun_node(node_rank: int, port: int, cwd, env) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
        "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=textlab-test",
        f"--node_rank={node_rank}", str(ROOT / "run.py"), *OVERRIDES,
        "trainer.devices=1", "trainer.num_nodes=2",
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_two_torchrun_nodes_write_one_run_dir_and_match_one_node_of_two_processes(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
           "TEXTLAB_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    nodes_dir = tmp_path / "nodes"
    nodes_dir.mkdir()
    port = free_port()
    launchers = [torchrun_node(rank, port, nodes_dir, env) for rank in (0, 1)]
    outputs = [launcher.communicate(timeout=600) for launcher in launchers]
    for launcher, (_, stderr) in zip(launchers, outputs, strict=True):
        assert launcher.returncode == 0, stderr[-3000:]
    (run_dir,) = hydra_dirs(nodes_dir)  # the second node made no dir, not even an empty one
    assert [p.parent for p in nodes_dir.rglob("metrics.json")] == [run_dir]
    assert list((nodes_dir / "outputs").glob("*/*")) == [run_dir]
    matrix = json.loads((run_dir / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, matrix)) == 101  # data.test_size: the whole split, over both nodes
    # each line once: the second node's rank prints warnings only
    printed = "".join(out + err for out, err in outputs)
    assert printed.count("Final metrics") == 1 and printed.count("Split train:") == 1

    reference = tmp_path / "one-node"
    overrides = (*OVERRIDES, "trainer.devices=2", f"hydra.run.dir={reference}")
    run_py(*overrides, cache=tmp_path / "cache", cwd=tmp_path, check=True)
    scores = json.loads((run_dir / "metrics.json").read_text())
    assert scores == json.loads((reference / "metrics.json").read_text())
