"""Soak: 30 Hz RGB-D + detections of a world that changes, and 50 queries per second against every
service, for a while.

    make soak                                    (10 minutes)
    python benchmarks/soak.py 60                 (seconds; test/test_soak.py runs 60 s)

The world: a generated household (``household_generator``, level medium, seed SOAK_SEED: three
rooms, about twenty objects, moves, a removal and an addition on the way) that the camera tours
stop by stop, each view held for WORLD_FRAME_S at 30 Hz. A tour ends with the events applied; the
next tour starts from the household as it was at first, so every object moved, removed or added
on a tour changes back at the next. The camera always finishes its tour, and the planner then
checks what the memory holds against the household at the end of a tour (labels within
``object_scoring.DEFAULT_GATE_M`` of the real objects, one to one).

Processes as ``ros2 launch memory_nodes memory.launch.py`` starts them: each installed node
(memory_perception, spatial/temporal/episodic/semantic_memory, memory_ask) in its own process with
the installed config/memory.yaml (journals in a temporary directory, the scenario's rooms); a
camera process replaying the household simulator's frames at 30 Hz with fresh stamps; and this
process as the planner, calling the services round-robin at 50 per second from several threads
and listening to /diagnostics for the nodes' input counters.

Reports: the memory's precision and recall against the household at the end; the journals' size
on disk at the end (compaction by snapshot every ``snapshot_every_events``); every query's outcome
and latency per service; detections published / seen by
perception / lifted / dropped because lifting lagged (oldest first) / rejected; the resident memory
of the node processes over time; whether every node process was alive to the end and exited
cleanly on SIGINT. Fails (non-zero exit) when a query went unanswered, a node died, the
detections seen do not add up, or the memory grew in the second half of the run by more than
RSS_GROWTH_BOUND_MB (after warm-up the memories' capacities bound it; growth means a leak).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from node_processes import MEMORY_EXECUTABLES, NodeProcesses, installed_params
from rclpy.executors import MultiThreadedExecutor

from memory_nodes.apps.household_generator import write_household
from memory_nodes.apps.household_sim import HouseholdSim, SimFrame, load_scenario
from memory_nodes.apps.object_scoring import remembered_objects, score_objects
from memory_nodes.apps.sim_bridge import SimBridge
from memory_nodes.msg import SceneGraph
from memory_nodes.ros.client import MemoryClient, MemoryServiceError
from memory_nodes.ros.conversions import stamp_to_seconds
from memory_nodes.ros.node_support import EVENTS_QOS

NODE_EXECUTABLES = ("memory_perception", "spatial_memory", "temporal_memory", "episodic_memory", "semantic_memory",
                    "memory_ask")
NAMESPACE = "/memory"
QUERY_RATE_HZ = 50.0
QUERY_THREADS = 8
RSS_GROWTH_BOUND_MB = 60.0  # over the second half, all node processes together
JOURNAL_BOUND_MB = 64.0  # all four journals on disk at the end, WAL files included
SOAK_SEED = 3
WORLD_FRAME_S = 0.5  # each rendered view is held this long at 30 Hz (the simulator's frame period)


@dataclass
class SoakReport:
    seconds: float
    frames_published: int = 0
    queries: int = 0
    query_failures: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (s since start, MB of all nodes)
    rss_by_node: dict[str, tuple[float, float]] = field(default_factory=dict)  # node -> (after warm-up, end)
    counts: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> its last /diagnostics values
    died: dict[str, str] = field(default_factory=dict)  # node -> what happened, while the run went on
    unclean_exits: dict[str, str] = field(default_factory=dict)  # node -> exit code on SIGINT
    tours: int = 0  # complete tours of the household
    precision: float = float("nan")  # at the end, against the household at the end of a tour
    recall: float = float("nan")
    missed: list[str] = field(default_factory=list)
    spurious: list[str] = field(default_factory=list)
    journal_mb: float = float("nan")
    update_latencies: list[float] = field(default_factory=list)  # s from a frame's stamp to its scene_graph_updates

    def count(self, node: str, key: str) -> int:
        return int(self.counts.get(node, {}).get(key, 0))

    @property
    def detections_seen(self) -> int:
        return self.count("memory_perception", "detections.received")

    @property
    def detections_unaccounted(self) -> int:
        """Detections perception received but neither lifted, dropped (counted) nor still waiting."""
        perception = "memory_perception"
        handled = sum(self.count(perception, k) for k in ("frames.accepted", "detections.dropped_lagging",
                                                           "detections.skipped_repeating_keyframe",
                                                           "detections.rejected", "pending_triggers"))
        return self.detections_seen - handled

    @property
    def second_half_growth_mb(self) -> float:
        half = [mb for t, mb in self.rss_samples if t >= self.seconds / 2]
        return max(half) - half[0] if len(half) > 1 else 0.0

    def rows(self) -> list[tuple[str, str, str]]:
        perception = "memory_perception"
        lifted = self.count(perception, "frames.accepted")
        rows = [
            (f"soak {self.seconds:.0f} s: detections lifted", f"{lifted}/{self.frames_published}",
             f"published at 30 Hz; perception received {self.detections_seen} (depth images "
             f"{self.count(perception, 'depth.received')}, rgb {self.count(perception, 'rgb.received')}): "
             f"lifted {lifted}, skipped as repeats (of the last lifted frame, or of a newer copy waiting) "
             f"{self.count(perception, 'detections.skipped_repeating_keyframe')}, dropped oldest-first "
             f"while lifting lagged {self.count(perception, 'detections.dropped_lagging')}, rejected (frame "
             f"incomplete) {self.count(perception, 'detections.rejected')}; spatial integrated "
             f"{self.count('spatial_memory', 'observations.accepted')}; unaccounted {self.detections_unaccounted}; "
             f"the rest was lost in transport (best-effort sensor QoS)"),
            (f"soak {self.seconds:.0f} s: queries answered (target {QUERY_RATE_HZ:.0f}/s)",
             f"{self.queries - len(self.query_failures)}/{self.queries}",
             f"{self.queries / self.seconds:.0f} queries/s; " + (
                 "; ".join(self.query_failures[:3]) or ", ".join(
                     f"{name} {1000 * sorted(t)[len(t) // 2]:.0f}/{1000 * max(t):.0f} ms"
                     for name, t in self.latencies.items()) + " (median/max)")),
            (f"soak {self.seconds:.0f} s: resident memory of the node processes",
             f"{self.rss_samples[0][1]:.0f} -> {self.rss_samples[-1][1]:.0f} MB" if self.rss_samples else "-",
             f"second half: {self.second_half_growth_mb:+.0f} MB (bound {RSS_GROWTH_BOUND_MB:.0f}); per node after "
             f"warm-up -> end: " + ", ".join(f"{n} {a:.0f}->{b:.0f}" for n, (a, b) in self.rss_by_node.items())),
            (f"soak {self.seconds:.0f} s: node processes", "all alive, clean exit" if self.ok_processes else "FAILED",
             "; ".join([*self.died.values(), *self.unclean_exits.values()])),
            (f"soak {self.seconds:.0f} s: answers at the end (world changed {self.tours} tours)",
             f"precision {self.precision:.2f}, recall {self.recall:.2f}",
             f"missed: {', '.join(self.missed) or 'none'}; not in the household: {', '.join(self.spurious) or 'none'}"),
            (f"soak {self.seconds:.0f} s: a frame's publication to its scene_graph_updates (camera, perception and "
             f"spatial memory in three processes)",
             f"{1000 * float(np.median(self.update_latencies)):.0f} ms median, "
             f"{1000 * float(np.percentile(self.update_latencies, 99)):.0f} ms p99" if self.update_latencies else "-",
             f"{len(self.update_latencies)} updates; stamps are the camera's wall clock at publication, read by the "
             f"planner process on the same host"),
            (f"soak {self.seconds:.0f} s: journals on disk at the end", f"{self.journal_mb:.1f} MB",
             f"bound {JOURNAL_BOUND_MB:.0f} MB (snapshot every 500 events compacts the log)"),
        ]
        return rows

    @property
    def ok_processes(self) -> bool:
        return not self.died and not self.unclean_exits

    @property
    def ok(self) -> bool:
        return (not self.query_failures and self.ok_processes and self.second_half_growth_mb <= RSS_GROWTH_BOUND_MB
                and self.count("memory_perception", "frames.accepted") > 0 and self.tours >= 1
                and self.journal_mb <= JOURNAL_BOUND_MB
                and self.detections_seen <= self.frames_published and self.detections_unaccounted == 0)


def _household() -> Path:
    return write_household(SOAK_SEED, "medium", Path(tempfile.mkdtemp(prefix="memory_soak_world_")))


def _tour(scenario: Path) -> tuple[HouseholdSim, list[SimFrame], dict]:
    """One tour of the household rendered (events applied on the way), and the household at its
    end: the objects present (name -> (label, position)) and the furniture labels its detector
    reports (furniture is not scored, as in the evaluation)."""
    sim = HouseholdSim(load_scenario(scenario), seed=SOAK_SEED)
    frames = [item for item in sim.frames() if not isinstance(item, tuple)]
    truth = {"objects": {name: (sim.specs[name].label, sim.position(name).tolist()) for name in sim.present()},
             "furniture_labels": sorted({sim.furniture_label(n) for n in sim.scenario.furniture}
                                        if sim.detect_furniture else set())}
    return sim, frames, truth


def camera_process(seconds: float, scenario: Path, truth_file: Path) -> None:
    """The camera driver, in its own process as on a robot: 30 Hz frames stamped with the wall
    clock at publication (as a driver stamps them; the planner measures the latency of the memory's
    updates against it), each view of the tour held for WORLD_FRAME_S; tours repeat until
    ``seconds`` are over, and the last one is finished. Writes the household at the end of a tour
    to ``truth_file``."""
    sim, frames, truth = _tour(scenario)
    truth_file.write_text(json.dumps(truth))
    rclpy.init(args=["--ros-args", "-r", f"__ns:={NAMESPACE}"])
    bridge = SimBridge(sim)
    deadline = time.monotonic() + seconds
    while not bridge.subscribers_ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    period, published, tours = 1.0 / 30.0, 0, 0
    repeats = max(1, round(WORLD_FRAME_S / period))
    next_frame = time.monotonic()
    while time.monotonic() < deadline:
        for frame in frames:
            for _ in range(repeats):
                frame.stamp = time.time()
                bridge.publish(frame)
                published += 1
                # A driver that stalled goes on at its rate from now: catching up in a burst would
                # squeeze a view held for WORLD_FRAME_S into a few milliseconds.
                next_frame += period
                if time.monotonic() > next_frame + period:
                    next_frame = time.monotonic()
                time.sleep(max(0.0, next_frame - time.monotonic()))
        tours += 1
    print(f"tours {tours} published {published}", flush=True)
    bridge.destroy_node()
    rclpy.try_shutdown()
    sim.close()


def _params_file(directory: Path, rooms: list[tuple[str, list[tuple[float, float]]]]) -> Path:
    """The installed memory.yaml with the journals in ``directory`` and the scenario's rooms."""
    overrides: dict[str, dict[str, Any]] = {name: {"snapshot_every_events": 500} for name in MEMORY_EXECUTABLES}
    overrides["spatial_memory"]["rooms"] = {
        "names": [name for name, _ in rooms],
        "vertex_counts": [len(polygon) for _, polygon in rooms],
        "vertices": [float(c) for _, polygon in rooms for vertex in polygon for c in vertex]}
    return installed_params(directory, overrides, "soak.yaml")


