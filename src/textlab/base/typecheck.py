"""Config values checked against the type hints of the constructor they are for.

Every `_target_` in conf/ is a class or function with type hints; before Hydra calls it, each
value the config gives is checked against its parameter's hint, so `data.val_fraction=abc` is
`data.val_fraction='abc': expected a float` and not a TypeError deep inside the constructor.
Why hints rather than structured configs (dataclasses in Hydra's ConfigStore): the constructors
are already the one description of every argument, conf/ lists them, and a second schema would
drift. Ranges stay with the constructors (`require`), which know what makes sense.

Hints the checker does not understand (tensors, modules, callables, a hint that cannot be
resolved) accept anything: the constructor still has the last word.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from omegaconf import DictConfig, ListConfig

from textlab.base.errors import ConfigValueError

F = TypeVar("F", bound=Callable[..., Any])
_SEQUENCES = (list, tuple, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping)


def check_values(target: Callable[..., Any], values: Mapping[str, Any], key: str) -> None:
    """Raise `ConfigValueError("key.name=value: expected ...")` for the first value in `values`
    that does not fit `target`'s hint for it. Keys starting with `_` are Hydra's."""
    hints = _hints(target) or {}
    for name, value in values.items():
        hint = hints.get(str(name))
        if str(name).startswith("_") or hint is None or _fits(value, hint):
            continue
        full = f"{key}.{name}" if key else str(name)
        raise ConfigValueError(f"{full}={_show(value)}: expected {describe(hint)}")


def passes_options_to(receiver: Callable[..., Any]) -> Callable[[F], F]:
    """Mark a factory whose `**options` are `receiver`'s arguments, so they are checked too
    (`data.batch_size` goes through `imdb_datamodule(**options)` to TextDataModule)."""

    def mark(function: F) -> F:
        function.__options_receiver__ = receiver  # type: ignore[attr-defined]
        return function

    return mark


def _hints(target: Callable[..., Any]) -> dict[str, Any] | None:
    """Parameter name → type hint; None when the hints cannot be resolved."""
    function = target.__init__ if inspect.isclass(target) else target  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # a forward reference only a type checker resolves: check nothing
        return None
    hints.pop("return", None)
    receiver = getattr(target, "__options_receiver__", None)
    return {**(_hints(receiver) or {}), **hints} if receiver is not None else hints


def _fits(value: Any, hint: Any) -> bool:
    """Whether a config value (plain, DictConfig or ListConfig) can be passed for `hint`."""
    if isinstance(value, DictConfig) and "_target_" in value:
        return True  # built by Hydra first; its own constructor is checked on its own
    origin = get_origin(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    if hint is type(None) or hint is None:
        return value is None
    if origin in (Union, types.UnionType):
        return any(_fits(value, option) for option in get_args(hint))
    if origin is Literal:
        return value in get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if inspect.isclass(hint) and issubclass(hint, PurePath):
        return isinstance(value, (str, PurePath))
    if origin in _SEQUENCES or hint in _SEQUENCES:
        items = get_args(hint)
        if not isinstance(value, (list, tuple, ListConfig)):
            return False
        if origin is tuple and items and items[-1] is not Ellipsis:
            return len(value) == len(items) and all(map(_fits, value, items))
        return not items or all(_fits(item, items[0]) for item in value)
    if origin in _MAPPINGS or hint in _MAPPINGS:
        return isinstance(value, (dict, DictConfig))
    if inspect.isclass(hint) and isinstance(value, (str, int, float, list, ListConfig)):
        return isinstance(value, hint)  # `lr: float | Tensor` takes no string
    return True  # callables, modules built elsewhere...: the constructor decides


def describe(hint: Any) -> str:
    """`hint` in words: "an integer", "a float or null", "one of 'pre', 'post'"."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [option for option in _flat(hint) if option is not type(None)]
        literals = [option for option in options if get_origin(option) is Literal]
        words = [describe(option) for option in options if get_origin(option) is not Literal]
        if literals:  # Lightning's precision: several Literals in one Union, listed once
            values = [value for literal in literals for value in get_args(literal)]
            words.append(describe(Literal[tuple(dict.fromkeys(values))]))
        text = " or ".join(dict.fromkeys(words))
        return f"{text} or null" if len(options) < len(_flat(hint)) else text
    if origin is Literal:
        return "one of " + ", ".join(repr(option) for option in get_args(hint))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if origin in _SEQUENCES or hint in _SEQUENCES:
        return "a list"
    if origin in _MAPPINGS or hint in _MAPPINGS:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _flat(hint: Any) -> list[Any]:
    """The options of a Union, nested Unions (and Optionals) unpacked."""
    if get_origin(hint) in (Union, types.UnionType):
        return [option for part in get_args(hint) for option in _flat(part)]
    return [hint]


def _show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        return str(value)
    return repr(value)
