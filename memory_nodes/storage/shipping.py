"""Offline-first shipping of a robot's journal to the fleet's server.

The robot's SQLite journal stays its memory's store of record: requests are acknowledged once the
local journal has them, whether the server is reachable or not. ``EventShipper`` copies the
journal's events to the server in sequence order, in batches of one transaction each, and marks
them shipped in the local journal only after the server committed them. A crash between the two
ships the batch again, which the server's primary key (robot, memory, seq) absorbs: every event
arrives exactly once, in order, and the local journal keeps every event until it has been shipped
(``SqliteEventStore(keep_unshipped=True)``), snapshots or not.

A journal that existed before shipping was turned on has already folded its early events into a
snapshot: that snapshot is shipped as the stream's snapshot, and its events from there on.

``ShippingWorker`` runs a shipper on a thread: every ``period_s`` it ships what is pending; while the
server is unreachable it keeps trying, and reports the outage and the recovery once each.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

import numpy as np
import psycopg

from memory_nodes.core.errors import MemoryNodesError
from memory_nodes.storage.event_store import SqliteEventStore, pack_arrays
from memory_nodes.storage.postgres_store import ServerDatabase, ServerUnavailableError, insert_events


class EventShipper:
    """Ships one local journal (one robot's memory) to the server."""

    def __init__(self, local: SqliteEventStore, database: ServerDatabase, robot_id: str, batch_size: int = 500) -> None:
        self.local = local
        self.database = database
        self.robot_id = robot_id
        self.memory = local.kind
        self.batch_size = max(1, batch_size)
        self.shipped_events = 0
        self.shipped_snapshots = 0

    def backlog(self) -> int:
        """Events in the local journal not yet on the server."""
        return self.local.event_count_after(self.local.shipped_through())

    def ship_once(self) -> int:
        """Ship the next batch; returns how many events it held (0: nothing pending).
        ``ServerUnavailableError`` when the server cannot be reached (nothing is marked shipped)."""
        shipped = self.local.shipped_through()
        batch = list(islice(self.local.events_after(shipped), self.batch_size))
        snapshot = self.local.latest_snapshot()
        if snapshot is not None and snapshot[0] > shipped and (not batch or batch[0][0] > shipped + 1):
            self._ship_snapshot(*snapshot)  # the events up to it are gone: ship it in their place
            self.local.mark_shipped(snapshot[0])
            return self.ship_once()
        if not batch:
            return 0
        with self.database.run() as connection:
            insert_events(connection, self.robot_id, self.memory, batch)
        self.local.mark_shipped(batch[-1][0])
        self.shipped_events += len(batch)
        return len(batch)

    def _ship_snapshot(self, seq: int, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        with self.database.run() as connection:
            connection.execute(
                "INSERT INTO memory_snapshots(robot_id, memory, seq, state, arrays) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (robot_id, memory) DO UPDATE SET seq = EXCLUDED.seq, state = EXCLUDED.state, "
                "arrays = EXCLUDED.arrays WHERE memory_snapshots.seq < EXCLUDED.seq",
                (self.robot_id, self.memory, seq, json.dumps(state, allow_nan=True), pack_arrays(arrays)))
        self.shipped_snapshots += 1

    def ship_all(self) -> int:
        """Ship until nothing is pending; returns how many events were shipped."""
        total = 0
        while (count := self.ship_once()) > 0:
            total += count
        return total


class ShippingWorker:
    """A thread that ships every ``period_s`` until ``stop()``; ``report(text)`` hears outages and
    recoveries (once each)."""

    def __init__(self, shipper: EventShipper, period_s: float, report: Callable[[str], None] = print) -> None:
        self.shipper = shipper
        self.period_s = period_s
        self.report = report
        self.last_error = ""
        # None until the first attempt; "" once shipping worked; while it fails, "unreachable" (no
        # server) or "refused" (the server answered but refused a statement).
        self._failing: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"ship_{shipper.memory}")

    @property
    def connected(self) -> bool | None:
        """The server answered the last attempt (None before the first one)."""
        return None if self._failing is None else self._failing != "unreachable"

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.shipper.ship_all()
                if self._failing == "unreachable":
                    self.report(f"server reachable again: {self.shipper.memory} journal shipped up to date")
                elif self._failing == "refused":
                    self.report(f"the server takes the {self.shipper.memory} journal again: shipped up to date")
                self._failing, self.last_error = "", ""
            except ServerUnavailableError as error:
                if self._failing != "unreachable":
                    self.report(f"server unreachable, {self.shipper.memory} events wait in the local journal: {error}")
                self._failing, self.last_error = "unreachable", str(error)
            except (psycopg.Error, MemoryNodesError) as error:
                # Refused by the server (a schema it will not take, a failed statement): the events
                # wait in the local journal and the next period tries again; the thread must not die.
                if self._failing != "refused" or str(error) != self.last_error:
                    self.report(f"shipping the {self.shipper.memory} journal failed, retrying: {error}")
                self._failing, self.last_error = "refused", str(error)
            self._stop.wait(max(0.0, self.period_s - (time.monotonic() - started)))

    def stop(self, final_attempt: bool = True) -> None:
        """Stop the thread; with ``final_attempt`` ship once more (best effort) before returning."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if final_attempt:
            try:
                self.shipper.ship_all()
            except ServerUnavailableError:
                pass  # the local journal keeps them for the next start
