"""The lease scripts' time bounds: a lent GPU machine gives one command ten minutes, so each
stage of benchmarks/gpu_pretraining.sh must end by DEADLINE whatever its own bound says."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_each_stage_is_cut_to_the_time_left_before_the_deadline(tmp_path: Path) -> None:
    # a stand-in for python that would run far past every bound, so only the bounds stop it
    stall = tmp_path / "stall"
    stall.write_text("#!/bin/sh\nexec sleep 60\n")
    stall.chmod(stall.stat().st_mode | stat.S_IXUSR)
    imdb = tmp_path / "aclImdb"
    imdb.mkdir()
    out = tmp_path / "out"
    started = time.monotonic()
    bounds = {"PRETRAIN_S": "50", "FINETUNE_S": "50", "DEADLINE": str(int(time.time()) + 3)}
    env = {**os.environ, "PYTHON": str(stall), "WORK": str(tmp_path / "work"), **bounds}
    subprocess.run(
        ["bash", str(ROOT / "benchmarks/gpu_pretraining.sh"), str(imdb), str(out)],
        env=env, check=True, timeout=40,
    )  # fmt: skip
    took = time.monotonic() - started
    lines = (out / "status.txt").read_text().splitlines()
    assert [line.split()[:2] for line in lines] == [["pretrain", "rc=124"], ["finetune", "rc=124"]]
    # the pretraining is cut at the deadline (not at its own 50 s), the fine-tuning then gets
    # the one second a bound may not go below (timeout 0 would mean no bound at all)
    assert took < 10, lines
