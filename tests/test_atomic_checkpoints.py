"""A full disk while saving: the previous checkpoint survives whole, no temporary file is left,
and the run ends with one line naming the folder. On a real small filesystem (tmpfs), which
needs root to mount; skipped otherwise."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
from cli_runner import assert_one_line_error, run_py

from textlab.base.errors import UserError
from textlab.checkpoint.atomic_io import AtomicCheckpointIO


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs mounted at tmp_path/disk for the test, unmounted after it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_save_that_fills_the_disk_leaves_the_previous_checkpoint_whole(small_disk):
    io = AtomicCheckpointIO()
    path = small_disk / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(1000)}}, path)
    before = path.read_bytes()
    with pytest.raises(UserError) as err:
        io.save_checkpoint({"state_dict": {"w": torch.ones(1_000_000)}}, path)  # 4 MB
    assert str(err.value).startswith(f"{path.parent}: cannot write last.ckpt (No space left")
    assert "\n" not in str(err.value)
    assert path.read_bytes() == before
    assert torch.load(path, weights_only=True)["state_dict"]["w"].shape == (1000,)
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_run_whose_disk_fills_ends_with_one_line_naming_the_checkpoint_folder(small_disk):
    # debug=fast's LSTM checkpoint (2.4 MB with Adam's moments) cannot fit in 512 KiB
    run_dir = small_disk / "run"
    proc = run_py(
        "debug=fast", "logger=none", f"hydra.run.dir={run_dir}", cache=Path(small_disk).parent
    )
    assert_one_line_error(proc, f"{run_dir / 'checkpoints'}: cannot write", "No space left")
    leftovers = [p.name for p in (run_dir / "checkpoints").iterdir()]
    assert not [name for name in leftovers if name.endswith(".tmp")], leftovers
