"""Two robots (two namespaces, each with its own nodes and local journal, shipping to a real
PostgreSQL server) go through the simulated flat; the installed ``memory_fleet`` builds one memory
from the server, and its answers are checked against the simulator's truth."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import numpy as np
import psycopg
import pytest
import rclpy
import yaml
from conftest import spun_client, start_installed
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from memory_nodes.apps.household_sim import HouseholdSim, SimFrame, load_scenario
from memory_nodes.apps.scenario_runner import scenario_path
from memory_nodes.apps.sim_bridge import SimBridge
from memory_nodes.msg import SceneGraph
from memory_nodes.ros.client import MemoryClient
from memory_nodes.ros.memory_system import create_memory_nodes
from memory_nodes.ros.node_support import EVENTS_QOS
from memory_nodes.srv import LastSeenBy

ROBOT1_FRAMES = range(0, 12)   # the kitchen, then the living room
ROBOT2_FRAMES = range(8, 23)   # the living room (with robot1), the playroom, the living room again
SEEN_BY_BOTH = ("rubber duck", "book", "can", "laptop")


@pytest.fixture(scope="module")
def conninfo(postgres_server):
    return postgres_server.create_database("fleet_view")


def shipped_frames(conninfo, robot):
    with psycopg.connect(conninfo) as connection:
        try:
            return connection.execute("SELECT COUNT(*) FROM memory_events WHERE robot_id = %s AND memory = 'spatial' "
                                      "AND kind = 'frame'", (robot,)).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return 0


@pytest.fixture(scope="module")
def two_robots(conninfo, tmp_path_factory):
    """Robots 1 and 2 fed by the simulator; returns the truth: (label, position, robot that saw it
    last) of each object seen, the last frame's stamp, and how many frames each robot shipped."""
    folder = tmp_path_factory.mktemp("robots")
    spec = load_scenario(scenario_path("flat"))
    sim = HouseholdSim(spec, 0)
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    rooms = [Parameter(name, value=value) for name, value in spec.map_parameters().items()]
    nodes, bridges, watchers, updates = [], {}, {}, {}
    for robot in ("robot1", "robot2"):
        nodes += create_memory_nodes(namespace=f"{robot}/memory", context=context, parameter_overrides=[
            Parameter("memory_directory", value=str(folder / robot)), Parameter("store", value="postgresql"),
            Parameter("server", value=conninfo), Parameter("robot_id", value=robot),
            Parameter("ship_period_s", value=0.2), Parameter("mode", value="detections"),
            Parameter("pose_source", value="pose"), *rooms])
        bridges[robot] = SimBridge(sim, namespace=f"{robot}/memory", context=context)
        watchers[robot] = rclpy.create_node(f"{robot}_watcher", context=context)
        updates[robot] = []
        watchers[robot].create_subscription(SceneGraph, f"/{robot}/memory/scene_graph_updates",
                                            updates[robot].append, EVENTS_QOS)
    executor = MultiThreadedExecutor(num_threads=10, context=context)
    for node in [*nodes, *bridges.values(), *watchers.values()]:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    planner = MemoryClient(node=watchers["robot1"], namespace="/robot1/memory", timeout_s=10.0)
    try:
        planner.wait_for_services(timeout_s=60.0)
        deadline = time.monotonic() + 30.0
        while not all(b.subscribers_ready() for b in bridges.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen_last: dict[str, str] = {}
        index, last_stamp = 0, 0.0
        published = Counter()
        for item in sim.frames():
            if isinstance(item, tuple):
                kind, content, stamp = item
                if kind == "planner" and index in ROBOT1_FRAMES:
                    planner.record_event(content["kind"], content.get("task", ""), content.get("text", ""), stamp=stamp)
                continue
            frame: SimFrame = item
            for robot, frames in (("robot1", ROBOT1_FRAMES), ("robot2", ROBOT2_FRAMES)):
                if index in frames:
                    expected = len(updates[robot]) + 1
                    bridges[robot].publish(frame)
                    published[robot] += 1
                    wait = time.monotonic() + 15.0
                    while len(updates[robot]) < expected and time.monotonic() < wait:
                        time.sleep(0.01)
                    for name in frame.visible:
                        seen_last[name] = robot
            last_stamp = frame.stamp
            index += 1
            if index >= max(ROBOT2_FRAMES) + 1:
                break
        for robot in ("robot1", "robot2"):  # shipped while they run
            wait = time.monotonic() + 30.0
            while shipped_frames(conninfo, robot) < published[robot] and time.monotonic() < wait:
                time.sleep(0.2)
        truth = {name: (sim.specs[name].label, sim.position(name), robot) for name, robot in seen_last.items()
                 if name in sim.present()}
        yield conninfo, truth, last_stamp, {r: shipped_frames(conninfo, r) for r in published}, published
    finally:
        planner.close()
        executor.shutdown()
        spinner.join(timeout=5.0)
        for node in [*nodes, *bridges.values(), *watchers.values()]:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        sim.close()


@pytest.fixture(scope="module")
def fleet(two_robots, tmp_path_factory):
    """The installed memory_fleet reading the server, and a client of /fleet once it caught up."""
    conninfo, _, last_stamp, _, _ = two_robots
    folder = tmp_path_factory.mktemp("fleet")
    spec = load_scenario(scenario_path("flat"))
    parameters = {"server": conninfo, "poll_period_s": 0.2, "mode": "detections", **spec.map_parameters()}
    (folder / "fleet.yaml").write_text(yaml.safe_dump({"/**": {"ros__parameters": parameters}}))
    log = open(folder / "fleet.log", "w")
    process = start_installed("memory_fleet", ["--params-file", str(folder / "fleet.yaml")], stdout=log)
    try:
        with spun_client("fleet_planner", namespace="/fleet") as client:
            client.wait_for_services(timeout_s=60.0, names=("where_is",))
            # Frames are applied in stamp order: an object seen at the last frame's stamp means all.
            # (It waited for the laptop to be seen last, which it is not: every run took 120 s.)
            deadline = time.monotonic() + 120.0
            while time.monotonic() < deadline and process.poll() is None:
                objects, _ = client.query_objects(include_absent=True, limit=1000)
                if objects and max(o.last_seen for o in objects) >= last_stamp - 1e-3:
                    break
                time.sleep(0.5)
            yield client, process, folder / "fleet.log"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30.0)
        log.close()


