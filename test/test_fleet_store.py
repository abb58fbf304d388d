"""The fleet's server store and offline-first shipping, against a real PostgreSQL server of the
tests' own (initdb + pg_ctl in a temporary folder, a Unix socket, no host server touched)."""

from __future__ import annotations

import itertools
import json
import threading
import time

import psycopg
import pytest

from memory_nodes.core.errors import ConfigError, SnapshotError
from memory_nodes.core.semantic import SemanticMemory
from memory_nodes.storage.event_store import SqliteEventStore
from memory_nodes.storage.events import FactAdded
from memory_nodes.storage.journal import Journal
from memory_nodes.storage.postgres_store import PostgresEventStore, ServerDatabase, ServerUnavailableError
from memory_nodes.storage.shipping import EventShipper

_databases = itertools.count()


@pytest.fixture
def server(postgres_server):
    return postgres_server


@pytest.fixture
def conninfo(server):
    """A database of the test's own on the throwaway server."""
    return server.create_database(f"store_{next(_databases)}")


def server_events(conninfo, robot="r1", memory="semantic"):
    with psycopg.connect(conninfo) as connection:
        return connection.execute("SELECT seq, kind, payload FROM memory_events WHERE robot_id = %s AND memory = %s "
                                  "ORDER BY seq", (robot, memory)).fetchall()


def add_facts(memory, journal, start, count):
    for i in range(start, start + count):
        event = FactAdded(f"mug{i}", "is_in", "kitchen" if i % 2 else "office", 0.9, "planner", float(i))
        event.apply(memory)
        journal.record(event)


def test_a_journal_on_the_server_restores_the_same_memory(conninfo, encoder):
    database = ServerDatabase(conninfo)
    memory = SemanticMemory(text_encoder=encoder)
    journal = Journal(memory, "semantic", PostgresEventStore(database, "r1", "semantic"), snapshot_every=7)
    add_facts(memory, journal, 0, 12)  # a snapshot at 7 absorbs the first seven
    journal.commit()
    assert [row[0] for row in server_events(conninfo)] == list(range(8, 13))
    rebuilt = SemanticMemory(text_encoder=encoder)
    replayed = Journal(rebuilt, "semantic", PostgresEventStore(ServerDatabase(conninfo), "r1", "semantic")).restore()
    assert replayed == 5
    assert [(f.subject, f.object) for f in rebuilt.all_facts()] == [(f.subject, f.object) for f in memory.all_facts()]
    # Another robot's stream in the same database is apart.
    other = PostgresEventStore(ServerDatabase(conninfo), "r2", "semantic")
    assert other.latest_snapshot() is None and list(other.events_after(0)) == []
    database.close()


