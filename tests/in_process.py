"""Run textlab's `main` on a config composed in this process, for the user-error paths.

A fresh `python run.py` spends about 8 s importing Lightning before it can say a value is
wrong; the suite has dozens of such cases. Each kind of error keeps one real-process test
(exit code 2, no traceback, one `error:` line through Hydra's logging); the other values of a
kind are checked here, through the same `main`, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import one_error_line
from config_compose import compose_config

from textlab.app.main import main


def main_error_line(tmp_path: Path, capsys: pytest.CaptureFixture, *overrides: str) -> str:
    """The one `error:` line `main` exits with (code 2, no traceback) for `overrides`."""
    cfg = compose_config(tmp_path, *overrides)
    capsys.readouterr()  # only what main writes
    with pytest.raises(SystemExit) as exited:
        main(cfg)
    return one_error_line(exited.value.code, capsys.readouterr().err)
