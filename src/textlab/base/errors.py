"""Errors meant for users: shown as one line, without a traceback."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A problem in the user's config, files or data that the user can fix."""


class ConfigValueError(UserError, ValueError):
    """A config value out of range; the message starts with `key=value`."""


def require(ok: bool, key: str, value: Any, expected: str) -> None:
    """Raise `ConfigValueError("key=value: expected ...")` unless `ok`."""
    if not ok:
        raise ConfigValueError(f"{key}={value!r}: expected {expected}")


class NonFiniteLossError(UserError):
    """Training produced a NaN or infinite loss; going on would only train on NaNs."""
