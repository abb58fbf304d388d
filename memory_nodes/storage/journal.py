"""Event-sourced memories: every change to a memory is a typed event (``events``) in its
``EventStore``.

A node applies a change to its memory, then records it here (``record``); on start, ``restore``
loads the latest snapshot and replays the events after it, each through the memory method that
applied it, so the rebuilt memory equals the lost one (ids included). Every ``snapshot_every``
events a snapshot is written and the log before it dropped.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from memory_nodes.core.errors import MemoryNodesError
from memory_nodes.storage.event_store import EventStore
from memory_nodes.storage.events import EVENTS, JournalEvent


class Snapshottable(Protocol):
    """What a memory offers its journal."""

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None: ...


class Journal:
    """Binds one memory to its ``EventStore``."""

    def __init__(self, memory: Snapshottable, kind: str, store: EventStore, snapshot_every: int = 5000) -> None:
        if kind not in EVENTS:
            raise ValueError(f"no journal for memory kind {kind!r}")
        self.memory = memory
        self.kind = kind
        self.store = store
        self.snapshot_every = max(1, snapshot_every)
        self._since_snapshot = 0
        self.replay_errors = 0

    def record(self, event: JournalEvent) -> int:
        """Log a change already applied to the memory; snapshot when the log has grown enough."""
        if EVENTS[self.kind].get(event.name) is not type(event):
            raise ValueError(f"{self.kind} journal has no event {type(event).__name__}")
        seq = self.store.append(event.name, *event.encode())
        self._since_snapshot += 1
        if self._since_snapshot >= self.snapshot_every:
            self.snapshot()
        return seq

    def snapshot(self) -> int:
        """Write the memory's state as the new base of the log."""
        self._since_snapshot = 0
        return self.store.write_snapshot(*self.memory.snapshot())

    def commit(self) -> None:
        self.store.commit()

    def restore(self) -> int:
        """Rebuild the memory from the latest snapshot and the events after it; returns how many
        events were replayed. An event the memory refuses again is counted, not fatal."""
        snapshot = self.store.latest_snapshot()
        after = 0
        if snapshot is not None:
            after, state, arrays = snapshot
            self.memory.restore(state, arrays)
        replayed = 0
        for _, name, payload, arrays in self.store.events_after(after):
            try:
                EVENTS[self.kind][name].decode(payload, arrays).apply(self.memory)
            except MemoryNodesError:
                self.replay_errors += 1
            replayed += 1
        self._since_snapshot = replayed
        return replayed
