"""Service round trips with a large memory, against the transport floor: an empty std_srvs/Trigger
service in the same executor, called the same way, in the same run; and the ask service over
100k facts and 10k episodes, through the ask node and the memories' evidence services: once with
the nodes in this process, once with every memory node and the ask node in its own process as
the launch file starts them."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import rclpy
from bench_core import fill_text_memories, integrate_confirmed
from node_processes import MEMORY_EXECUTABLES, NodeProcesses, installed_params
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger

from memory_nodes.core.episodic import EpisodicConfig, EpisodicMemory
from memory_nodes.core.geometry import Pose
from memory_nodes.core.semantic import SemanticConfig, SemanticMemory
from memory_nodes.core.spatial import Observation, SpatialConfig, SpatialMemory
from memory_nodes.core.temporal import TemporalMemory
from memory_nodes.ros.ask_node import AskNode
from memory_nodes.ros.client import MemoryClient, MemoryServiceError
from memory_nodes.ros.episodic_node import EpisodicMemoryNode
from memory_nodes.ros.semantic_node import SemanticMemoryNode
from memory_nodes.ros.spatial_node import SpatialMemoryNode
from memory_nodes.ros.temporal_node import TemporalMemoryNode
from memory_nodes.srv import Ask, QueryObjects, WhereIs
from memory_nodes.storage.event_store import SqliteEventStore


def fill(spatial: SpatialMemory, temporal: TemporalMemory, objects: int = 10_000, observations: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    side = int(np.ceil(np.sqrt(objects)))
    for start in range(0, objects, 100):
        frame = [Observation(f"thing{i % 200}", Pose(np.array([2.0 * (i % side), 2.0 * (i // side), 0.5])),
                             np.array([0.3, 0.3, 0.3])) for i in range(start, min(start + 100, objects))]
        integrate_confirmed(spatial, frame, float(start))
    temporal.add_observations(np.sort(rng.uniform(0, 36_000, observations)),
                              [f"obj-{i}" for i in rng.integers(1, objects + 1, observations)],
                              rng.normal(size=(observations, 3)))


def round_trips(executor, clients, requests, count=400) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Calls interleaved round-robin, so every service meets the same conditions (timers, GC):
    (milliseconds per service, calls per service that failed or took over 5 s). A slow or failed
    call is a figure of the run, not a crash of the benchmark: its time counts as measured."""
    times: dict[str, list[float]] = {name: [] for name in clients}
    failed: dict[str, int] = dict.fromkeys(clients, 0)
    for _ in range(count):
        for name, client in clients.items():
            started = time.perf_counter()
            future = client.call_async(requests[name])
            executor.spin_until_future_complete(future, timeout_sec=5.0)
            if not (future.done() and future.result() is not None and future.result().success):
                failed[name] += 1
                future.cancel()
            times[name].append(time.perf_counter() - started)
    return {name: np.array(values[20:]) * 1000.0 for name, values in times.items()}, failed


