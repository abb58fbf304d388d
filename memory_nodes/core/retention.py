"""Forgetting curve (MemoryBank): retention R = exp(-dt / S), the strength S grows on each recall.

Times are message stamps in seconds (not the wall clock), so replayed bags forget at bag speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from memory_nodes.core.errors import ConfigError
from memory_nodes.core.settings import setting, validate


@dataclass(frozen=True)
class RetentionPolicy:
    """``initial_strength_s``: S of a new item, seconds. ``recall_growth``: factor applied to S on
    each recall or re-observation. ``max_strength_s``: cap on S, seconds."""

    initial_strength_s: float = setting(86400.0, "forgetting-curve strength S of a new item", "s", above=0)
    recall_growth: float = setting(1.5, "factor applied to S on each recall", low=1)
    max_strength_s: float = setting(365 * 86400.0, "upper bound of S (at least initial_strength_s)", "s", above=0)

    def __post_init__(self) -> None:
        validate(self, "retention ")
        if not self.max_strength_s >= self.initial_strength_s:
            raise ConfigError("retention max_strength_s must be >= initial_strength_s")


@dataclass
class Retention:
    """Strength ``strength_s`` (seconds) and the stamp ``reinforced_at`` (seconds) of the last recall."""

    strength_s: float
    reinforced_at: float

    @classmethod
    def new(cls, policy: RetentionPolicy, stamp: float) -> Retention:
        return cls(policy.initial_strength_s, stamp)

    def value(self, now: float) -> float:
        """Retention in (0, 1] at stamp ``now`` (seconds); 1 right after a recall."""
        return math.exp(-max(0.0, now - self.reinforced_at) / self.strength_s)

    def reinforce(self, policy: RetentionPolicy, stamp: float) -> None:
        """A recall or re-observation at ``stamp``: the curve restarts and flattens."""
        self.strength_s = min(self.strength_s * policy.recall_growth, policy.max_strength_s)
        self.reinforced_at = max(self.reinforced_at, stamp)
