"""Fuzzing through the middleware: a node in a context of its own (its own DDS participant)
publishes generated messages on every topic the memory nodes subscribe to and calls every service
they serve, management services and ``ask`` included. The nodes are spun as the one-process entry
point spins them, so perception decodes the images and lifts the boxes it is sent.

What must hold: no internal error in any node (an exception that is not a domain error is counted
apart from rejections), no node dies (every node still answers at the end), and input a node
rejected changes nothing it stores. The topics and services are discovered from the nodes, and the
messages are generated from their types' field lists, so a new subscription or service is fuzzed
without a change here.
"""

from __future__ import annotations

import importlib
import math
import re
import threading
import time
import uuid

import numpy as np
import pytest
import rclpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter

from memory_nodes.ros import conversions as cv
from memory_nodes.ros.memory_node import MemoryNode
from memory_nodes.ros.memory_system import create_memory_nodes

# Derandomised: the same examples on every run, so a failure in CI is reproducible here.
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    database=None)
FLOATS_32 = st.one_of(st.floats(width=32), st.sampled_from([0.0, -1.0, 1e30, math.nan, math.inf]))
FLOATS_64 = st.one_of(st.floats(), st.sampled_from([0.0, -1.0, 1e300, math.nan, -math.inf]))
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
INTEGER_RANGES = {"int8": 7, "int16": 15, "int32": 31, "int64": 63}
UNSIGNED_RANGES = {"uint8": 8, "octet": 8, "byte": 8, "uint16": 16, "uint32": 32, "uint64": 64}


def type_of(name: str) -> type:
    package, kind = name.split("/")
    module = importlib.import_module(f"{package}.msg")
    return getattr(module, kind)


def value_of(field_type: str, depth: int) -> st.SearchStrategy:
    """A strategy for one field of a ROS message, from its rosidl type string."""
    if match := re.fullmatch(r"sequence<(.+?)(?:, (\d+))?>", field_type):
        inner, bound = match.group(1), int(match.group(2) or 4)
        if inner in ("uint8", "octet", "byte"):
            return st.binary(max_size=min(bound, 512) if match.group(2) else 512)
        return st.lists(value_of(inner, depth + 1), max_size=min(bound, 4 if "/" in inner else 12))
    if match := re.fullmatch(r"(.+)\[(\d+)\]", field_type):
        size = int(match.group(2))
        return st.lists(value_of(match.group(1), depth + 1), min_size=size, max_size=size)
    if field_type == "boolean":
        return st.booleans()
    if field_type == "float":
        return FLOATS_32
    if field_type == "double":
        return FLOATS_64
    if field_type in INTEGER_RANGES:
        bits = INTEGER_RANGES[field_type]
        return st.one_of(st.integers(-(2 ** bits), 2 ** bits - 1), st.sampled_from([-1, 0, 1]))
    if field_type in UNSIGNED_RANGES:
        return st.integers(0, 2 ** UNSIGNED_RANGES[field_type] - 1)
    if field_type.startswith(("string", "wstring")):
        return TEXT
    if "/" in field_type:
        return message(type_of(field_type), depth + 1)
    raise AssertionError(f"no strategy for field type {field_type}")


@st.composite
def _message(draw, msg_type: type, depth: int):
    msg = msg_type()
    for field, field_type in msg_type.get_fields_and_field_types().items():
        if depth > 3 and "/" in field_type:
            continue  # nested deep enough: the default value
        setattr(msg, field, draw(value_of(field_type, depth)))
    return msg


def message(msg_type: type, depth: int = 0) -> st.SearchStrategy:
    return _message(msg_type, depth)


