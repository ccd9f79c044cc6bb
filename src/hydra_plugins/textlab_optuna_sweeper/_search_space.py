"""Search space: `hydra.sweeper.params` and command-line sweeps → Optuna distributions.

The syntax is Hydra's override grammar, as the published Optuna sweeper reads it:

    choice(a, b, c), a,b,c, glob(*)   → CategoricalDistribution
    range(start, stop[, step])        → IntDistribution / FloatDistribution with that step
                                        (stop excluded, as in Python)
    interval(low, high)               → FloatDistribution(low, high)
    int(interval(low, high))          → IntDistribution(low, high): Hydra's grammar reads
                                        interval() bounds as floats, int() casts them back
    tag(log, <interval or range>)     → the same on a log scale

Anything that is not a sweep (`model=lstm`, `~key`, `+key=1`) is passed to every job unchanged.
Names starting with `_` keep Hydra's plugin scan from importing this module (and Optuna).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

PRIMITIVES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class SearchSpace:
    """What Optuna samples (`distributions`) and how a trial's values become job overrides."""

    distributions: dict[str, BaseDistribution]
    # every override key in command-line order: the fixed override's text, or None if searched
    entries: dict[str, str | None]
    # override text of categorical choices Optuna cannot store as such (lists, dicts)
    choice_texts: dict[str, dict[str, str]]

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The job's overrides for a trial's sampled `params`."""
        lines = []
        for key, fixed in self.entries.items():
            if fixed is not None:
                lines.append(fixed)
                continue
            value = params[key]
            text = self.choice_texts.get(key, {}).get(value) if isinstance(value, str) else None
            lines.append(f"{key}={text if text is not None else Transformer.str(value)}")
        return lines


def parse_search_space(overrides: Iterable[str], config_loader: Any = None) -> SearchSpace:
    """Parse `key=value` overrides (later ones win); sweeps become distributions."""
    parser = OverridesParser.create(config_loader=config_loader)
    distributions: dict[str, BaseDistribution] = {}
    entries: dict[str, str | None] = {}
    choice_texts: dict[str, dict[str, str]] = {}
    for override in parser.parse_overrides(list(overrides)):
        key = override.get_key_element()
        distributions.pop(key, None)
        if not override.is_sweep_override():
            entries[key] = override.input_line
            continue
        distribution, texts = to_distribution(override)
        distributions[key] = distribution
        entries[key] = None
        if texts:
            choice_texts[key] = texts
    return SearchSpace(distributions, entries, choice_texts)


def to_distribution(override: Override) -> tuple[BaseDistribution, dict[str, str]]:
    """One sweep override → its distribution, and the override text of non-primitive choices."""
    value = override.value()
    log = "log" in getattr(value, "tags", ())
    if isinstance(value, IntervalSweep):
        assert value.start is not None and value.end is not None
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log), {}
        return FloatDistribution(float(value.start), float(value.end), log=log), {}
    if not (override.is_choice_sweep() or override.is_range_sweep()):
        raise ValueError(
            f"{override.input_line}: not a sweep the Optuna sweeper knows; use choice(...), "
            "range(...), interval(...), int(interval(...)) or tag(log, ...)"
        )
    values = list(override.sweep_iterator())
    if getattr(value, "shuffle", False):
        # a sampler picks its own order; a fixed one keeps the distribution equal across
        # processes and resumed runs (Optuna refuses a parameter whose distribution changed)
        values.sort(key=lambda element: (type(element).__name__, Transformer.str(element)))
    if override.is_choice_sweep():
        return categorical(values)
    assert isinstance(value, RangeSweep)
    if not values:
        raise ValueError(f"{override.input_line}: the range is empty")
    low, high, step = min(values), max(values), abs(value.step)
    if all(isinstance(v, int) for v in values) and isinstance(step, int):
        return IntDistribution(low, high, log=log, step=1 if log else step), {}
    return FloatDistribution(low, high, log=log, step=None if log else step), {}


def categorical(elements: Iterable[Any]) -> tuple[CategoricalDistribution, dict[str, str]]:
    """Primitive choices are stored as they are; others (lists, dicts) by their override text."""
    choices: list[Any] = []
    texts: dict[str, str] = {}
    for element in elements:
        if isinstance(element, PRIMITIVES):
            choices.append(element)
        else:
            text = Transformer.str(element)
            texts[text] = text
            choices.append(text)
    return CategoricalDistribution(choices), texts
