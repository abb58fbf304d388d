"""Property-based tests: garbage in every handler gives a warning or an error response and a counter,
never an exception, and never changes what is stored."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.parameter import Parameter

from memory_nodes.msg import Detection2D, Detection2DArray, ObjectObservation, ObjectObservationArray
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.episodic_node import EpisodicMemoryNode
from memory_nodes.ros.perception_node import PerceptionNode
from memory_nodes.ros.semantic_node import SemanticMemoryNode
from memory_nodes.ros.spatial_node import SpatialMemoryNode
from memory_nodes.ros.temporal_node import TemporalMemoryNode
from memory_nodes.srv import (
    AddFact,
    GetSceneGraph,
    ObjectHistory,
    QueryChanges,
    QueryFacts,
    QueryObjects,
    RecallEpisodes,
    RecordEvent,
    WhereIs,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
weird_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([0.0, -1.0, 1e30]))
labels = st.text(min_size=0, max_size=40)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    overrides = [Parameter("text_search", value=False), Parameter("persistence", value=False)]
    built = {cls.__name__: cls(context=context, parameter_overrides=overrides)
             for cls in (SpatialMemoryNode, TemporalMemoryNode, EpisodicMemoryNode, SemanticMemoryNode)}
    built["PerceptionNode"] = PerceptionNode(context=context)
    yield built
    for node in built.values():
        node.destroy_node()
    rclpy.try_shutdown(context=context)


@pytest.fixture(autouse=True)
def no_internal_errors(nodes):
    """The handlers now catch every exception (so none ends a node's spin); a bug shows as an
    internal error, counted apart from rejections: none may occur during a test."""
    before = {name: node.counters.internal_errors_total() for name, node in nodes.items()}
    yield
    errors = {name: node.counters.internal_errors_total() - before[name] for name, node in nodes.items()}
    assert not any(errors.values()), errors


def subscription(node, topic):
    """The subscription's callback as the executor calls it, and what it queued then applied."""
    callback = next(s for s in node.subscriptions if s.topic_name.endswith(topic)).callback

    def deliver(msg):
        callback(msg)
        if hasattr(node, "take_waiting"):
            node.take_waiting()
    return deliver


def service(node, name):
    return next(s for s in node.services if s.srv_name.rsplit("/", 1)[-1] == name)


def state(memory, except_retention=False):
    snapshot, arrays = memory.snapshot()
    if except_retention:  # a query strengthens what it recalls (the forgetting curve), by design
        snapshot = {**snapshot, "objects": [{k: v for k, v in o.items() if k != "retention"} for o in snapshot["objects"]]}
    return repr(snapshot), {k: v.tobytes() for k, v in arrays.items()}


@st.composite
def observation_arrays(draw):
    msg = ObjectObservationArray()
    msg.header.frame_id = draw(st.sampled_from(["map", "", "odom", "camera", "\u00e9\u2603"]))
    msg.header.stamp.sec = draw(st.integers(0, 2**31 - 1))
    for _ in range(draw(st.integers(0, 4))):
        o = ObjectObservation(label=draw(labels), score=draw(weird_floats))
        o.pose.position.x, o.pose.position.y, o.pose.position.z = (draw(weird_floats) for _ in range(3))
        o.pose.orientation.w = draw(weird_floats)
        o.extent.x, o.extent.y, o.extent.z = (draw(weird_floats) for _ in range(3))
        o.points = draw(st.lists(st.floats(width=32, allow_nan=True), max_size=10))
        o.appearance = draw(st.lists(st.floats(width=32, allow_nan=True), max_size=8))
        msg.observations.append(o)
    msg.view_valid = draw(st.booleans())
    if msg.view_valid:
        msg.camera_pose.orientation.w = draw(weird_floats)
        msg.camera_info.width, msg.camera_info.height = draw(st.integers(0, 64)), draw(st.integers(0, 64))
        msg.camera_info.k = [draw(weird_floats), 0.0, 10.0, 0.0, draw(weird_floats), 10.0, 0.0, 0.0, 1.0]
        msg.max_range = draw(weird_floats)
        w, h = draw(st.integers(0, 8)), draw(st.integers(0, 8))
        msg.depth.width, msg.depth.height = w, h
        msg.depth.encoding = draw(st.sampled_from(["32FC1", "16UC1", "rgb8", ""]))
        msg.depth.step = w * 4
        msg.depth.data = bytes(draw(st.integers(0, 4 * w * h + 3)))
        coordinates = st.integers(-2**31, 2**31 - 1) | st.integers(-2, 70)
        for _ in range(draw(st.integers(0, 3))):
            msg.unplaced.append(Detection2D(label=draw(labels), score=draw(weird_floats), x_min=draw(coordinates),
                                            y_min=draw(coordinates), x_max=draw(coordinates), y_max=draw(coordinates)))
    return msg


@SETTINGS
@given(msg=observation_arrays())
def test_spatial_observations_never_crash_and_rejections_change_nothing(nodes, msg):
    node = nodes["SpatialMemoryNode"]
    before, rejected = state(node.memory), node.counters.counts["observations.rejected"]
    subscription(node, "observations")(msg)
    if node.counters.counts["observations.rejected"] > rejected:
        assert state(node.memory) == before
    for obj in node.memory.objects():
        assert np.all(np.isfinite(obj.position)) and np.all(np.isfinite(obj.box.extent))


@SETTINGS
@given(query=labels, limit=st.integers(-2**31, 2**31 - 1), radius=weird_floats, x=weird_floats,
       place=st.text(max_size=12), depth=st.integers(-5, 2**31 - 1), start=st.integers(0, 2**31 - 1))
def test_spatial_queries_answer_everything_and_change_nothing(nodes, query, limit, radius, x, place, depth, start):
    node = nodes["SpatialMemoryNode"]
    before = state(node.memory, except_retention=True)
    requests = [
        ("where_is", WhereIs, WhereIs.Request(query=query, limit=limit)),
        ("query_objects", QueryObjects, QueryObjects.Request(text=query, radius=radius, place_id=place, limit=limit)),
        ("get_scene_graph", GetSceneGraph, GetSceneGraph.Request(root_id=place, depth=depth)),
    ]
    requests[1][2].center.x = x
    requests[1][2].start.sec = start
    for name, srv_type, request in requests:
        response = service(node, name).callback(request, srv_type.Response())
        assert isinstance(response.success, bool) and (response.success or response.message)
        if limit < 0 and name != "get_scene_graph":
            assert not response.success  # (the message names the first problem found)
    assert state(node.memory, except_retention=True) == before


@SETTINGS
@given(object_id=labels, limit=st.integers(-100, 100), sec=st.integers(0, 2**31 - 1), end=st.integers(0, 2**31 - 1),
       radius=weird_floats, kind=labels)
def test_temporal_queries_with_odd_windows(nodes, object_id, limit, sec, end, radius, kind):
    node = nodes["TemporalMemoryNode"]
    request = QueryChanges.Request(object_id=object_id, kind=kind, radius=radius, limit=limit)
    request.start.sec, request.end.sec = sec, end
    response = service(node, "query_changes").callback(request, QueryChanges.Response())
    valid = limit >= 0 and not (sec > end > 0) and math.isfinite(radius) and radius >= 0
    assert response.success == valid, response.message
    history = service(node, "object_history").callback(ObjectHistory.Request(object_id=object_id, limit=limit),
                                                       ObjectHistory.Response())
    assert not history.success  # nothing is stored under random ids


@SETTINGS
@given(kind=st.sampled_from(["note", "task_started", "task_failed", "dance", ""]), task=labels, text=st.text(max_size=5000),
       sec=st.integers(0, 2**31 - 1), subject=labels, predicate=labels, obj=labels, confidence=weird_floats)
def test_planner_inputs_are_validated(nodes, kind, task, text, sec, subject, predicate, obj, confidence):
    episodic, semantic = nodes["EpisodicMemoryNode"], nodes["SemanticMemoryNode"]
    events_before = sum(e.event_count for e in episodic.memory.episodes())
    request = RecordEvent.Request(kind=kind, task=task, text=text)
    request.stamp.sec = sec
    response = service(episodic, "record_event").callback(request, RecordEvent.Response())
    events_after = sum(e.event_count for e in episodic.memory.episodes())
    assert events_after == events_before + (1 if response.success else 0)
    facts_before = len(semantic.memory)
    response = service(semantic, "add_fact").callback(
        AddFact.Request(subject=subject, predicate=predicate, object=obj, confidence=confidence), AddFact.Response())
    if not (math.isfinite(confidence) and 0 < confidence <= 1) or not subject.strip() or not obj.strip() \
            or not predicate.strip():
        assert not response.success and len(semantic.memory) == facts_before
    query = service(semantic, "query_facts").callback(QueryFacts.Request(text=text[:50], min_confidence=confidence,
                                                                         limit=5), QueryFacts.Response())
    assert query.success == (math.isfinite(confidence) and 0 <= confidence <= 1)
    recall = service(episodic, "recall_episodes").callback(RecallEpisodes.Request(text=text[:50], limit=-1),
                                                           RecallEpisodes.Response())
    assert not recall.success


@st.composite
def camera_frames(draw):
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    encoding = draw(st.sampled_from(["16UC1", "32FC1", "rgb8", "bayer", ""]))
    image = cv.array_to_image(np.zeros((height, width), np.float32), "32FC1")
    image.encoding = encoding
    if draw(st.booleans()):
        image.data = image.data[: draw(st.integers(0, len(image.data)))]
    image.header.stamp.sec = draw(st.integers(0, 10))
    detections = Detection2DArray()
    detections.header.stamp = image.header.stamp
    for _ in range(draw(st.integers(0, 3))):
        box = [draw(st.integers(-10**6, 10**6)) for _ in range(4)]
        detection = Detection2D(label=draw(labels), score=draw(weird_floats), x_min=box[0], y_min=box[1],
                                x_max=box[2], y_max=box[3])
        if draw(st.booleans()):
            detection.mask = cv.array_to_image(np.zeros((draw(st.integers(1, 30)), draw(st.integers(1, 30))), np.uint8),
                                               "mono8")
        detections.detections.append(detection)
    return image, detections


@SETTINGS
@given(frame=camera_frames(), fx=weird_floats)
def test_perception_survives_bad_images_intrinsics_and_boxes(nodes, frame, fx):
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import CameraInfo

    node = nodes["PerceptionNode"]
    image, detections = frame
    info = CameraInfo(width=image.width, height=image.height)
    info.k = [fx, 0.0, 1.0, 0.0, fx, 1.0, 0.0, 0.0, 1.0]
    subscription(node, "camera_info")(info)
    pose = PoseStamped()
    pose.header.stamp, pose.header.frame_id = image.header.stamp, "map"
    pose.pose.orientation.w = 1.0
    subscription(node, "camera_pose")(pose)
    subscription(node, "depth")(image)
    subscription(node, "rgb")(image)
    subscription(node, "detections")(detections)  # must not raise, whatever came before


def test_ten_thousand_detections_in_one_message(nodes):
    node = nodes["PerceptionNode"]
    detections = Detection2DArray()
    detections.header.stamp.sec = 99
    detections.detections = [Detection2D(label="x", score=0.9, x_min=k % 600, y_min=0, x_max=k % 600 + 5, y_max=5)
                             for k in range(10_000)]
    subscription(node, "detections")(detections)  # no frame to match: queued, bounded, counted
    assert len(node._pending) <= 20 + node.max_backlog_frames


def test_huge_observation_arrays_are_refused(nodes):
    node = nodes["SpatialMemoryNode"]
    msg = ObjectObservationArray()
    msg.header.frame_id = "map"
    msg.observations = [ObjectObservation(label="thing", score=0.5) for _ in range(1001)]
    rejected = node.counters.counts["observations.rejected"]
    subscription(node, "observations")(msg)
    assert node.counters.counts["observations.rejected"] == rejected + 1


def test_rejections_show_on_diagnostics(nodes):
    from diagnostic_msgs.msg import DiagnosticStatus

    node = nodes["SpatialMemoryNode"]
    node.counters.diagnostics()  # the period so far
    msg = ObjectObservationArray()
    msg.header.frame_id = "odom"
    subscription(node, "observations")(msg)
    status = node.counters.diagnostics()
    assert status.level == DiagnosticStatus.WARN and "odom" in status.message
    values = {v.key: v.value for v in status.values}
    assert int(values["observations.rejected"]) >= 1 and "items" in values
    assert node.counters.diagnostics().level == DiagnosticStatus.OK  # nothing new since


def test_an_internal_error_is_counted_apart_from_rejections_and_never_leaves_the_handler(nodes):
    from diagnostic_msgs.msg import DiagnosticStatus

    from memory_nodes.ros.node_support import InputCounters, guarded_callback, guarded_reply

    node = nodes["SpatialMemoryNode"]
    counters = InputCounters(node)  # counters of their own: the module's nodes must stay clean
    broken = guarded_callback(counters, "observations", lambda msg: {}["missing"])
    broken(ObjectObservationArray())  # returns: the executor's spin (and the node) would have ended
    assert counters.counts["observations.internal_errors"] == 1 and counters.rejected_total() == 0
    response = guarded_reply(node, counters, "where_is", WhereIs.Response(), lambda r: 1 / 0)
    assert response.success is False and response.message.startswith("internal error: ZeroDivisionError")
    assert counters.internal_errors_total() == 2 and counters.rejected_total() == 0
    status = counters.diagnostics()
    assert status.level == DiagnosticStatus.ERROR and "ZeroDivisionError" in status.message


def test_points_far_outside_the_observations_box_never_reach_the_voxel_grid(nodes):
    """Found by the property test above: points 1e30 m apart overflowed open3d's voxel grid
    ("voxel_size is too small"), an internal error. Points far outside the box are not the object's
    and are dropped; a box larger than any object is rejected whole."""
    from memory_nodes.core.errors import InvalidInputError
    from memory_nodes.core.geometry import Pose
    from memory_nodes.core.spatial import Observation

    kept = Observation("mug", Pose(np.array([1.0, 0.0, 0.8])), np.array([0.1, 0.1, 0.1]),
                       points=np.array([[1.0, 0.0, 0.8], [1.02, 0.0, 0.85], [1e30, 0.0, 0.0], [1.0, 5.0, 0.8]]))
    assert np.allclose(kept.points, [[1.0, 0.0, 0.8], [1.02, 0.0, 0.85]])
    with pytest.raises(InvalidInputError, match="not an object"):
        Observation("mug", Pose(np.array([1.0, 0.0, 0.8])), np.array([1e30, 0.1, 0.1]))
    node = nodes["SpatialMemoryNode"]
    msg = ObjectObservationArray()
    msg.header.frame_id = "map"
    observation = ObjectObservation(label="mug", score=0.9, points=[0.0, 0.0, 0.0, 1e30, 0.0, 0.0])
    observation.pose.orientation.w = 1.0
    observation.extent.x = observation.extent.y = observation.extent.z = 1e30
    msg.observations.append(observation)
    before, rejected = state(node.memory), node.counters.counts["observations.rejected"]
    subscription(node, "observations")(msg)
    assert node.counters.counts["observations.rejected"] == rejected + 1 and state(node.memory) == before
