"""Memory nodes in the test's process fed by the pybullet household, for tests of what sits on top of
them (the MCP server, the 3D view)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from memory_nodes.apps.household_sim import HouseholdSim, SimFrame, load_scenario
from memory_nodes.apps.scenario_runner import scenario_path
from memory_nodes.apps.sim_bridge import SimBridge
from memory_nodes.msg import SceneGraph
from memory_nodes.ros.client import MemoryClient
from memory_nodes.ros.memory_system import create_memory_nodes
from memory_nodes.ros.node_support import EVENTS_QOS


@dataclass
class FedMemory:
    client: MemoryClient
    truth: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)  # name -> (label, position) seen
    stamps: list[float] = field(default_factory=list)  # of the frames published


@contextlib.contextmanager
def fed_by_simulator(frames: int, scenario: str = "flat",
                     extra_nodes: Callable[[Any], list[Any]] = lambda context: [],
                     after_each_frame: Callable[[MemoryClient, SimFrame], None] | None = None) -> Iterator[FedMemory]:
    """Every memory node (no journal) and ``extra_nodes(context)`` in one context, fed the first
    ``frames`` camera frames of ``scenario`` (planner events and world changes happen in the
    simulator as the scenario says), each frame waited for until the spatial memory published its
    update, then ``after_each_frame(client, frame)`` called. Nodes are destroyed on exit."""
    spec = load_scenario(scenario_path(scenario))
    sim = HouseholdSim(spec, 0)
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    known_map = [Parameter(name, value=value) for name, value in spec.map_parameters().items()]
    nodes = create_memory_nodes(context=context, parameter_overrides=[
        Parameter("persistence", value=False), *known_map, Parameter("mode", value="detections"),
        Parameter("pose_source", value="pose")])
    nodes += extra_nodes(context)
    bridge = SimBridge(sim, context=context)
    watcher = rclpy.create_node("simulated_memory_test", context=context)
    updates: list[SceneGraph] = []
    watcher.create_subscription(SceneGraph, "/memory/scene_graph_updates", updates.append, EVENTS_QOS)
    executor = MultiThreadedExecutor(num_threads=len(nodes) + 3, context=context)
    for node in [*nodes, bridge, watcher]:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    fed = FedMemory(MemoryClient(node=watcher, timeout_s=10.0))
    try:
        deadline = time.monotonic() + 30.0
        while not bridge.subscribers_ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen: set[str] = set()
        camera_frames = (item for item in sim.frames() if isinstance(item, SimFrame))
        for _, frame in zip(range(frames), camera_frames):
            expected = len(updates) + 1
            bridge.publish(frame)
            deadline = time.monotonic() + 15.0
            while len(updates) < expected and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.update(frame.visible)
            fed.stamps.append(frame.stamp)
            if after_each_frame is not None:
                after_each_frame(fed.client, frame)
        time.sleep(0.3)  # the change stream reaches the temporal and episodic memories
        fed.truth = {name: (sim.specs[name].label, sim.position(name)) for name in seen if name in sim.present()}
        yield fed
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        for node in [*nodes, bridge, watcher]:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        sim.close()
