"""Where a run came from: config, code and library versions, data and tokenizer fingerprints."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "lightning", "hydra-core", "tokenizers", "torchmetrics", "textlab")


def git_state(repo: Path) -> dict[str, Any]:
    """Commit and dirty flag (tracked files only) of `repo`, or nulls outside a git checkout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def code_git_state() -> dict[str, Any]:
    """git_state of the checkout holding this src/ (what ran, wherever it ran from)."""
    return git_state(Path(__file__).resolve().parents[3])


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions


def collect(config: dict[str, Any], fingerprints: dict[str, str]) -> dict[str, Any]:
    """Everything needed to tell two runs apart, as plain JSON-able data."""
    return {
        "command": sys.argv,
        "config": config,
        "git": code_git_state(),
        "versions": library_versions(),
        "host": {"machine": platform.machine(), "platform": platform.platform()},
        "fingerprints": fingerprints,
    }
