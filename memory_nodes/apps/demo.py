"""memory_demo: start every memory node, feed them the built-in sensor sequence over ROS topics,
ask each service once and print the answers.

    memory_demo --ros-args --params-file config/memory.yaml

The sequence (``synthetic_scene.flat_scenario``): a robot looks at the kitchen table, opens the
drawer, drives to the office where the mug now stands on the desk, and comes back to a table
without the mug. Exit status 0 when every service answered.
"""

from __future__ import annotations

import sys
import threading
import time

import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from memory_nodes.apps.synthetic_scene import flat_scenario
from memory_nodes.msg import ObjectObservationArray, SceneGraph
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.client import MemoryClient, MemoryServiceError
from memory_nodes.ros.memory_system import create_memory_nodes
from memory_nodes.ros.middleware import use_large_data_profile
from memory_nodes.ros.node_support import EVENTS_QOS


def _print(title: str, lines: list[str]) -> None:
    print(f"\n== {title}")
    for line in lines or ["(nothing)"]:
        print(f"   {line}")


def feed_scenario(feeder, client: MemoryClient, namespace: str = "/memory", timeout_s: float = 20.0) -> int:
    """Publish the scenario's frames and robot poses, and record its planner events in stamp order;
    waits until the spatial node has processed every frame. Returns the number of frames."""
    scenario = flat_scenario()
    observations = feeder.create_publisher(ObjectObservationArray, f"{namespace}/observations", 50)
    robot_pose = feeder.create_publisher(PoseStamped, f"{namespace}/robot_pose", 50)
    processed = []
    feeder.create_subscription(SceneGraph, f"{namespace}/scene_graph_updates", processed.append, EVENTS_QOS)
    deadline = time.monotonic() + timeout_s
    while observations.get_subscription_count() == 0 or robot_pose.get_subscription_count() == 0:
        if time.monotonic() > deadline:
            raise MemoryServiceError("no memory node subscribes to the observations")
        time.sleep(0.05)
    events = list(scenario.planner_events)
    for number, frame in enumerate(scenario.frames, start=1):
        while events and events[0][0] <= frame.stamp:
            stamp, kind, task, text = events.pop(0)
            client.record_event(kind, task, text, stamp=stamp)
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = cv.seconds_to_stamp(frame.stamp), "map"
        pose.pose.position = cv.point_to_msg(frame.robot_position)
        robot_pose.publish(pose)
        observations.publish(cv.frame_to_msg(frame.observations, frame.view, frame.stamp))
        while len(processed) < number:  # one update per frame: keep the stream in order
            if time.monotonic() > deadline:
                raise MemoryServiceError(f"the spatial memory processed {len(processed)} of {number} frames")
            time.sleep(0.01)
    for stamp, kind, task, text in events:
        client.record_event(kind, task, text, stamp=stamp)
    time.sleep(0.3)  # changes fan out to the other memories
    return len(scenario.frames)


def run_demo(client: MemoryClient) -> None:
    candidates = client.where_is("where is the mug?", limit=3)
    _print("where_is('where is the mug?')", [
        f"{c.object_id} {c.label} {c.status} in {c.room_id or '?'} at ({c.position[0]:.2f}, "
        f"{c.position[1]:.2f}, {c.position[2]:.2f}) score {c.score:.2f}" for c in candidates])
    objects, scores = client.query_objects(place_id="room-kitchen")
    _print("query_objects(place_id='room-kitchen')",
           [f"{o.id} {o.label} {o.status} {o.state} conf {o.confidence:.2f}" for o in objects])
    graph = client.get_scene_graph()
    _print("get_scene_graph()", [f"{len(graph.objects)} objects, {len(graph.places)} places/rooms, "
                                 f"{len(graph.relations)} relations"] +
           [f"{s} {p} {o}" for s, p, o, _ in graph.relations if p in ("on", "in")])
    changes = client.query_changes()
    _print("query_changes()", [f"t={c.stamp:.0f} {c.kind} {c.object_id} {c.label} {c.detail}" for c in changes])
    if candidates:
        history = client.object_history(candidates[0].object_id)
        _print(f"object_history('{candidates[0].object_id}')", [
            f"t={stamp:.0f} ({position[0]:.2f}, {position[1]:.2f})" for stamp, position in history.poses[-6:]])
    episodes, scores = client.recall_episodes(text="task that failed in the office", limit=2)
    _print("recall_episodes('task that failed in the office')",
           [f"{e.id} [{e.outcome or 'no task'}] {e.summary} (score {s:.2f})" for e, s in zip(episodes, scores)])
    fact_id, superseded = client.add_fact("mug", "belongs_to", "alice", 0.9, source="demo")
    _print("add_fact('mug', 'belongs_to', 'alice')", [f"{fact_id}, superseded {superseded}"])
    facts, scores = client.query_facts(text="which room is the mug in", include_superseded=True, limit=6)
    _print("query_facts(text='which room is the mug in')", [
        f"{f.id} {f.subject} {f.predicate} {f.object} conf {f.confidence:.2f} from {f.source}"
        + (f" [superseded by {f.superseded_by}]" if f.superseded else "") for f in facts])
    answer = client.ask("where is the mug and what happened to it?", limit=6)
    _print(f"ask('where is the mug and what happened to it?') {answer.elapsed_ms:.1f} ms, "
           f"memories {list(answer.memories_answered)}",
           [f"[{e.memory}] {e.text} (score {e.score:.2f}: " + ", ".join(
               f"{n} {v:.2f}" for n, v in e.components.items()) + ")" for e in answer.answers])


def main(args: list[str] | None = None) -> int:
    use_large_data_profile()
    rclpy.init(args=sys.argv if args is None else args)
    # The demo always starts from an empty memory and leaves no snapshot behind.
    nodes = create_memory_nodes(parameter_overrides=[Parameter("persistence", value=False)])
    feeder = rclpy.create_node("memory_demo")
    executor = MultiThreadedExecutor(num_threads=len(nodes) + 4)
    for node in [*nodes, feeder]:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    status = 0
    try:
        client = MemoryClient(node=feeder, timeout_s=10.0)
        client.wait_for_services()
        frames = feed_scenario(feeder, client)
        print(f"fed {frames} frames of the built-in sequence to {len(nodes)} memory nodes")
        run_demo(client)
    except MemoryServiceError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        status = 1
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        for node in [*nodes, feeder]:
            node.destroy_node()
        rclpy.try_shutdown()
    return status