def run(seconds: float) -> SoakReport:
    report = SoakReport(seconds)
    scenario = _household()
    directory = Path(tempfile.mkdtemp(prefix="memory_soak_"))
    params = _params_file(directory, load_scenario(scenario).rooms)
    truth_file = directory / "truth.json"
    nodes = NodeProcesses(NODE_EXECUTABLES, NAMESPACE, params, directory)
    processes = nodes.processes
    context = rclpy.Context()
    rclpy.init(context=context, args=["--ros-args", "-r", f"__ns:={NAMESPACE}"])
    planner = rclpy.create_node("soak_planner", context=context)
    diagnostics_lock = threading.Lock()

    def on_diagnostics(message: DiagnosticArray) -> None:
        with diagnostics_lock:
            for status in message.status:
                report.counts[status.name.rsplit("/", 1)[-1]] = {v.key: v.value for v in status.values}

    planner.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)

    def on_update(message: SceneGraph) -> None:  # list.append is atomic: no lock
        report.update_latencies.append(time.time() - stamp_to_seconds(message.header.stamp))

    planner.create_subscription(SceneGraph, f"{NAMESPACE}/scene_graph_updates", on_update, EVENTS_QOS)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    executor.add_node(planner)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    client = MemoryClient(node=planner, timeout_s=5.0)
    camera = None
    try:
        client.wait_for_services(timeout_s=60.0)
        stop = threading.Event()
        calls = [
            ("where_is", lambda: client.where_is("mug")),
            ("query_objects text", lambda: client.query_objects(text="something to drink from")),
            ("query_changes", lambda: client.query_changes(limit=20)),
            ("recall_episodes", lambda: client.recall_episodes(text="what happened")),
            ("query_facts", lambda: client.query_facts(text="where is the mug")),
            ("get_scene_graph", lambda: client.get_scene_graph()),
            ("ask", lambda: client.ask("where is the mug?")),
            ("query_objects label", lambda: client.query_objects(label="book")),
        ]
        counter = itertools.count()

        def ask_services(offset: float) -> None:
            period = QUERY_THREADS / QUERY_RATE_HZ
            due = time.monotonic() + offset
            while not stop.is_set():
                time.sleep(max(0.0, due - time.monotonic()))
                due += period
                name, call = calls[next(counter) % len(calls)]
                started = time.perf_counter()
                try:
                    call()
                except MemoryServiceError as error:
                    report.query_failures.append(f"{name}: {error}")
                report.latencies.setdefault(name, []).append(time.perf_counter() - started)
                report.queries += 1

        began = time.monotonic()
        camera = subprocess.Popen([sys.executable, __file__, "--camera", str(seconds), str(scenario), str(truth_file)],
                                  stdout=subprocess.PIPE, text=True)
        workers = [threading.Thread(target=ask_services, args=(k / QUERY_RATE_HZ,), daemon=True)
                   for k in range(QUERY_THREADS)]
        for worker in workers:
            worker.start()
        warm_up = min(10.0, seconds / 4)
        while (elapsed := time.monotonic() - began) < seconds:
            time.sleep(min(1.0, seconds - elapsed))
            elapsed = time.monotonic() - began
            if elapsed >= warm_up and (not report.rss_samples or elapsed - report.rss_samples[-1][0] >= 5.0):
                resident = nodes.rss_mb()
                report.rss_samples.append((elapsed, sum(resident.values())))
                for name, mb in resident.items():
                    report.rss_by_node[name] = (report.rss_by_node.get(name, (mb, 0.0))[0], mb)
            for name, process in processes.items():
                if process.poll() is not None and name not in report.died:
                    report.died[name] = f"{name} exited with {process.returncode} at {elapsed:.0f} s"
        stop.set()
        for worker in workers:
            worker.join(timeout=10.0)
        output, _ = camera.communicate(timeout=120.0)  # it finishes its tour
        words = output.strip().split()
        if len(words) >= 4:
            report.tours, report.frames_published = int(words[-3]), int(words[-1])
        time.sleep(2.5)  # the last frames integrated, the last /diagnostics reports (1 s period)
        with diagnostics_lock:
            report.counts = {name: dict(values) for name, values in report.counts.items()}
        household = json.loads(truth_file.read_text())
        truth = {name: (label, np.array(position)) for name, (label, position) in household["objects"].items()}
        objects, _ = client.query_objects(limit=1000)
        objects = [o for o in objects if o.label not in set(household["furniture_labels"])]
        score = score_objects(truth, remembered_objects(objects))
        report.precision, report.recall = score.precision, score.recall
        report.missed = sorted(r.name for r in score.missed)
        report.spurious = sorted(f"{r.label} {r.id}" for r in score.false_positives)
    finally:
        if camera is not None and camera.poll() is None:
            camera.kill()
        executor.shutdown()
        planner.destroy_node()
        rclpy.try_shutdown(context=context)
        for name, code in nodes.stop().items():
            if code != 0 and name not in report.died:
                report.unclean_exits[name] = f"{name} exited with {code} on SIGINT (log: {directory / name}.log)"
        report.journal_mb = sum(path.stat().st_size for path in directory.glob("*.sqlite3*")) / 2 ** 20
    return report


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "--camera":
        camera_process(float(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
        sys.exit(0)
    report = run(float(sys.argv[1]) if len(sys.argv) > 1 else 600.0)
    for row in report.rows():
        print(" | ".join(row))
    print("resident memory samples (s, MB):", [(round(t), round(mb)) for t, mb in report.rss_samples])
    print("ok" if report.ok else "FAILED")
    sys.exit(0 if report.ok else 1)
