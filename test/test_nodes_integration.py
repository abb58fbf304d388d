"""End to end over real topics and services: every memory node in-process (the installed parameter
file), the built-in sequence published as messages, answers checked against its ground truth."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import rclpy
from conftest import install_prefix, spinning
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from visualization_msgs.msg import MarkerArray

from memory_nodes.apps.demo import feed_scenario
from memory_nodes.apps.synthetic_scene import flat_scenario
from memory_nodes.msg import ObjectObservation, ObjectObservationArray, SceneGraph
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.client import MemoryClient, MemoryServiceError
from memory_nodes.ros.memory_system import create_memory_nodes
from memory_nodes.ros.node_support import LATCHED_QOS, SENSOR_QOS
from memory_nodes.srv import GetSceneGraph, QueryObjects, Reset

PARAMS = install_prefix() / "share" / "memory_nodes" / "config" / "memory.yaml"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    context = rclpy.Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(PARAMS)])
    memory_directory = tmp_path_factory.mktemp("memory")
    nodes = create_memory_nodes(context=context, parameter_overrides=[
        Parameter("memory_directory", value=str(memory_directory))])
    feeder = rclpy.create_node("integration_test", context=context)
    executor = MultiThreadedExecutor(num_threads=8, context=context)
    for node in [*nodes, feeder]:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    client = MemoryClient(node=feeder, timeout_s=10.0)
    client.wait_for_services()
    frames = feed_scenario(feeder, client)
    yield {"nodes": {n.get_name(): n for n in nodes}, "client": client, "feeder": feeder, "frames": frames,
           "memory_directory": memory_directory}
    executor.shutdown()
    spinner.join(timeout=5)
    for node in [*nodes, feeder]:
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def wait_until(predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_scene_graph_matches_ground_truth(system):
    truth = flat_scenario().objects
    objects, _ = system["client"].query_objects(include_absent=True, limit=50)
    assert sorted(o.label for o in objects) == sorted(t.label for t in truth.values())
    for obj in objects:
        (expected,) = [t for t in truth.values() if t.label == obj.label]
        assert np.linalg.norm(np.array(obj.position) - expected.position) < 0.05, obj.label
        assert obj.status == "present"
    drawer = next(o for o in objects if o.label == "drawer")
    assert drawer.state == "open" and drawer.room_id == "room-kitchen"
    graph = system["client"].get_scene_graph()
    on = {(s, o) for s, p, o, _ in graph.relations if p == "on"}
    ids = {o.label: o.id for o in graph.objects}
    assert {(ids["mug"], ids["desk"]), (ids["laptop"], ids["desk"]), (ids["apple"], ids["table"])} <= on


def test_where_is_finds_the_moved_mug_in_the_office(system):
    (best, *_) = system["client"].where_is("where is the mug?")
    assert best.label == "mug" and best.room_id == "room-office" and best.status == "present"
    assert abs(best.position[0] - 7.8) < 0.05
    assert "label_match" in best.evidence[0].components


def test_changes_and_history_tell_the_move(system):
    client = system["client"]
    mug_id = client.where_is("mug")[0].object_id
    moved = client.query_changes(kind="moved")
    assert [c.object_id for c in moved] == [mug_id]
    assert moved[0].from_position[0] < 5.0 < moved[0].to_position[0]
    assert [c.detail for c in client.query_changes(kind="state_changed")] == ["closed -> open"]
    history = client.object_history(mug_id, at_time=1050.0)
    xs = [position[0] for _, position in history.poses]
    assert min(xs) < 2.5 and max(xs) > 7.0  # kitchen then office, one id
    assert history.pose_at_time is not None and history.pose_at_time[1][0] < 2.5  # at t=1050 it was in the kitchen
    assert client.object_history(mug_id, at_time=10.0).pose_at_time is None


def test_episodes_follow_the_planner_tasks(system):
    episodes, scores = system["client"].recall_episodes(text="which task failed?", limit=5)
    assert episodes[0].task == "tidy office" and episodes[0].outcome == "failed"
    assert scores == sorted(scores, reverse=True)
    event_id, episode_id = system["client"].record_event("note", text="battery at 20 percent")
    assert event_id and episode_id


def test_facts_contradictions_through_services(system):
    client = system["client"]
    first, _ = client.add_fact("keys", "is_in", "hallway", 0.8, "alice", stamp=2000.0)
    second, superseded = client.add_fact("keys", "is_in", "bedroom", 0.8, "bob", stamp=2100.0)
    assert superseded == [first]
    facts, _ = client.query_facts(subject="keys", include_superseded=True)
    by_id = {f.id: f for f in facts}
    assert by_id[first].superseded and by_id[first].superseded_by == second and by_id[first].source == "alice"
    # perception facts: the mug's room followed its move
    mug_id = client.where_is("mug")[0].object_id
    rooms, _ = client.query_facts(subject=mug_id, predicate="is_in")
    assert [f.object for f in rooms] == ["room-office"]


def test_ask_merges_all_four_memories(system):
    answer = system["client"].ask("where is the mug and what happened to it?", limit=8)
    assert list(answer.memories_answered) == ["spatial", "temporal", "episodic", "semantic"]
    assert answer.answers[0].memory == "spatial" and "room-office" in answer.answers[0].text
    scores = [a.score for a in answer.answers]
    assert scores == sorted(scores, reverse=True)
    for item in answer.answers:
        assert item.components and all(isinstance(v, float) for v in item.components.values())
    assert answer.elapsed_ms > 0


@pytest.mark.parametrize("call", [
    lambda c: c.where_is("mug", limit=-1),
    lambda c: c.where_is(""),
    lambda c: c.query_objects(place_id="room-garage"),
    lambda c: c.record_event("dance"),
    lambda c: c.record_event("task_started", task=""),
    lambda c: c.add_fact("", "is_in", "x"),
    lambda c: c.add_fact("a", "is_in", "x", confidence=2.0),
    lambda c: c.ask(""),
    lambda c: c.object_history("obj-404"),
    lambda c: c.get_scene_graph(root_id="obj-404"),
])
def test_malformed_requests_get_an_error_response(system, call):
    with pytest.raises(MemoryServiceError):
        call(system["client"])


def test_bad_messages_are_counted_and_do_not_corrupt_memory(system):
    client, feeder = system["client"], system["feeder"]
    spatial = system["nodes"]["spatial_memory"]
    before = len(client.query_objects(include_absent=True, limit=100)[0])
    rejected = spatial.counters.counts["observations.rejected"]
    publisher = feeder.create_publisher(ObjectObservationArray, "/memory/observations", 10)
    bad_frames = []
    nan_pose = ObjectObservationArray()
    nan_pose.header.frame_id = "map"
    nan_pose.header.stamp = cv.seconds_to_stamp(5000.0)
    nan_pose.observations = [ObjectObservation(label="ghost", score=0.9)]
    nan_pose.observations[0].pose.position.x = math.nan
    bad_frames.append(nan_pose)
    wrong_frame = ObjectObservationArray()
    wrong_frame.header.frame_id = "camera_link"
    wrong_frame.observations = [ObjectObservation(label="ghost", score=0.9)]
    bad_frames.append(wrong_frame)
    bad_depth = ObjectObservationArray()
    bad_depth.header.frame_id = "map"
    bad_depth.view_valid = True
    bad_depth.camera_pose.orientation.w = 1.0
    bad_depth.camera_info.width, bad_depth.camera_info.height = 640, 480
    bad_depth.camera_info.k = [320.0, 0.0, 320.0, 0.0, 320.0, 240.0, 0.0, 0.0, 1.0]
    bad_depth.max_range = 5.0
    bad_depth.depth.height, bad_depth.depth.width, bad_depth.depth.encoding = 10, 10, "16UC1"
    bad_depth.depth.step, bad_depth.depth.data = 20, bytes(200)
    bad_frames.append(bad_depth)
    odd_points = ObjectObservationArray()
    odd_points.header.frame_id = "map"
    odd_points.observations = [ObjectObservation(label="ghost", score=0.9, points=[1.0, 2.0])]
    odd_points.observations[0].pose.orientation.w = 1.0
    bad_frames.append(odd_points)
    assert wait_until(lambda: publisher.get_subscription_count() > 0)
    for frame in bad_frames:
        publisher.publish(frame)
    assert wait_until(lambda: spatial.counters.counts["observations.rejected"] >= rejected + len(bad_frames))
    after, _ = client.query_objects(include_absent=True, limit=100)
    assert len(after) == before and "ghost" not in {o.label for o in after}
    assert client.where_is("mug")[0].room_id == "room-office"


def test_latched_scene_graph_and_markers_reach_a_late_subscriber(system):
    feeder = system["feeder"]
    graphs, markers = [], []
    feeder.create_subscription(SceneGraph, "/memory/scene_graph", graphs.append, LATCHED_QOS)
    feeder.create_subscription(MarkerArray, "/memory/scene_graph_markers", markers.append, LATCHED_QOS)
    # The latched snapshot is republished every snapshot_period_s while the graph changes: the one a
    # late subscriber gets first may predate the last frames, a later one must cover them all.
    remembered = len(system["client"].get_scene_graph().objects)
    assert wait_until(lambda: graphs and markers and graphs[-1].sequence > system["frames"]
                      and len(graphs[-1].objects) == remembered, timeout_s=10.0), [g.sequence for g in graphs]
    graph = graphs[-1]
    assert graph.is_full_snapshot and graph.header.frame_id == "map" and graph.sequence > system["frames"]
    # Earlier tests of this module add objects to the shared memory: the snapshot holds what it holds now.
    assert len(graph.objects) == remembered >= len(flat_scenario().objects)
    namespaces = {m.ns for m in markers[-1].markers}
    assert {"objects", "labels", "places", "rooms", "relations"} <= namespaces
    assert sum(m.ns == "objects" for m in markers[-1].markers) == len(graph.objects)


def test_updates_carry_consecutive_sequence_numbers(system):
    feeder = system["feeder"]
    updates = []
    feeder.create_subscription(SceneGraph, "/memory/scene_graph_updates", updates.append, QoSProfile(depth=50))
    publisher = feeder.create_publisher(ObjectObservationArray, "/memory/observations", 10)
    assert wait_until(lambda: publisher.get_subscription_count() > 0 and feeder.count_publishers("/memory/scene_graph_updates"))
    time.sleep(0.3)  # discovery of the new subscription by the publisher
    frame = flat_scenario().frames[-1]
    for k in range(3):
        publisher.publish(cv.frame_to_msg(frame.observations, frame.view, frame.stamp + 100.0 + k))
    assert wait_until(lambda: len(updates) >= 3)
    sequences = [u.sequence for u in updates[-3:]]
    assert sequences == list(range(sequences[0], sequences[0] + 3)) and not updates[-1].is_full_snapshot


def test_save_forget_load_reset_through_services(system):
    client = system["client"]
    count = len(client.query_objects(include_absent=True, limit=100)[0])
    path = client.save("spatial", "before_forget")
    assert path.startswith(str(system["memory_directory"])) and path.endswith("before_forget.npz")
    apple = client.query_objects(label="apple")[0][0]
    assert client.forget("spatial", ids=[apple.id]) == 1
    assert client.query_objects(label="apple")[0] == []
    client.load("spatial", "before_forget")
    assert client.query_objects(label="apple")[0][0].id == apple.id
    assert len(client.query_objects(include_absent=True, limit=100)[0]) == count
    for bad_name in ("../escape", "/tmp/x", "a/b"):
        with pytest.raises(MemoryServiceError, match="plain file name"):
            client.save("spatial", bad_name)
    with pytest.raises(MemoryServiceError, match="no snapshot"):
        client.load("spatial", "never_saved")
    with pytest.raises(MemoryServiceError, match="not 'semantic'"):
        client.load("semantic", "before_forget")
    with pytest.raises(MemoryServiceError, match="confirm"):
        client.call("episodic/reset", Reset, Reset.Request(confirm=False))
    for memory in ("temporal", "episodic", "semantic"):
        client.save(memory, f"{memory}_backup")
    client.reset("temporal")
    assert client.query_changes() == []
    client.load("temporal", "temporal_backup")
    assert client.query_changes(kind="moved")


def test_where_is_by_id_subgraph_and_time_window(system):
    client = system["client"]
    mug_id = client.where_is("mug")[0].object_id
    (by_id,) = client.where_is(mug_id)
    assert by_id.object_id == mug_id and "id_match" in by_id.evidence[0].components
    graph = client.get_scene_graph(root_id=mug_id, depth=1)
    ids = {o.id for o in graph.objects}
    assert mug_id in ids and len(ids) < len(client.get_scene_graph().objects)
    assert all(s == mug_id or o == mug_id or s in ids for s, _, o, _ in graph.relations)
    desk = client.query_objects(label="desk")[0][0].id
    assert (mug_id, "on", desk) in {(s, p, o) for s, p, o, _ in graph.relations}
    request = QueryObjects.Request(end=cv.seconds_to_stamp(1010.0), include_absent=True, limit=50)
    early = client.call("query_objects", QueryObjects, request).objects
    assert {o.label for o in early} == {"table", "mug", "apple", "drawer"}  # the office came later
    request = QueryObjects.Request(start=cv.seconds_to_stamp(1.0e6), include_absent=True, limit=50)
    assert client.call("query_objects", QueryObjects, request).objects == []  # nothing seen that late


def test_observations_arriving_while_a_service_call_runs_wait_for_it_and_none_is_lost(rclpy_context, tmp_path,
                                                                                          monkeypatch):
    """A scene-graph request that takes 1.5 s while perception publishes 20 frames at 20 Hz on the
    sensor QoS (a middleware queue of 5): every frame is taken in once the call returns, in order.
    Before, the subscription shared the services' callback group and 15 frames were lost unseen."""
    from memory_nodes.ros.spatial_node import SpatialMemoryNode

    answer = SpatialMemoryNode._get_scene_graph

    def slow_answer(self, request, response):
        time.sleep(1.5)
        return answer(self, request, response)

    monkeypatch.setattr(SpatialMemoryNode, "_get_scene_graph", slow_answer)
    spatial = SpatialMemoryNode(context=rclpy_context, parameter_overrides=[
        Parameter("text_search", value=False), Parameter("persistence", value=False),
        Parameter("memory_directory", value=str(tmp_path))])
    camera = rclpy.create_node("perception_stand_in", context=rclpy_context)
    with spinning(spatial, camera, executor=MultiThreadedExecutor(num_threads=4, context=rclpy_context)):
        publisher = camera.create_publisher(ObjectObservationArray, "observations", SENSOR_QOS)
        scene_graph = camera.create_client(GetSceneGraph, "get_scene_graph")
        assert scene_graph.wait_for_service(timeout_sec=10.0)
        assert wait_until(lambda: publisher.get_subscription_count() > 0)
        answered = scene_graph.call_async(GetSceneGraph.Request())
        time.sleep(0.2)  # the call is running
        for k in range(20):
            frame = ObjectObservationArray()
            frame.header.frame_id = "map"
            frame.header.stamp = cv.seconds_to_stamp(100.0 + k)
            observation = ObjectObservation(label="mug", score=0.9)
            observation.pose.position.x = 1.0 + 0.001 * k
            observation.pose.orientation.w = 1.0
            observation.extent.x = observation.extent.y = observation.extent.z = 0.1
            frame.observations = [observation]
            publisher.publish(frame)
            time.sleep(0.05)
        assert wait_until(answered.done, timeout_s=10.0) and answered.result().success
        counts = spatial.counters.counts
        assert wait_until(lambda: counts["observations.accepted"] >= 20), dict(counts)
        assert counts["observations.accepted"] == 20 and counts["observations.dropped_lagging"] == 0
        (mug,) = spatial.memory.objects()
        assert mug.last_seen == 119.0