def test_every_robot_frame_is_on_the_server_once(two_robots):
    _, _, _, shipped, published = two_robots
    assert shipped == dict(published) and shipped["robot1"] == len(ROBOT1_FRAMES)


def test_objects_both_robots_saw_are_one_object_each_where_the_simulator_has_them(two_robots, fleet):
    _, truth, _, _, _ = two_robots
    client, process, log = fleet
    assert process.poll() is None, log.read_text()
    objects, _ = client.query_objects(limit=100)
    counts = Counter(o.label for o in objects if o.status == "present")
    for label in SEEN_BY_BOTH:
        assert counts[label] == 1, (label, counts)
    for label, position, _ in truth.values():
        found = client.where_is(label)
        assert found and min(np.linalg.norm(np.array(c.position[:2]) - position[:2]) for c in found) < 0.15, label


def test_the_fleet_knows_which_robot_saw_each_object_last(two_robots, fleet):
    _, truth, _, _, _ = two_robots
    client, _, log = fleet
    checked = 0
    for label, position, robot in truth.values():
        answer = client.call("last_seen_by", LastSeenBy, LastSeenBy.Request(query=label, limit=10))
        candidates = [(oid, rid) for oid, rid in zip(answer.object_ids, answer.robot_ids)]
        nearest = [o for o in client.where_is(label) if np.linalg.norm(np.array(o.position[:2]) - position[:2]) < 0.15]
        assert nearest, label
        by = dict(candidates)
        assert by.get(nearest[0].object_id) == robot, (label, robot, candidates)
        checked += 1
    assert checked >= 8 and {r for _, _, r in truth.values()} == {"robot1", "robot2"}, log.read_text()


def test_a_planner_event_one_robot_reported_is_in_the_fleets_episodes(fleet):
    client, _, _ = fleet
    # Each memory ships its own journal: the episodic rows may reach the server after the last
    # frame the fixture waited for, and the fleet applies them at a later poll.
    deadline = time.monotonic() + 30.0
    while True:
        episodes, _ = client.recall_episodes(text="inspect kitchen", limit=10)
        if any("(robot robot1)" in e.summary for e in episodes) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any("(robot robot1)" in e.summary and "inspect" in e.summary for e in episodes), \
        [e.summary for e in episodes]
