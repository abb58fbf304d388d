"""Forgetting curve (MemoryBank): retention R = exp(-dt / S), the strength S grows on each recall.

Times are message stamps in seconds (not the wall clock), so replayed bags forget at bag speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class RetentionPolicy:
    """``initial_strength_s``: S of a new item, seconds. ``recall_growth``: factor applied to S on
    each recall or re-observation. ``max_strength_s``: cap on S, seconds."""

    initial_strength_s: float = 86400.0
    recall_growth: float = 1.5
    max_strength_s: float = 365 * 86400.0

    def __post_init__(self) -> None:
        if not self.initial_strength_s > 0:
            raise ConfigError("retention initial_strength_s must be > 0")
        if not self.recall_growth >= 1.0:
            raise ConfigError("retention recall_growth must be >= 1")
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
