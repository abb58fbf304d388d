"""Settings declared once: each configuration field carries its unit, description and valid range.

A configuration is a frozen dataclass whose fields are made with ``setting(...)``. That one
declaration is the source of everything else: ``validate`` checks a built configuration (one error
type, ``ConfigError``), the ROS layer declares each field as a typed, read-only parameter with its
description and range, and the README's parameter table is generated from it
(``memory_nodes.ros.parameters``). No rclpy here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from memory_nodes.core.errors import ConfigError

SETTING = "memory_nodes.setting"


@dataclass(frozen=True)
class SettingSpec:
    """What a configuration field means and which values it accepts.

    ``low``/``high`` bound numbers (``low_open``/``high_open`` exclude the bound itself);
    ``choices`` lists the accepted strings (of a string, or of every item of a list);
    ``min_items`` is the least length of a list."""

    description: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    min_items: int = 0

    def range_text(self) -> str:
        """The accepted values in words, e.g. ``> 0``, ``[0, 1]``, ``one of: a, b``."""
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        if self.low is not None and self.high is not None:
            return f"{'(' if self.low_open else '['}{_number(self.low)}, {_number(self.high)}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        if self.min_items:
            return f"at least {self.min_items} item{'s' if self.min_items > 1 else ''}"
        return ""

    def check(self, name: str, value: Any) -> None:
        """Raise ``ConfigError`` naming ``name`` when ``value`` is outside the accepted values."""
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, (list, tuple)) and len(values) < self.min_items:
            raise ConfigError(f"{name} needs at least {self.min_items} items, got {len(values)}")
        for item in values:
            if self.choices and item not in self.choices:
                raise ConfigError(f"{name} must be {self.range_text()}; got {item!r}")
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if not math.isfinite(item):
                raise ConfigError(f"{name} must be finite, got {item}")
            too_low = self.low is not None and (item <= self.low if self.low_open else item < self.low)
            too_high = self.high is not None and (item >= self.high if self.high_open else item > self.high)
            if too_low or too_high:
                raise ConfigError(f"{name} must be {self.range_text()}, got {item}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def setting(default: Any = dataclasses.MISSING, description: str = "", unit: str = "", *,
            low: float | None = None, high: float | None = None, above: float | None = None,
            below: float | None = None, choices: tuple[str, ...] = (), min_items: int = 0,
            default_factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its meaning attached. ``low``/``high`` are inclusive bounds,
    ``above``/``below`` exclusive ones."""
    spec = SettingSpec(description, unit, low if above is None else above, high if below is None else below,
                       above is not None, below is not None, choices, min_items)
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata={SETTING: spec})
    return dataclasses.field(default=default, metadata={SETTING: spec})


def spec_of(field: dataclasses.Field[Any]) -> SettingSpec | None:
    spec = field.metadata.get(SETTING)
    return spec if isinstance(spec, SettingSpec) else None


def validate(config: Any, prefix: str = "") -> None:
    """Check every ``setting`` field of the dataclass instance ``config`` against its range;
    ``ConfigError`` names the first bad one as ``<prefix><field>``."""
    for field in dataclasses.fields(config):
        spec = spec_of(field)
        if spec is not None:
            spec.check(f"{prefix}{field.name}", getattr(config, field.name))


@dataclass(frozen=True)
class SettingRow:
    """One documented setting: dotted ``name``, default, unit, meaning and accepted values."""

    name: str
    default: Any
    unit: str
    description: str
    accepted: str


def setting_rows(config_class: type, prefix: str = "", defaults: Any = None) -> Iterator[SettingRow]:
    """Every setting of ``config_class`` (nested configurations flattened as ``<field>.<name>``)."""
    instance = defaults if defaults is not None else config_class()
    for field in dataclasses.fields(config_class):
        value = getattr(instance, field.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from setting_rows(type(value), f"{prefix}{field.name}.", value)
            continue
        spec = spec_of(field)
        if spec is not None:
            yield SettingRow(f"{prefix}{field.name}", value, spec.unit, spec.description, spec.range_text())