@st.composite
def camera_frames(draw):
    """One RGB-D frame that perception can decode, with detections of any quality: sizes that
    match or not, depth noise, boxes inside, across or outside the image, masks of any size."""
    width, height = draw(st.integers(8, 48)), draw(st.integers(8, 48))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    depth = (rng.uniform(0.3, draw(st.floats(0.4, 12.0))) * 1000 + rng.normal(0, 20, (height, width)))
    depth[rng.random((height, width)) < draw(st.floats(0, 0.5))] = 0  # holes
    depth_msg = cv.array_to_image(np.clip(depth, 0, 65535).astype(np.uint16), "16UC1")
    if draw(st.booleans()):  # sometimes the colour image has another size
        colour = rng.integers(0, 255, (height + draw(st.integers(-4, 4)) or 1, width, 3), dtype=np.uint8)
    else:
        colour = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    rgb_msg = cv.array_to_image(colour, "rgb8")
    from sensor_msgs.msg import CameraInfo

    focal = draw(st.one_of(st.floats(1.0, 200.0), FLOATS_64))
    info = CameraInfo(width=width + draw(st.sampled_from([0, 0, 0, 1])), height=height)
    info.k = [focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0]
    from geometry_msgs.msg import PoseStamped

    pose = PoseStamped()
    pose.header.frame_id = draw(st.sampled_from(["map", "map", "", "odom"]))
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (draw(FLOATS_64) if draw(st.booleans())
                                                                        else float(v) for v in rng.normal(0, 2, 3))
    quaternion = rng.normal(size=4)
    pose.pose.orientation.x, pose.pose.orientation.y, pose.pose.orientation.z, pose.pose.orientation.w = (
        float(v) for v in quaternion / np.linalg.norm(quaternion))
    from memory_nodes.msg import Detection2D, Detection2DArray

    detections = Detection2DArray()
    for _ in range(draw(st.integers(0, 6))):
        x0, y0 = draw(st.integers(-20, width + 20)), draw(st.integers(-20, height + 20))
        detection = Detection2D(label=draw(st.sampled_from(["mug", "chair", " ", "x" * 300, "\u00e9\u2603"])),
                                score=draw(FLOATS_32), x_min=x0, y_min=y0, x_max=x0 + draw(st.integers(-5, width)),
                                y_max=y0 + draw(st.integers(-5, height)))
        if draw(st.booleans()):
            detection.mask = cv.array_to_image(
                (rng.random((draw(st.sampled_from([height, height + 1])), width)) < 0.5).astype(np.uint8) * 255,
                "mono8")
        detections.detections.append(detection)
    return info, pose, rgb_msg, depth_msg, detections


