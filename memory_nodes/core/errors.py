"""Domain errors of the memory core. Nodes turn them into `success=false` responses."""

from __future__ import annotations


class MemoryNodesError(Exception):
    """Base class of every error the memory core raises on purpose."""


class InvalidInputError(MemoryNodesError, ValueError):
    """An observation, query or parameter is malformed (NaN pose, negative limit, bad size...)."""


class UnknownItemError(MemoryNodesError, KeyError):
    """An id names no object, place, episode or fact in the memory."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown item"


class ConfigError(MemoryNodesError, ValueError):
    """A configuration value is out of range; raised at start-up, never at run time."""


class SnapshotError(MemoryNodesError):
    """A snapshot file is missing, corrupt, of a newer schema, or outside the memory directory."""