def test_a_newer_or_foreign_schema_is_refused_before_anything_is_written(server, conninfo):
    ServerDatabase(conninfo).open()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("UPDATE memory_nodes_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SnapshotError, match="schema 99"):
        ServerDatabase(conninfo).open()
    foreign = server.create_database(f"foreign_{next(_databases)}")
    with psycopg.connect(foreign, autocommit=True) as connection:
        connection.execute("CREATE TABLE memory_events(id int)")
    with pytest.raises(SnapshotError, match="did not create"):
        ServerDatabase(foreign).open()
    with psycopg.connect(foreign) as connection:
        tables = {r[0] for r in connection.execute("SELECT table_name FROM information_schema.tables "
                                                  "WHERE table_schema = 'public'")}
    assert tables == {"memory_events"}
    with pytest.raises(ConfigError):
        ServerDatabase("")


def test_shipping_survives_an_outage_and_keeps_unshipped_events_through_snapshots(server, conninfo, tmp_path, encoder):
    local = SqliteEventStore(tmp_path / "semantic.sqlite3", "semantic", keep_unshipped=True)
    memory = SemanticMemory(text_encoder=encoder)
    journal = Journal(memory, "semantic", local, snapshot_every=10)
    shipper = EventShipper(local, ServerDatabase(conninfo, connect_timeout_s=2.0), "r1", batch_size=8)
    add_facts(memory, journal, 0, 15)
    assert shipper.ship_all() == 15
    server.stop()
    try:
        add_facts(memory, journal, 15, 25)  # acknowledged locally while the server is down; 2 snapshots
        journal.commit()
        with pytest.raises(ServerUnavailableError):
            shipper.ship_once()
        assert local.shipped_through() == 15 and shipper.backlog() == 25  # the snapshots kept them
    finally:
        server.start()
    assert shipper.ship_all() == 25
    rows = server_events(conninfo)
    assert [r[0] for r in rows] == list(range(1, 41))  # every event once, in order
    assert [json.loads(r[2]) for r in rows] == reference_payloads(tmp_path, encoder, 40)
    journal.snapshot()
    assert local.event_count() == 0  # shipped and folded into the snapshot: the local log is bounded again


def reference_payloads(tmp_path, encoder, count):
    """The payloads a memory that recorded the same facts journals, in order."""
    store = SqliteEventStore(tmp_path / "reference.sqlite3", "semantic")
    journal = Journal(SemanticMemory(text_encoder=encoder), "semantic", store, snapshot_every=1000)
    add_facts(journal.memory, journal, 0, count)
    journal.commit()
    return [payload for _, _, payload, _ in store.events_after(0)]


def test_a_crash_between_the_servers_commit_and_the_local_mark_ships_nothing_twice(conninfo, tmp_path, encoder,
                                                                                     monkeypatch):
    local = SqliteEventStore(tmp_path / "semantic.sqlite3", "semantic", keep_unshipped=True)
    memory = SemanticMemory(text_encoder=encoder)
    journal = Journal(memory, "semantic", local)
    add_facts(memory, journal, 0, 20)
    journal.commit()
    shipper = EventShipper(local, ServerDatabase(conninfo), "r1", batch_size=20)
    with monkeypatch.context() as patch:
        def crash(_seq):
            raise KeyboardInterrupt  # the process dies after the server committed
        patch.setattr(local, "mark_shipped", crash)
        with pytest.raises(KeyboardInterrupt):
            shipper.ship_once()
    assert local.shipped_through() == 0 and len(server_events(conninfo)) == 20
    assert shipper.ship_all() == 20  # sent again after the restart ...
    assert [r[0] for r in server_events(conninfo)] == list(range(1, 21))  # ... and stored once


def test_a_journal_older_than_shipping_ships_its_snapshot_then_its_events(conninfo, tmp_path, encoder):
    local = SqliteEventStore(tmp_path / "semantic.sqlite3", "semantic")
    memory = SemanticMemory(text_encoder=encoder)
    journal = Journal(memory, "semantic", local)
    add_facts(memory, journal, 0, 6)
    journal.snapshot()  # before shipping was turned on: events 1-6 folded away
    add_facts(memory, journal, 6, 3)
    journal.commit()
    shipper = EventShipper(local, ServerDatabase(conninfo), "r1")
    assert shipper.ship_all() == 3 and shipper.shipped_snapshots == 1
    server_store = PostgresEventStore(ServerDatabase(conninfo), "r1", "semantic")
    seq, state, _ = server_store.latest_snapshot()
    assert seq == 6 and len(state["facts"]) == 6 and [r[0] for r in server_events(conninfo)] == [7, 8, 9]
    rebuilt = SemanticMemory(text_encoder=encoder)
    Journal(rebuilt, "semantic", server_store).restore()
    assert len(rebuilt.all_facts()) == len(memory.all_facts()) == 9


def open_all_at_once(databases: list[ServerDatabase]) -> list[Exception]:
    """Open every database from its own thread, all released at one instant; the errors raised."""
    start, errors = threading.Barrier(len(databases)), []

    def open_one(database: ServerDatabase) -> None:
        start.wait()
        try:
            database.open()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one, args=(database,)) for database in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for database in databases:
        database.close()
    return errors


def test_memories_opening_a_fresh_database_at_once_all_get_the_schema(server):
    """Every memory node of a robot checks the schema when it connects, on its own pool: on a
    fresh database they all create it at the same moment, and none may fail (a failure killed the
    memory's shipping thread for good)."""
    for attempt in range(3):  # the race is a matter of timing: give it several fresh databases
        conninfo = server.create_database(f"race_{attempt}_{next(_databases)}")
        errors = open_all_at_once([ServerDatabase(conninfo, connect_timeout_s=10.0) for _ in range(8)])
        assert not errors, errors
        with psycopg.connect(conninfo) as connection:
            version = connection.execute("SELECT value FROM memory_nodes_meta WHERE key='schema_version'").fetchone()
        assert version == ("1",)


def test_a_shipping_thread_outlives_a_refused_statement_and_ships_once_it_is_accepted(conninfo, tmp_path, encoder):
    from memory_nodes.storage.shipping import ShippingWorker

    local = SqliteEventStore(tmp_path / "semantic.sqlite3", "semantic", keep_unshipped=True)
    memory = SemanticMemory(text_encoder=encoder)
    journal = Journal(memory, "semantic", local)
    shipper = EventShipper(local, ServerDatabase(conninfo, connect_timeout_s=2.0), "r1")
    refusals = []
    real_ship = shipper.ship_once

    def refused_twice():
        if len(refusals) < 2:
            refusals.append(1)
            raise psycopg.errors.UniqueViolation("duplicate key value violates unique constraint")
        return real_ship()

    shipper.ship_once = refused_twice
    reports: list[str] = []
    worker = ShippingWorker(shipper, period_s=0.05, report=reports.append)
    add_facts(memory, journal, 0, 5)
    journal.commit()
    worker.start()
    try:
        deadline = time.monotonic() + 20.0
        while local.shipped_through() < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert local.shipped_through() == 5 and [r[0] for r in server_events(conninfo)] == [1, 2, 3, 4, 5]
    assert len(refusals) == 2
    # The same refusal twice is reported once; the server answered all along, so its end is not
    # reported as the server coming back.
    assert [r for r in reports if "failed, retrying" in r] == [reports[0]]
    assert any("takes the semantic journal again" in r for r in reports)
    assert not any("reachable again" in r for r in reports)
    assert worker.connected is True