class System:
    """Every memory node spun on one executor (as ``memory_system`` spins them) and a fuzzing node
    in a context of its own."""

    def __init__(self, memory_directory) -> None:
        self.namespace = f"fuzz_{uuid.uuid4().hex[:8]}"
        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=[])
        overrides = [Parameter("memory_directory", value=str(memory_directory)),
                     Parameter("text_search", value=False), Parameter("max_wait_s", value=0.2)]
        self.nodes = create_memory_nodes(namespace=self.namespace, context=self.context, parameter_overrides=overrides)
        self.executor = MultiThreadedExecutor(num_threads=8, context=self.context)
        for node in self.nodes:
            self.executor.add_node(node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()
        self.fuzz_context = rclpy.Context()
        rclpy.init(context=self.fuzz_context, args=[])
        self.fuzzer = rclpy.create_node("fuzzer", namespace=self.namespace, context=self.fuzz_context)
        self.fuzz_executor = SingleThreadedExecutor(context=self.fuzz_context)
        self.fuzz_executor.add_node(self.fuzzer)
        self.fuzz_spinner = threading.Thread(target=self.fuzz_executor.spin, daemon=True)
        self.fuzz_spinner.start()
        self._publishers: dict[str, object] = {}
        self._clients: dict[str, object] = {}

    def close(self) -> None:
        self.fuzz_executor.shutdown()
        self.fuzz_spinner.join(timeout=5)
        self.fuzzer.destroy_node()
        rclpy.try_shutdown(context=self.fuzz_context)
        self.executor.shutdown()
        self.spinner.join(timeout=5)
        for node in self.nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def topics(self) -> list[tuple[str, type, object]]:
        return sorted({(s.topic_name, s.msg_type, node) for node in self.nodes for s in node.subscriptions
                       if not s.topic_name.startswith("/parameter_events")}, key=lambda item: item[0])

    def services(self) -> list[tuple[str, type, object]]:
        return sorted({(s.srv_name, s.srv_type, node) for node in self.nodes for s in node.services
                       if s.srv_type.__module__.startswith("memory_nodes")}, key=lambda item: item[0])

    def publish(self, topic: str, msg_type: type, msg) -> None:
        if topic not in self._publishers:
            from memory_nodes.ros.node_support import EVENTS_QOS, SENSOR_QOS

            # The subscriber's QoS: reliable for the memory-to-memory streams, sensor data otherwise.
            reliable = topic.rsplit("/", 1)[-1] in ("changes", "scene_graph_updates")
            publisher = self.fuzzer.create_publisher(msg_type, topic, EVENTS_QOS if reliable else SENSOR_QOS)
            deadline = time.monotonic() + 10
            while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            self._publishers[topic] = publisher
        self._publishers[topic].publish(msg)

    def call(self, service: str, srv_type: type, request):
        if service not in self._clients:
            client = self.fuzzer.create_client(srv_type, service)
            assert client.wait_for_service(timeout_sec=10.0), service
            self._clients[service] = client
        done = threading.Event()
        future = self._clients[service].call_async(request)
        future.add_done_callback(lambda _f: done.set())
        assert done.wait(30.0), f"{service} did not answer"
        return future.result()

    def counts(self) -> dict[str, int]:
        return {f"{node.get_name()}/{key}": value for node in self.nodes for key, value in node.counters.counts.items()}

    def settle(self, before: dict[str, int] | None = None, timeout_s: float = 2.0) -> dict[str, int]:
        """Wait until the nodes' counters changed from ``before`` (when given) and then stood still
        for 0.05 s: the input and whatever it set off downstream are processed."""
        deadline = time.monotonic() + timeout_s
        current = self.counts()
        while before is not None and current == before and time.monotonic() < deadline:
            time.sleep(0.01)
            current = self.counts()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            latest = self.counts()
            if latest == current:
                break
            current = latest
        return current

    def internal_errors(self) -> dict[str, int]:
        return {key: value for key, value in self.counts().items() if key.endswith(".internal_errors") and value}

    def stored(self) -> dict[str, tuple]:
        """What each memory stores (a query may strengthen what it recalls: retention left out)."""
        result = {}
        for node in self.nodes:
            if isinstance(node, MemoryNode) and node.memory is not None:
                snapshot, arrays = node.memory.snapshot()
                result[node.kind] = (_without_retention(snapshot), {k: v.tobytes() for k, v in arrays.items()})
        return result


def _without_retention(value):
    if isinstance(value, dict):
        return {k: _without_retention(v) for k, v in value.items()
                if k not in ("retention", "strength", "last_recalled", "recall_count")}
    if isinstance(value, list):
        return [_without_retention(v) for v in value]
    return repr(value)


def _rejected(before: dict[str, int], after: dict[str, int], node_name: str) -> tuple[int, int]:
    """(inputs accepted, inputs rejected) by ``node_name`` between two counter readings."""
    accepted = rejected = 0
    for key, value in after.items():
        if not key.startswith(f"{node_name}/"):
            continue
        grown = value - before.get(key, 0)
        if key.endswith(".rejected"):
            rejected += grown
        elif key.endswith(".accepted"):
            accepted += grown
    return accepted, rejected


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    built = System(tmp_path_factory.mktemp("fuzz_memory"))
    yield built
    built.close()


def _topic_fuzz(system: System, topic: str, msg_type: type, node, seen: list[int]):
    @SETTINGS
    @given(msg=message(msg_type))
    def publish_one(msg):
        before_counts = system.settle()
        errors_before = system.internal_errors()
        before = system.stored()
        system.publish(topic, msg_type, msg)
        after_counts = system.settle(before_counts, timeout_s=1.0)
        accepted, rejected = _rejected(before_counts, after_counts, node.get_name())
        if rejected and not accepted and node.get_name() != "memory_perception":
            seen.append(1)
            assert system.stored() == before, f"{topic}: a rejected message changed the memory"
        assert system.internal_errors() == errors_before, f"{topic}: {system.internal_errors()}"

    return publish_one


def _fuzz_each(endpoints: list[tuple[str, type, object]], expected: set[str], fuzz) -> None:
    """Run ``fuzz(name, type, node)()`` for every discovered topic or service, after checking
    that the ones ``expected`` were discovered (the fuzz cannot skip them silently)."""
    names = {name.rsplit("/", 1)[-1] for name, _, _ in endpoints}
    assert expected <= names, names
    for name, endpoint_type, node in endpoints:
        started = time.monotonic()
        fuzz(name, endpoint_type, node)()
        print(f"{name}: {time.monotonic() - started:.1f} s")


def test_every_topic_takes_generated_messages_without_internal_errors_or_changes_from_rejections(system):
    rejections_checked: list[int] = []
    _fuzz_each(system.topics(), {"rgb", "depth", "camera_info", "camera_pose", "detections", "observations",
                                 "robot_pose", "changes", "scene_graph_updates"},
               lambda topic, msg_type, node: _topic_fuzz(system, topic, msg_type, node, rejections_checked))
    assert rejections_checked  # the check of rejected input was not vacuous
    assert not system.internal_errors()


def test_perception_decodes_and_lifts_generated_frames_without_internal_errors(system):
    stamp = [1000]

    @SETTINGS
    @given(frame=camera_frames())
    def publish_frame(frame):
        info, pose, rgb, depth, detections = frame
        stamp[0] += 1
        for msg in (info, pose, rgb, depth, detections):
            if hasattr(msg, "header"):
                msg.header.stamp.sec = stamp[0]
                msg.header.frame_id = msg.header.frame_id or "map"
        before = system.settle()
        errors_before = system.internal_errors()
        for topic, msg in (("camera_info", info), ("camera_pose", pose), ("rgb", rgb), ("depth", depth),
                           ("detections", detections)):
            system.publish(f"/{system.namespace}/{topic}", type(msg), msg)
        system.settle(before, timeout_s=1.0)
        assert system.internal_errors() == errors_before, system.internal_errors()

    publish_frame()
    counts = system.counts()
    # The fuzz reached the code it is meant to reach: frames were decoded and detections lifted.
    assert counts.get("memory_perception/frames.accepted", 0) > 0, counts


def _service_fuzz(system: System, service: str, srv_type: type, refused: list[str]):
    @SETTINGS
    @given(request=message(srv_type.Request))
    def call_one(request):
        system.settle()
        errors_before = system.internal_errors()
        before = system.stored()
        response = system.call(service, srv_type, request)
        assert isinstance(response.success, bool), service
        if not response.success:
            refused.append(service)
            assert not response.message.startswith("internal error"), f"{service}: {response.message}"
            system.settle()
            assert system.stored() == before, f"{service} refused ({response.message}) but changed the memory"
        assert system.internal_errors() == errors_before, f"{service}: {system.internal_errors()}"

    return call_one


def test_every_service_answers_generated_requests_and_rejections_change_nothing(system):
    refused: list[str] = []
    _fuzz_each(system.services(), {"where_is", "query_objects", "ask", "record_event", "add_fact", "save", "load",
                                   "forget", "reset"},
               lambda service, srv_type, _node: _service_fuzz(system, service, srv_type, refused))
    assert refused
    assert not system.internal_errors()


def test_no_node_died_and_every_node_still_answers(system):
    from memory_nodes.srv import Ask, WhereIs

    assert system.spinner.is_alive()
    answer = system.call(f"/{system.namespace}/ask", Ask, Ask.Request(question="where is the mug?", limit=3))
    assert answer.success and sorted(answer.memories_answered) == ["episodic", "semantic", "spatial", "temporal"]
    assert system.call(f"/{system.namespace}/where_is", WhereIs, WhereIs.Request(query="mug", limit=1)).success
    assert not system.internal_errors()
