"""Where a memory's history lives: an append-only event log plus snapshots, behind one interface.

``EventStore`` is the interface (append events, read them from a sequence number, write and read
the latest snapshot); ``SqliteEventStore`` is the embedded default: one SQLite database per memory
in WAL mode. A server database shared by a fleet (PostgreSQL) can implement the same four methods
without the memories noticing.

Schema (``PRAGMA user_version`` = ``SCHEMA_VERSION``):
    meta(key TEXT PRIMARY KEY, value TEXT)       -- 'kind': which memory the file belongs to
    events(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, payload TEXT, arrays BLOB)
    snapshots(seq INTEGER PRIMARY KEY, state TEXT, arrays BLOB)
``payload``/``state`` are JSON; ``arrays`` an ``.npz`` archive read with ``allow_pickle=False``.
A snapshot at ``seq`` contains every event up to ``seq``; writing one deletes those events and
older snapshots, so the file stays bounded.

Durability (``durability``): ``always`` commits (and fsyncs the WAL) after every append;
``batched`` commits at most every ``batch_interval_s`` and whenever ``commit()`` is called (the
nodes call it before acknowledging a service request, so acknowledged data is always durable);
``off`` leaves it to the operating system.
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from memory_nodes.core.errors import ConfigError, SnapshotError

SCHEMA_VERSION = 1
DURABILITY = ("always", "batched", "off")


def pack_arrays(arrays: dict[str, np.ndarray] | None) -> bytes | None:
    if not arrays:
        return None
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **{key: np.ascontiguousarray(value) for key, value in arrays.items()})
    return buffer.getvalue()


# numpy reads each array's header with ast.literal_eval, and CPython 3.11 keeps the AST builder's
# recursion depth in state the threads share: two threads reading at once can fail with
# "SystemError: AST constructor recursion depth mismatch" (cpython gh-106905). bench_fleet's robots,
# each shipping its journal from a thread, hit it. Every archive the storage reads goes through here.
_ARRAY_READ_LOCK = threading.Lock()


def load_arrays(source: Any) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive ``source`` (a path or a binary file object), read
    without pickle, one thread at a time (see ``_ARRAY_READ_LOCK``)."""
    with _ARRAY_READ_LOCK, np.load(source, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def load_array(path: Path) -> np.ndarray:
    """The one array of the ``.npy`` file at ``path``, read as ``load_arrays`` reads archives."""
    with _ARRAY_READ_LOCK:
        array: np.ndarray = np.load(path, allow_pickle=False)
    return array


def unpack_arrays(blob: bytes | None) -> dict[str, np.ndarray]:
    if not blob:
        return {}
    return load_arrays(io.BytesIO(blob))


class EventStore(Protocol):
    """The storage interface of one memory."""

    def append(self, kind: str, payload: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> int: ...

    def events_after(self, seq: int) -> Iterator[tuple[int, str, dict[str, Any], dict[str, np.ndarray]]]: ...

    def write_snapshot(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> int: ...

    def latest_snapshot(self) -> tuple[int, dict[str, Any], dict[str, np.ndarray]] | None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


class SqliteEventStore:
    """The embedded ``EventStore``: SQLite in WAL mode. Thread-safe."""

    def __init__(self, path: str | Path, kind: str, durability: str = "batched", batch_interval_s: float = 0.2,
                 keep_unshipped: bool = False) -> None:
        """``keep_unshipped``: a snapshot drops only the events already shipped to a server
        (``mark_shipped``), so an offline robot never loses what the server has not got yet."""
        if durability not in DURABILITY:
            raise ConfigError(f"durability must be one of {DURABILITY}, got {durability!r}")
        if batch_interval_s < 0:
            raise ConfigError("batch_interval_s must be >= 0")
        self.path = Path(path)
        self.kind = kind
        self.durability = durability
        self.batch_interval_s = batch_interval_s
        self.keep_unshipped = keep_unshipped
        self._lock = threading.Lock()
        if self.path.exists():
            self._check_existing()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'OFF' if durability == 'off' else 'FULL'}")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
            "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
            " payload TEXT NOT NULL, arrays BLOB);"
            "CREATE TABLE IF NOT EXISTS snapshots(seq INTEGER PRIMARY KEY, state TEXT NOT NULL, arrays BLOB);"
        )
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('kind', ?)", (kind,))
        self._in_transaction = False
        self._last_commit = time.monotonic()
        self.appended = 0

    def _check_existing(self) -> None:
        """Refuse, without writing, a file of a newer schema, of another memory, or not SQLite."""
        try:
            probe = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                version = probe.execute("PRAGMA user_version").fetchone()[0]
                tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                kind = probe.execute("SELECT value FROM meta WHERE key='kind'").fetchone() if "meta" in tables else None
            finally:
                probe.close()
        except sqlite3.DatabaseError as error:
            raise SnapshotError(f"{self.path} is not a memory journal (unreadable or corrupt): {error}") from error
        if version > SCHEMA_VERSION:
            raise SnapshotError(f"{self.path} has schema version {version}; this build reads up to {SCHEMA_VERSION}")
        if kind is not None and kind[0] != self.kind:
            raise SnapshotError(f"{self.path} holds a {kind[0]!r} memory, not {self.kind!r}")

    def _begin(self) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN")
            self._in_transaction = True

    def _commit_locked(self) -> None:
        if self._in_transaction:
            self._db.execute("COMMIT")
            self._in_transaction = False
        self._last_commit = time.monotonic()

    def append(self, kind: str, payload: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> int:
        """Log one event; returns its sequence number. Durable on return with ``always``."""
        document = json.dumps(payload, allow_nan=True)
        blob = pack_arrays(arrays)
        with self._lock:
            self._begin()
            seq = self._db.execute("INSERT INTO events(kind, payload, arrays) VALUES (?, ?, ?)",
                                   (kind, document, blob)).lastrowid
            self.appended += 1
            if self.durability == "always" or time.monotonic() - self._last_commit >= self.batch_interval_s:
                self._commit_locked()
            return int(seq or 0)

    def commit(self) -> None:
        """Make everything appended so far durable (unless durability is ``off``)."""
        with self._lock:
            self._commit_locked()

    def events_after(self, seq: int) -> Iterator[tuple[int, str, dict[str, Any], dict[str, np.ndarray]]]:
        """Events with a sequence number above ``seq``, oldest first, read in pages."""
        last = seq
        while True:
            with self._lock:
                rows = self._db.execute("SELECT seq, kind, payload, arrays FROM events WHERE seq > ? ORDER BY seq "
                                        "LIMIT 500", (last,)).fetchall()
            if not rows:
                return
            for number, kind, payload, blob in rows:
                last = number
                yield number, kind, json.loads(payload), unpack_arrays(blob)

    def write_snapshot(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> int:
        """Store a snapshot covering every event so far; drop those events. Returns its seq."""
        document = json.dumps(state, allow_nan=True)
        blob = pack_arrays(arrays)
        with self._lock:
            self._begin()
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
            seq = max(seq, self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM snapshots").fetchone()[0])
            self._db.execute("INSERT OR REPLACE INTO snapshots(seq, state, arrays) VALUES (?, ?, ?)", (seq, document, blob))
            self._db.execute("DELETE FROM snapshots WHERE seq < ?", (seq,))
            floor = min(seq, self._shipped_locked()) if self.keep_unshipped else seq
            self._db.execute("DELETE FROM events WHERE seq <= ?", (floor,))
            self._commit_locked()
            return int(seq)

    def latest_snapshot(self) -> tuple[int, dict[str, Any], dict[str, np.ndarray]] | None:
        with self._lock:
            row = self._db.execute("SELECT seq, state, arrays FROM snapshots ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return int(row[0]), json.loads(row[1]), unpack_arrays(row[2])

    def event_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def event_count_after(self, seq: int) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events WHERE seq > ?", (seq,)).fetchone()[0])

    def _shipped_locked(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='shipped_seq'").fetchone()
        return int(row[0]) if row else 0

    def shipped_through(self) -> int:
        """The sequence number up to which the events are on the server (0: none)."""
        with self._lock:
            return self._shipped_locked()

    def mark_shipped(self, seq: int) -> None:
        """Record (durably) that the events up to ``seq`` are on the server."""
        with self._lock:
            self._begin()
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('shipped_seq', ?)",
                             (str(max(seq, self._shipped_locked())),))
            self._commit_locked()

    def close(self) -> None:
        with self._lock:
            self._commit_locked()
            self._db.close()
