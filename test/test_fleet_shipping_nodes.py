"""An installed memory node with ``store: postgresql`` keeps acknowledging while the fleet's server is
down, and its journal reaches the server exactly once: across an outage, and across ``kill -9``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import psycopg
import pytest
from conftest import spun_client, start_installed

from memory_nodes.core.semantic import SemanticMemory
from memory_nodes.storage.event_store import SqliteEventStore
from memory_nodes.storage.journal import Journal


@pytest.fixture
def server(postgres_server):
    return postgres_server


@pytest.fixture
def conninfo(server, request):
    return server.create_database(f"ship_{request.node.name.split('[')[0][-20:]}")


@contextlib.contextmanager
def semantic_node(tmp_path, conninfo, log_name):
    """The installed semantic_memory shipping to ``conninfo`` as robot r1; (process, client)."""
    log = open(tmp_path / log_name, "w")
    process = start_installed("semantic_memory", [
        "-r", "__ns:=/memory", "-p", f"memory_directory:={tmp_path / 'memory'}", "-p", "store:=postgresql",
        "-p", f"server:={conninfo}", "-p", "robot_id:=r1", "-p", "ship_period_s:=0.2", "-p", "server_timeout_s:=1.0",
        "-p", "consolidation_period_s:=3600.0"], stdout=log)
    try:
        with spun_client("shipping_test") as client:
            client.wait_for_services(timeout_s=60.0, names=("add_fact",))
            yield process, client
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30.0)
        log.close()


def server_facts(conninfo):
    with psycopg.connect(conninfo) as connection:
        try:
            rows = connection.execute("SELECT seq, payload FROM memory_events WHERE robot_id = 'r1' AND "
                                      "memory = 'semantic' AND kind = 'fact' ORDER BY seq").fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [(seq, json.loads(payload)["subject"]) for seq, payload in rows]


def wait_for(condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def local_facts(tmp_path, encoder):
    memory = SemanticMemory(text_encoder=encoder)
    store = SqliteEventStore(tmp_path / "memory" / "semantic.sqlite3", "semantic")
    Journal(memory, "semantic", store).restore()
    store.close()
    return sorted(f.subject for f in memory.all_facts())


def test_facts_acknowledged_while_the_server_is_down_reach_it_once_in_order(server, conninfo, tmp_path, encoder):
    with semantic_node(tmp_path, conninfo, "node.log") as (process, client):
        for i in range(20):
            client.add_fact(f"mug{i}", "is_in", "kitchen")
        assert wait_for(lambda: len(server_facts(conninfo)) == 20, 20.0), (tmp_path / "node.log").read_text()
        server.stop()
        try:
            for i in range(20, 40):  # every call is acknowledged: the local journal has it
                client.add_fact(f"mug{i}", "is_in", "office")
            # The shipper tries, fails, and keeps them. Waited for, not slept: an outage shorter than
            # one attempt's connect timeout can end inside the attempt, which then simply succeeds.
            assert wait_for(lambda: "server unreachable" in (tmp_path / "node.log").read_text(), 15.0)
        finally:
            server.start()
        assert wait_for(lambda: len(server_facts(conninfo)) >= 40, 30.0), (tmp_path / "node.log").read_text()
    facts = [row for row in server_facts(conninfo)]
    subjects = [subject for _, subject in facts]
    assert subjects == [f"mug{i}" for i in range(40)]  # every fact once, in the order acknowledged
    assert [seq for seq, _ in facts] == sorted({seq for seq, _ in facts})
    assert process.returncode == 0
    assert "server unreachable" in (tmp_path / "node.log").read_text()
    assert local_facts(tmp_path, encoder) == sorted(subjects)


def test_kill_9_during_shipping_loses_and_duplicates_nothing(server, conninfo, tmp_path, encoder):
    acknowledged = []
    with semantic_node(tmp_path, conninfo, "first.log") as (process, client):
        for i in range(150):
            client.add_fact(f"cup{i}", "is_in", "kitchen")
            acknowledged.append(f"cup{i}")
            if i == 120:
                os.killpg(process.pid, signal.SIGKILL)  # mid-stream, shipping every 0.2 s
                process.wait()
                break
    shipped_before_restart = len(server_facts(conninfo))
    with semantic_node(tmp_path, conninfo, "second.log"):
        assert wait_for(lambda: len(server_facts(conninfo)) >= len(acknowledged), 30.0), \
            (tmp_path / "second.log").read_text()
    subjects = [subject for _, subject in server_facts(conninfo)]
    assert subjects == acknowledged and shipped_before_restart <= len(acknowledged)
    assert local_facts(tmp_path, encoder) == sorted(acknowledged)
