"""The fleet's server database: every robot's memory events in PostgreSQL (psycopg 3).

One database holds the streams of many robots; a stream is (robot_id, memory), its events numbered
by the robot's own sequence numbers, so shipping an event twice stores it once (the primary key)
and each robot's events keep their order. ``PostgresEventStore`` is the ``EventStore`` of one
stream on the server, with the promises of the SQLite journal: ``commit()`` makes everything
appended durable on the server before a node acknowledges a request, a snapshot absorbs the
stream's events up to it, and a database whose schema is newer than this build, or that is not a
memory_nodes database, is refused with a message before anything is written.

Schema (``memory_nodes_meta.schema_version`` = ``SCHEMA_VERSION``):
    memory_nodes_meta(key TEXT PRIMARY KEY, value TEXT)
    memory_events(robot_id, memory, seq, kind, payload TEXT (JSON), arrays BYTEA (.npz), stamp, received_at,
                  PRIMARY KEY (robot_id, memory, seq))
    memory_snapshots(robot_id, memory, seq, state TEXT (JSON), arrays BYTEA, PRIMARY KEY (robot_id, memory))

Connections come from a ``psycopg_pool.ConnectionPool`` (``min_size`` 1, checked on borrow), with a
connect timeout and a statement timeout; a lost server raises ``ServerUnavailableError`` and the
next call reconnects.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from memory_nodes.core.errors import ConfigError, MemoryNodesError, SnapshotError
from memory_nodes.storage.event_store import pack_arrays, unpack_arrays

SCHEMA_VERSION = 1
APPLICATION = "memory_nodes"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS memory_nodes_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS memory_events(robot_id TEXT NOT NULL, memory TEXT NOT NULL, seq BIGINT NOT NULL,"
    " kind TEXT NOT NULL, payload TEXT NOT NULL, arrays BYTEA, stamp DOUBLE PRECISION,"
    " received_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (robot_id, memory, seq))",
    "CREATE TABLE IF NOT EXISTS memory_snapshots(robot_id TEXT NOT NULL, memory TEXT NOT NULL, seq BIGINT NOT NULL,"
    " state TEXT NOT NULL, arrays BYTEA, PRIMARY KEY (robot_id, memory))",
)

# Every memory node of a robot opens its own connection pool and checks the schema at once: two
# "CREATE TABLE IF NOT EXISTS" racing on a fresh database fail with a unique violation in
# PostgreSQL's catalogue. One transaction-scoped advisory lock (an arbitrary key of our own) puts
# them in a row.
_SCHEMA_LOCK_KEY = 0x6D656D6F7279  # "memory"

Event = tuple[int, str, dict[str, Any], dict[str, np.ndarray]]


class ServerUnavailableError(MemoryNodesError):
    """The server could not be reached or dropped the connection; the call may be retried."""


def event_stamp(payload: dict[str, Any]) -> float | None:
    """The message time an event carries, if any (frames, observations, reported events)."""
    for key in ("stamp", "stamps"):
        value = payload.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, list) and value and isinstance(value[0], (int, float)):
            return float(max(value))
    return None


class ServerDatabase:
    """A pool of connections to the fleet's database, its schema created or checked once."""

    def __init__(self, conninfo: str, connect_timeout_s: float = 5.0, statement_timeout_s: float = 30.0,
                 max_connections: int = 4) -> None:
        if not conninfo:
            raise ConfigError("the server connection string is empty (e.g. 'host=db.example port=5432 dbname=memory')")
        if connect_timeout_s <= 0 or statement_timeout_s <= 0 or max_connections < 1:
            raise ConfigError("connect_timeout_s and statement_timeout_s must be > 0, max_connections >= 1")
        self.conninfo = conninfo
        self.connect_timeout_s = connect_timeout_s
        options = f"-c statement_timeout={int(statement_timeout_s * 1000)}"
        self._connection_options = {"connect_timeout": max(1, round(connect_timeout_s)),
                                    "application_name": APPLICATION, "options": options}
        self.max_connections = max_connections
        self.pool = self._new_pool()
        self._schema_checked = False
        self._lock = threading.RLock()  # lost() may run inside _ensure_schema, on the same thread

    def _new_pool(self) -> ConnectionPool:
        return ConnectionPool(self.conninfo, min_size=1, max_size=self.max_connections, open=False,
                              check=ConnectionPool.check_connection, kwargs=self._connection_options,
                              timeout=self.connect_timeout_s)

    def lost(self) -> None:
        """The server went away: drop the pool; the next call connects afresh (a pool that failed to
        reconnect for long stops trying on its own)."""
        with self._lock:
            self.pool.close(timeout=0)
            self.pool = self._new_pool()

    def open(self) -> None:
        """Connect and create or check the schema; ``ServerUnavailableError`` if unreachable."""
        try:
            self.pool.open(wait=True, timeout=self.connect_timeout_s)
        except PoolTimeout as error:
            raise ServerUnavailableError(f"no connection to the server within {self.connect_timeout_s} s") from error
        self._ensure_schema()

    def connection(self) -> Any:
        """A pooled connection (context manager: committed on success, rolled back on error)."""
        if self.pool.closed:
            self.open()
        return self.pool.connection(timeout=self.connect_timeout_s)

    def _ensure_schema(self) -> None:
        with self._lock:
            if self._schema_checked:
                return
            with self.run() as connection:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
                tables = {row[0] for row in connection.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
                if "memory_nodes_meta" in tables:
                    row = connection.execute("SELECT value FROM memory_nodes_meta WHERE key='schema_version'").fetchone()
                    version = int(row[0]) if row else 0
                    if version > SCHEMA_VERSION:
                        raise SnapshotError(f"the server database has memory_nodes schema {version}; this build reads up "
                                            f"to {SCHEMA_VERSION}: upgrade the package")
                elif "memory_events" in tables or "memory_snapshots" in tables:
                    raise SnapshotError("the server database has memory_events tables that memory_nodes did not create: "
                                        "refused (use a database of its own)")
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.execute("INSERT INTO memory_nodes_meta(key, value) VALUES ('schema_version', %s) "
                                   "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
            self._schema_checked = True

    def run(self) -> Any:
        """``connection()`` with connection failures turned into ``ServerUnavailableError``."""
        return _Guarded(self)

    def close(self) -> None:
        self.pool.close()


class _Guarded:
    def __init__(self, database: ServerDatabase) -> None:
        self.database = database
        self._context: Any = None

    def __enter__(self) -> psycopg.Connection[Any]:
        try:
            self._context = self.database.connection()
            connection: psycopg.Connection[Any] = self._context.__enter__()
            return connection
        except (psycopg.OperationalError, PoolTimeout) as error:
            self.database.lost()
            raise ServerUnavailableError(f"server unavailable: {error}") from error

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        try:
            self._context.__exit__(kind, value, traceback)
        except (psycopg.OperationalError, PoolTimeout) as error:
            self.database.lost()
            raise ServerUnavailableError(f"server unavailable: {error}") from error
        if isinstance(value, (psycopg.OperationalError, PoolTimeout)):
            self.database.lost()
            raise ServerUnavailableError(f"server unavailable: {value}") from value


def insert_events(connection: psycopg.Connection[Any], robot_id: str, memory: str, events: Sequence[Event]) -> int:
    """Insert ``events`` of one stream; an event already there (same robot, memory, seq) is kept as
    it was. Returns how many were new."""
    rows = [(robot_id, memory, seq, kind, json.dumps(payload, allow_nan=True), pack_arrays(arrays), event_stamp(payload))
            for seq, kind, payload, arrays in events]
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO memory_events(robot_id, memory, seq, kind, payload, arrays, stamp) "
                           "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (robot_id, memory, seq) DO NOTHING",
                           rows, returning=False)
        return max(cursor.rowcount, 0)


def read_events(connection: psycopg.Connection[Any], robot_id: str, memory: str, after: int,
                limit: int = 500) -> list[Event]:
    rows = connection.execute("SELECT seq, kind, payload, arrays FROM memory_events WHERE robot_id = %s AND memory = %s "
                              "AND seq > %s ORDER BY seq LIMIT %s", (robot_id, memory, after, limit)).fetchall()
    return [(int(seq), kind, json.loads(payload), unpack_arrays(bytes(blob) if blob is not None else None))
            for seq, kind, payload, blob in rows]


def streams(connection: psycopg.Connection[Any]) -> list[tuple[str, str, int]]:
    """(robot_id, memory, last seq) of every stream on the server."""
    return [(r, m, int(s)) for r, m, s in connection.execute(
        "SELECT robot_id, memory, MAX(seq) FROM memory_events GROUP BY robot_id, memory ORDER BY robot_id, memory")]


class PostgresEventStore:
    """The ``EventStore`` of one robot's memory on the server. Thread-safe."""

    def __init__(self, database: ServerDatabase, robot_id: str, memory: str) -> None:
        if not robot_id:
            raise ConfigError("robot_id is empty: every robot of a fleet needs an id of its own")
        self.database = database
        self.robot_id = robot_id
        self.kind = memory
        self.path = f"{database.conninfo} ({robot_id}/{memory})"
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        database.open()
        with database.run() as connection:
            row = connection.execute("SELECT GREATEST((SELECT MAX(seq) FROM memory_events WHERE robot_id = %s AND "
                                     "memory = %s), (SELECT seq FROM memory_snapshots WHERE robot_id = %s AND memory = %s))",
                                     (robot_id, memory, robot_id, memory)).fetchone()
        self._next_seq = int(row[0] or 0) + 1 if row else 1

    def append(self, kind: str, payload: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> int:
        """Queue one event; it is on the server after the next ``commit()``."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            self._pending.append((seq, kind, payload, arrays or {}))
            return seq

    def commit(self) -> None:
        """Write every queued event in one transaction; ``ServerUnavailableError`` leaves them queued."""
        with self._lock:
            if not self._pending:
                return
            with self.database.run() as connection:
                insert_events(connection, self.robot_id, self.kind, self._pending)
            self._pending.clear()

    def events_after(self, seq: int) -> Iterator[Event]:
        self.commit()
        last = seq
        while True:
            with self.database.run() as connection:
                page = read_events(connection, self.robot_id, self.kind, last)
            if not page:
                return
            yield from page
            last = page[-1][0]

    def write_snapshot(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> int:
        """Store a snapshot covering every event so far and drop those events, in one transaction."""
        self.commit()
        with self._lock:
            seq = self._next_seq - 1
            with self.database.run() as connection:
                connection.execute(
                    "INSERT INTO memory_snapshots(robot_id, memory, seq, state, arrays) VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (robot_id, memory) DO UPDATE SET seq = EXCLUDED.seq, state = EXCLUDED.state, "
                    "arrays = EXCLUDED.arrays", (self.robot_id, self.kind, seq, json.dumps(state, allow_nan=True),
                                                 pack_arrays(arrays)))
                connection.execute("DELETE FROM memory_events WHERE robot_id = %s AND memory = %s AND seq <= %s",
                                   (self.robot_id, self.kind, seq))
            return seq

    def latest_snapshot(self) -> tuple[int, dict[str, Any], dict[str, np.ndarray]] | None:
        with self.database.run() as connection:
            row = connection.execute("SELECT seq, state, arrays FROM memory_snapshots WHERE robot_id = %s AND memory = %s",
                                     (self.robot_id, self.kind)).fetchone()
        if row is None:
            return None
        return int(row[0]), json.loads(row[1]), unpack_arrays(bytes(row[2]) if row[2] is not None else None)

    def event_count(self) -> int:
        with self.database.run() as connection:
            row = connection.execute("SELECT COUNT(*) FROM memory_events WHERE robot_id = %s AND memory = %s",
                                     (self.robot_id, self.kind)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.commit()
