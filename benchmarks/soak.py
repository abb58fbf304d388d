"""Soak: 30 Hz RGB-D + detections and 50 queries per second against every service, for a while.

    make soak                      (10 minutes)
    python benchmarks/soak.py 60   (seconds; test/test_soak.py runs this for 60 s)

Everything runs in one process over real topics and services: the perception node, the four memory
nodes (with their journals) and the ask node, a camera publisher replaying frames rendered by the
household simulator with fresh stamps, and a planner calling the services round-robin. Reports the
resident memory at the start and the end, the frames the pipeline kept up with, and every query's
outcome. Returns non-zero when a query went unanswered or memory grew beyond the bound.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from memory_nodes.client import MemoryClient, MemoryServiceError
from memory_nodes.household_sim import HouseholdSim, SimFrame, load_scenario
from memory_nodes.memory_system import create_memory_nodes
from memory_nodes.scenario_runner import scenario_path
from memory_nodes.sim_bridge import SimBridge

RSS_GROWTH_BOUND_MB = 300.0
QUERY_THREADS = 4


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024.0 for line in status if line.startswith("VmRSS:"))


@dataclass
class SoakReport:
    seconds: float
    frames_published: int = 0
    frames_processed: int = 0
    queries: int = 0
    query_failures: list[str] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rejected_inputs: int = 0
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, str]]:
        return [
            (f"soak {self.seconds:.0f} s: frames kept up with", f"{self.frames_processed}/{self.frames_published}",
             "30 Hz published; the sensor QoS drops the oldest when the pipeline lags"),
            (f"soak {self.seconds:.0f} s: queries answered (target 50/s)",
             f"{self.queries - len(self.query_failures)}/{self.queries}",
             f"{self.queries / self.seconds:.0f} queries/s; " + "; ".join(self.query_failures[:3])),
            (f"soak {self.seconds:.0f} s: resident memory start -> end", f"{self.rss_start_mb:.0f} -> {self.rss_end_mb:.0f} MB",
             f"bound: growth <= {RSS_GROWTH_BOUND_MB:.0f} MB"),
        ]

    @property
    def ok(self) -> bool:
        return not self.query_failures and self.rss_end_mb - self.rss_start_mb <= RSS_GROWTH_BOUND_MB


def _frames() -> tuple[HouseholdSim, list[SimFrame]]:
    """The first stop of the flat scenario (the kitchen table seen from a slightly moving camera):
    a 30 Hz stream looks at one scene, it does not teleport between rooms."""
    sim = HouseholdSim(load_scenario(scenario_path("flat")), seed=1)
    first_stop = int(sim.scenario.stops[0].get("frames", 3))
    frames = [item for item in sim.frames() if not isinstance(item, tuple)][:first_stop]
    return sim, frames


def camera_process(seconds: float) -> None:
    """The camera driver, in its own process as on a robot: 30 Hz frames with fresh stamps."""
    sim, frames = _frames()
    rclpy.init(args=[])
    bridge = SimBridge(sim)
    deadline = time.monotonic() + seconds
    while not bridge.subscribers_ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    stamp, period, published = 1000.0, 1.0 / 30.0, 0
    for frame in itertools.cycle(frames):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        frame.stamp = stamp
        bridge.publish(frame)
        published += 1
        stamp += period
        time.sleep(max(0.0, period - (time.perf_counter() - started)))
    print(f"published {published}", flush=True)
    bridge.destroy_node()
    rclpy.try_shutdown()


def run(seconds: float) -> SoakReport:
    report = SoakReport(seconds)
    sim, _ = _frames()
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    directory = tempfile.mkdtemp(prefix="memory_soak_")
    names = [name for name, _ in sim.scenario.rooms]
    overrides = [Parameter("memory_directory", value=directory), Parameter("snapshot_every_events", value=500),
                 Parameter("rooms.names", value=names),
                 Parameter("rooms.vertex_counts", value=[len(p) for _, p in sim.scenario.rooms]),
                 Parameter("rooms.vertices", value=[float(c) for _, p in sim.scenario.rooms for v in p for c in v])]
    nodes = create_memory_nodes(context=context, parameter_overrides=overrides)
    planner = rclpy.create_node("soak_planner", context=context)
    executor = MultiThreadedExecutor(num_threads=len(nodes) + 4, context=context)
    for node in [*nodes, planner]:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    client = MemoryClient(node=planner, timeout_s=5.0)
    client.wait_for_services(timeout_s=30.0)
    spatial = next(n for n in nodes if n.get_name() == "spatial_memory")
    stop = threading.Event()


    calls = [
        lambda: client.where_is("mug"), lambda: client.query_objects(text="something to drink from"),
        lambda: client.query_changes(limit=20), lambda: client.recall_episodes(text="what happened"),
        lambda: client.query_facts(text="where is the mug"), lambda: client.get_scene_graph(),
        lambda: client.ask("where is the mug?"), lambda: client.query_objects(label="book"),
    ]

    def ask_services() -> None:
        period = QUERY_THREADS / 50.0  # 50 queries per second in all
        for call in itertools.cycle(calls):
            if stop.is_set():
                return
            started = time.perf_counter()
            report.queries += 1
            try:
                call()
            except MemoryServiceError as error:
                report.query_failures.append(str(error))
            time.sleep(max(0.0, period - (time.perf_counter() - started)))

    camera = subprocess.Popen([sys.executable, __file__, "--camera", str(seconds)], stdout=subprocess.PIPE, text=True,
                              env=os.environ.copy())
    workers = [threading.Thread(target=ask_services, daemon=True) for _ in range(QUERY_THREADS)]
    for worker in workers:
        worker.start()
    warm_up = min(10.0, seconds / 4)
    time.sleep(warm_up)
    report.rss_start_mb = rss_mb()
    began = time.monotonic()
    while time.monotonic() - began < seconds - warm_up:
        time.sleep(min(5.0, seconds - warm_up))
        report.rss_samples.append((time.monotonic() - began + warm_up, rss_mb()))
    stop.set()
    for worker in workers:
        worker.join(timeout=10.0)
    output, _ = camera.communicate(timeout=30.0)
    report.frames_published = int(output.strip().split()[-1]) if output.strip() else 0
    report.rss_end_mb = rss_mb()
    report.frames_processed = spatial.counters.counts["observations.accepted"]
    report.rejected_inputs = sum(n.counters.rejected_total() for n in nodes if hasattr(n, "counters"))
    for node in nodes:
        if hasattr(node, "counters"):
            report.counts.update({f"{node.get_name()}.{k}": v for k, v in node.counters.counts.items()})
    executor.shutdown()
    spinner.join(timeout=5.0)
    for node in [*nodes, planner]:
        node.destroy_node()
    rclpy.try_shutdown(context=context)
    sim.close()
    return report


def main(seconds: float = 600.0) -> list[tuple[str, str, str]]:
    return run(seconds).rows()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--camera":
        camera_process(float(sys.argv[2]))
        sys.exit(0)
    report = run(float(sys.argv[1]) if len(sys.argv) > 1 else 600.0)
    for row in report.rows():
        print(" | ".join(row))
    print("rss samples", [(round(t), round(m)) for t, m in report.rss_samples])
    print("counts", {k: v for k, v in report.counts.items() if "frame" in k or "observ" in k or "detect" in k or "depth" in k})
    print("ok" if report.ok else "FAILED")
    sys.exit(0 if report.ok else 1)
