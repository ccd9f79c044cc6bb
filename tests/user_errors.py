"""Assertions about UserErrors raised in-process: one line, naming what the user must fix."""

from __future__ import annotations

import pytest


def one_line(err: pytest.ExceptionInfo, *fragments: str) -> None:
    """The error's message is a single line containing every fragment."""
    message = str(err.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
