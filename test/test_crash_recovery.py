"""kill -9 at random moments loses nothing that was acknowledged and duplicates nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import uuid

import rclpy
from conftest import start_installed
from rclpy.executors import SingleThreadedExecutor

from memory_nodes.srv import AddFact, QueryFacts, RecallEpisodes, RecordEvent


def start_memory(tmp_path, namespace, executable, log):
    return start_installed(executable, ["-r", f"__ns:={namespace}", "-p", "text_search:=false",
                                        "-p", f"memory_directory:={tmp_path}", "-p", "durability:=batched",
                                        "-p", "snapshot_every_events:=40"], stdout=log)


def call(executor, client, request, timeout=5.0):
    future = client.call_async(request)
    executor.spin_until_future_complete(future, timeout_sec=timeout)
    return future.result() if future.done() else None


def query(executor, client, request, attempts=10):
    """A read-only call, retried: right after a server restarts, DDS may not yet route its reply."""
    for _ in range(attempts):
        response = call(executor, client, request, timeout=3.0)
        if response is not None:
            return response
    raise AssertionError(f"no answer from {client.srv_name}")


def test_acknowledged_facts_and_events_survive_sigkill(tmp_path):
    rng = random.Random(1234)
    namespace = f"/crash_{uuid.uuid4().hex[:8]}"
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("crash_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    add_fact = node.create_client(AddFact, f"{namespace}/add_fact")
    query_facts = node.create_client(QueryFacts, f"{namespace}/query_facts")
    record_event = node.create_client(RecordEvent, f"{namespace}/record_event")
    recall = node.create_client(RecallEpisodes, f"{namespace}/recall_episodes")
    acknowledged_facts: list[int] = []
    acknowledged_events: list[int] = []
    counter = 0
    log = open(tmp_path / "memory.log", "a")
    processes: list[subprocess.Popen] = []
    try:
        for round_number in range(4):
            processes = [start_memory(tmp_path, namespace, exe, log) for exe in ("semantic_memory", "episodic_memory")]
            for client in (add_fact, query_facts, record_event, recall):
                assert client.wait_for_service(timeout_sec=60)
            # everything acknowledged in earlier rounds is back, exactly once
            facts = query(executor, query_facts, QueryFacts.Request(predicate="has_value", limit=100_000)).facts
            values = sorted(int(f.object) for f in facts)
            assert values == sorted(set(values)), "a fact came back twice"
            assert set(acknowledged_facts) <= set(values), f"lost facts after round {round_number}"
            episodes = query(executor, recall, RecallEpisodes.Request(limit=100_000)).episodes
            assert sum(e.event_count for e in episodes) >= len(acknowledged_events)
            recorded = sum(e.event_count for e in episodes)
            assert recorded <= len(acknowledged_events) + round_number, "events duplicated by the replay"
            if round_number == 3:
                for process in processes:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                break
            deadline = time.monotonic() + rng.uniform(0.5, 2.0)
            while time.monotonic() < deadline:
                counter += 1
                response = call(executor, add_fact, AddFact.Request(subject=f"item-{counter}", predicate="has_value",
                                                                    object=str(counter), confidence=1.0), timeout=2.0)
                if response is not None and response.success:
                    acknowledged_facts.append(counter)
                response = call(executor, record_event, RecordEvent.Request(kind="note", text=f"note {counter}"),
                                timeout=2.0)
                if response is not None and response.success:
                    acknowledged_events.append(counter)
            for process in processes:  # no warning, no flush, no lifecycle shutdown
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        assert len(acknowledged_facts) > 20 and len(acknowledged_events) > 20
    finally:
        for process in processes:  # also when an assertion failed mid-round
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        log.close()
