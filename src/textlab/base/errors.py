"""Errors meant for users: shown as one line, without a traceback."""

from __future__ import annotations

import math
from typing import Any


class UserError(Exception):
    """A problem in the user's config, files or data that the user can fix."""


class ConfigValueError(UserError, ValueError):
    """A config value out of range; the message starts with `key=value`."""


def require(ok: bool, key: str, value: Any, expected: str) -> None:
    """Raise `ConfigValueError("key=value: expected ...")` unless `ok`."""
    if not ok:
        raise ConfigValueError(f"{key}={value!r}: expected {expected}")


def require_off_or(key: str, value: float, usable: bool, otherwise: str) -> None:
    """`value` is a number >= 0 where 0 is off; on, it also needs `usable`, else the error
    expects `otherwise` (say, "0 for this model: ...")."""
    require(math.isfinite(value) and value >= 0, key, value, "a number >= 0 (0: off)")
    require(not value or usable, key, value, otherwise)


class NonFiniteLossError(UserError):
    """Training produced a NaN or infinite loss; going on would only train on NaNs."""