def bench_ask_service() -> list[tuple[str, str, str]]:
    """The ask service as a planner calls it: the ask node fans the question out to the semantic
    and episodic nodes' evidence services, each embeds it and searches its index; every question
    is new text, so nothing comes from a cache."""
    context = rclpy.Context()
    rclpy.init(context=context)
    common = [Parameter("persistence", value=False), Parameter("diagnostics_period_s", value=60.0)]
    semantic = SemanticMemoryNode(context=context, namespace="bench", parameter_overrides=[
        *common, Parameter("capacity", value=200000), Parameter("consolidation_period_s", value=3600.0)])
    episodic = EpisodicMemoryNode(context=context, namespace="bench", parameter_overrides=[
        *common, Parameter("capacity", value=20000), Parameter("episode_gap_s", value=1.0)])
    ask = AskNode(context=context, namespace="bench", parameter_overrides=[
        Parameter("memories", value=["semantic", "episodic"]), Parameter("timeout_s", value=5.0)])
    fill_text_memories(semantic.memory, episodic.memory)
    # Each node spins its own executor, as each runs in its own process under the launch file
    # (memory_node.run_nodes); here they still share one interpreter and its GIL.
    servers = []
    for node in (semantic, episodic, ask):
        servers.append(MultiThreadedExecutor(num_threads=4, context=context))
        servers[-1].add_node(node)
    spinners = [threading.Thread(target=server.spin, daemon=True) for server in servers]
    for spinner in spinners:
        spinner.start()
    caller = rclpy.create_node("asker", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(caller)
    client = caller.create_client(Ask, "/bench/ask")
    assert client.wait_for_service(timeout_sec=10.0)
    times, answered = [], []
    things = "mug kettle keys laptop plant towel bottle book".split()
    for k in range(120):
        request = Ask.Request(question=f"where is the {things[k % len(things)]} ({uuid.uuid4().hex[:6]})?", limit=5)
        started = time.perf_counter()
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=10.0)
        times.append(time.perf_counter() - started)
        done = future.done() and future.result() is not None and future.result().success
        answered.append(len(future.result().memories_answered) if done else 0)
        if not done:
            future.cancel()
    for server, spinner in zip(servers, spinners):
        server.shutdown()
        spinner.join(timeout=5.0)
    for node in (semantic, episodic, ask, caller):
        node.destroy_node()
    rclpy.try_shutdown(context=context)
    times_ms = np.array(times[20:]) * 1000.0
    incomplete = sum(1 for count in answered if count < 2)
    return [("ask service round trip in one process over 100k facts + 10k episodes, median",
             f"{np.median(times_ms):.1f} ms",
             f"p99 {np.percentile(times_ms, 99):.1f} ms; the ask, semantic and episodic nodes each on its own "
             "4-thread executor (as run_nodes spins them), in one process; each memory embeds the new question"
             + (f"; {incomplete} of {len(answered)} asks without both memories' answers" if incomplete else ""))]


def bench_ask_across_processes() -> list[tuple[str, str, str]]:
    """The ask round trip as a planner on a robot meets it: the four memory nodes and the ask node
    each in its own process, as the launch file starts them (installed executables, installed
    config/memory.yaml), the memories restored at start-up from journals written here (100k facts,
    10k episodes, 10k objects, 1M observations), the planner in this process; every question is new
    text, so each memory embeds it."""
    directory = Path(tempfile.mkdtemp(prefix="memory_bench_ask_"))
    spatial = SpatialMemory(SpatialConfig(capacity=20_000))
    temporal = TemporalMemory()
    semantic = SemanticMemory(SemanticConfig(capacity=200_000))
    episodic = EpisodicMemory(EpisodicConfig(capacity=20_000))
    fill(spatial, temporal)
    fill_text_memories(semantic, episodic)
    for kind, memory in (("spatial", spatial), ("temporal", temporal), ("semantic", semantic),
                         ("episodic", episodic)):
        journal = SqliteEventStore(directory / f"{kind}.sqlite3", kind)
        journal.write_snapshot(*memory.snapshot())
        journal.close()
    del spatial, temporal, semantic, episodic
    namespace = f"/bench_ask_{os.getpid()}"
    params = installed_params(directory, {"spatial_memory": {"capacity": 20_000},
                                          "semantic_memory": {"capacity": 200_000},
                                          "episodic_memory": {"capacity": 20_000}})
    nodes = NodeProcesses((*MEMORY_EXECUTABLES, "memory_ask"), namespace, params, directory)
    context = rclpy.Context()
    rclpy.init(context=context)
    planner = rclpy.create_node("bench_planner", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(planner)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    client = MemoryClient(node=planner, namespace=namespace, timeout_s=10.0)
    times, answered, failures = [], [], 0
    started_up = time.perf_counter()
    try:
        client.wait_for_services(timeout_s=300.0, names=("ask",))
        # The ask service is up before every memory has restored its journal: ask until all answer.
        while not _all_answer(client):
            if time.perf_counter() - started_up > 300.0:
                raise RuntimeError(f"the memories did not all answer within 300 s (logs in {directory})")
            time.sleep(0.5)
        start_up_s = time.perf_counter() - started_up
        things = "mug kettle keys laptop plant towel bottle book".split()
        for k in range(220):
            question = f"where is the {things[k % len(things)]} ({uuid.uuid4().hex[:6]})?"
            began = time.perf_counter()
            try:
                answered.append(len(client.ask(question, limit=5).memories_answered))
            except MemoryServiceError:
                failures += 1
                answered.append(0)
            times.append(time.perf_counter() - began)
        resident = nodes.rss_mb()
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        planner.destroy_node()
        rclpy.try_shutdown(context=context)
        exits = nodes.stop()
    times_ms = np.array(times[20:]) * 1000.0
    incomplete = sum(1 for count in answered[20:] if count < len(MEMORY_EXECUTABLES))
    unclean = [f"{name} exited with {code}" for name, code in exits.items() if code != 0]
    if not unclean:
        shutil.rmtree(directory, ignore_errors=True)  # else its logs tell why
    return [("ask round trip across processes (four memory nodes and the ask node each in its own process, "
             "over 100k facts + 10k episodes + 10k objects + 1M observations), median (target <= 20 ms)",
             f"{np.median(times_ms):.1f} ms",
             f"p99 {np.percentile(times_ms, 99):.1f} ms over {len(times_ms)} new questions; installed executables "
             f"and config/memory.yaml, journals restored at start-up in {start_up_s:.0f} s; resident memory "
             + ", ".join(f"{name} {mb:.0f} MB" for name, mb in resident.items())
             + (f"; {incomplete} asks without all four memories' answers" if incomplete else "; all four answered every ask")
             + (f"; {failures} asks failed" if failures else "")
             + (f"; {', '.join(unclean)} on SIGINT" if unclean else ""))]


def _all_answer(client: MemoryClient) -> bool:
    try:
        return len(client.ask("where is the mug?").memories_answered) == len(MEMORY_EXECUTABLES)
    except MemoryServiceError:  # e.g. no memory serves its evidence yet
        return False


def main() -> list[tuple[str, str, str]]:
    return bench_floor_and_queries() + bench_ask_service() + bench_ask_across_processes()


def bench_floor_and_queries() -> list[tuple[str, str, str]]:
    context = rclpy.Context()
    rclpy.init(context=context)
    overrides = [Parameter("text_search", value=False), Parameter("persistence", value=False),
                 Parameter("capacity", value=20_000)]
    spatial = SpatialMemoryNode(context=context, namespace="bench", parameter_overrides=overrides)
    temporal = TemporalMemoryNode(context=context, namespace="bench", parameter_overrides=overrides)
    server = rclpy.create_node("floor", namespace="bench", context=context)
    def trigger(request, response):
        response.success = True
        return response

    server.create_service(Trigger, "trigger", trigger)
    fill(spatial.memory, temporal.memory)
    servers = MultiThreadedExecutor(num_threads=3, context=context)
    for node in (spatial, temporal, server):
        servers.add_node(node)
    spinner = threading.Thread(target=servers.spin, daemon=True)
    spinner.start()
    caller = rclpy.create_node("caller", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(caller)
    clients = {name: caller.create_client(srv, f"/bench/{name}")
               for name, srv in (("trigger", Trigger), ("where_is", WhereIs), ("query_objects", QueryObjects))}
    for client in clients.values():
        assert client.wait_for_service(timeout_sec=10.0)
    requests = {"trigger": Trigger.Request(), "where_is": WhereIs.Request(query="thing7", limit=5),
                "query_objects": QueryObjects.Request(label="thing7", limit=10)}
    results, failed = round_trips(executor, clients, requests)
    servers.shutdown()
    spinner.join(timeout=5.0)
    for node in (spatial, temporal, server, caller):
        node.destroy_node()
    rclpy.try_shutdown(context=context)
    floor_median, floor_p99 = np.median(results["trigger"]), np.percentile(results["trigger"], 99)
    rows = [("service floor: std_srvs/Trigger round trip", f"{floor_median:.2f} ms median",
             f"p99 {floor_p99:.2f} ms" + (f"; {failed['trigger']} calls failed or over 5 s" if failed["trigger"] else ""))]
    for name in ("where_is", "query_objects"):
        median, p99 = np.median(results[name]), np.percentile(results[name], 99)
        rows.append((f"{name} with 10k objects + 1M observations (targets: median <= 3x, p99 <= 10x the floor)",
                     f"{median / floor_median:.1f}x median, {p99 / floor_p99:.1f}x p99",
                     f"{median:.2f} ms median, {p99:.2f} ms p99"
                     + (f"; {failed[name]} of {len(results[name]) + 20} calls failed or over 5 s" if failed[name] else "")))
    return rows


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
