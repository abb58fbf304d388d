"""The perception node over real topics: RGB-D images, camera pose and 2D detections become 3D
objects in the spatial memory; the geometric mode finds them without a detector."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rendering import INTRINSICS, SIZE, render
from sensor_msgs.msg import CameraInfo

from memory_nodes.core.errors import ConfigError
from memory_nodes.core.geometry import Pose, look_at, matrix_to_quaternion, quaternion_to_matrix, yaw_quaternion
from memory_nodes.msg import Detection2D, Detection2DArray, ObjectObservationArray
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.node_support import SENSOR_QOS
from memory_nodes.ros.perception_node import PerceptionNode
from memory_nodes.ros.spatial_node import SpatialMemoryNode

MUG = (np.array([1.95, 0.45, 0.0]), np.array([2.05, 0.55, 0.12]), (30, 30, 200))
BOX = (np.array([2.3, -0.6, 0.0]), np.array([2.6, -0.3, 0.3]), (200, 60, 30))
CAMERA = look_at(np.array([0.0, 0.0, 1.2]), np.array([2.0, 0.0, 0.0]))


def start(context, tmp_path, perception_overrides):
    spatial = SpatialMemoryNode(context=context, parameter_overrides=[
        Parameter("text_search", value=False), Parameter("memory_directory", value=str(tmp_path)),
        Parameter("persistence", value=False)])
    perception = PerceptionNode(context=context, parameter_overrides=[
        Parameter(k, value=v) for k, v in perception_overrides.items()])
    source = rclpy.create_node("camera_driver", context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    for node in (spatial, perception, source):
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    executor.spinner = spinner
    return spatial, perception, source, executor


def camera_messages(stamp):
    bgr, depth, index = render(CAMERA, [MUG, BOX])
    millimetres = np.nan_to_num(depth * 1000.0, nan=0.0).astype(np.uint16)
    info = CameraInfo(width=SIZE[0], height=SIZE[1])
    fx, fy, cx, cy = INTRINSICS
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    pose = PoseStamped()
    pose.header.stamp, pose.header.frame_id = cv.seconds_to_stamp(stamp), "map"
    pose.pose = cv.pose_to_msg(CAMERA)
    detections = Detection2DArray()
    detections.header.stamp = cv.seconds_to_stamp(stamp)
    for k, label in enumerate(("mug", "box")):
        v, u = np.nonzero(index == k)
        detections.detections.append(Detection2D(label=label, score=0.9, x_min=int(u.min()), y_min=int(v.min()),
                                                 x_max=int(u.max()) + 1, y_max=int(v.max()) + 1))
    return (cv.array_to_image(bgr, "bgr8", stamp, "camera"), cv.array_to_image(millimetres, "16UC1", stamp, "camera"),
            info, pose, detections)


def publish_until(source, spatial, messages_for, topics, predicate, timeout_s=20.0):
    publishers = {name: source.create_publisher(type(msg), name, 10) for name, msg in zip(topics, messages_for(0.0))}
    deadline = time.monotonic() + timeout_s
    stamp = 10.0
    while time.monotonic() < deadline:
        for name, msg in zip(topics, messages_for(stamp)):
            publishers[name].publish(msg)
            time.sleep(0.01)
        if predicate():
            return True
        stamp += 0.5
        time.sleep(0.2)
    return False


TOPICS = ("rgb", "depth", "camera_info", "camera_pose", "detections")


def test_detections_become_objects_in_the_spatial_memory(rclpy_context, tmp_path):
    spatial, perception, source, executor = start(rclpy_context, tmp_path, {"mode": "detections"})
    try:
        found = publish_until(source, spatial, camera_messages, TOPICS,
                              lambda: {o.label for o in spatial.memory.objects()} >= {"mug", "box"})
        assert found, perception.counters.counts
        mug = next(o for o in spatial.memory.objects() if o.label == "mug")
        assert np.linalg.norm(mug.position[:2] - [2.0, 0.5]) < 0.06
        assert len(mug.points) > 10 and mug.appearance is not None
        assert perception.counters.counts["frames.accepted"] >= 1
    finally:
        executor.shutdown()
        executor.spinner.join(timeout=5)
        for node in (spatial, perception, source):
            node.destroy_node()


def test_geometric_mode_needs_no_detector(rclpy_context, tmp_path):
    spatial, perception, source, executor = start(rclpy_context, tmp_path,
                                                  {"mode": "geometric", "geometric_period_s": 0.0})
    try:
        found = publish_until(source, spatial, lambda s: camera_messages(s)[:4], TOPICS[:4],
                              lambda: len([o for o in spatial.memory.objects() if o.label == "unknown_object"]) >= 2)
        assert found, perception.counters.counts
    finally:
        executor.shutdown()
        executor.spinner.join(timeout=5)
        for node in (spatial, perception, source):
            node.destroy_node()


def test_a_colour_image_arriving_after_its_depth_still_gives_the_objects_their_appearance(rclpy_context, tmp_path):
    spatial, perception, source, executor = start(rclpy_context, tmp_path, {"mode": "detections", "rgb_wait_s": 1.0})
    frames = []
    source.create_subscription(ObjectObservationArray, "observations", frames.append, SENSOR_QOS)
    try:
        publishers = {name: source.create_publisher(type(msg), name, 10)
                      for name, msg in zip(TOPICS, camera_messages(0.0))}
        deadline = time.monotonic() + 20.0
        stamp = 10.0
        while len(frames) < 3 and time.monotonic() < deadline:
            rgb, depth, info, pose, detections = camera_messages(stamp)
            for name, msg in (("camera_info", info), ("camera_pose", pose), ("depth", depth), ("detections", detections)):
                publishers[name].publish(msg)
            time.sleep(0.3)  # the colour image comes late
            publishers["rgb"].publish(rgb)
            time.sleep(0.3)
            stamp += 0.5
        assert len(frames) >= 3, perception.counters.counts
        for frame in frames[1:]:  # from the second frame on, the node knows the camera sends colour
            assert frame.observations and all(len(o.appearance) > 0 for o in frame.observations)
    finally:
        executor.shutdown()
        executor.spinner.join(timeout=5)
        for node in (spatial, perception, source):
            node.destroy_node()


def test_a_detection_too_small_to_place_in_3d_reaches_the_memory_as_an_unplaced_box(rclpy_context, tmp_path):
    """A 'lamp' box 2 pixels wide holds too few depth pixels to lift: it goes out with the frame's
    view (in the view's pixels) instead of being dropped, so the memory does not take it for a miss."""
    spatial, perception, source, executor = start(rclpy_context, tmp_path, {"mode": "detections"})
    frames = []
    source.create_subscription(ObjectObservationArray, "observations", frames.append, SENSOR_QOS)

    def with_a_sliver(stamp):
        *messages, detections = camera_messages(stamp)
        detections.detections.append(Detection2D(label="lamp", score=0.8, x_min=301, y_min=201, x_max=303, y_max=203))
        return (*messages, detections)

    try:
        assert publish_until(source, spatial, with_a_sliver, TOPICS, lambda: any(f.unplaced for f in frames)), \
            perception.counters.counts
        frame = next(f for f in frames if f.unplaced)
        (lamp,) = frame.unplaced
        factor = perception.view_downsample
        assert (lamp.label, lamp.x_min, lamp.y_min) == ("lamp", 301 // factor, 201 // factor)
        assert (lamp.x_max, lamp.y_max) == (-(-303 // factor), -(-203 // factor))
        assert sorted(o.label for o in frame.observations) == ["box", "mug"]
        assert perception.counters.counts["detections.unplaced"] >= 1
        view = cv.camera_view_from_msg(frame)
        assert view is not None and [d.label for d in view.unplaced] == ["lamp"]
    finally:
        executor.shutdown()
        executor.spinner.join(timeout=5)
        for node in (spatial, perception, source):
            node.destroy_node()


def test_a_still_camera_at_thirty_frames_a_second_is_lifted_at_keyframes_and_a_change_at_once(rclpy_context, tmp_path):
    spatial, perception, source, executor = start(rclpy_context, tmp_path, {"mode": "detections"})
    lifted = []
    source.create_subscription(ObjectObservationArray, "observations", lifted.append, SENSOR_QOS)
    try:
        messages = camera_messages(0.0)
        publishers = {name: source.create_publisher(type(msg), name, 10) for name, msg in zip(TOPICS, messages)}

        def publish(stamp, detections):
            for name, msg in zip(TOPICS, messages):
                msg = detections if name == "detections" else msg
                msg.header.stamp = cv.seconds_to_stamp(stamp)
                publishers[name].publish(msg)

        for k in range(30):  # one second of a still view at 30 Hz
            publish(10.0 + k / 30.0, messages[4])
            time.sleep(1.0 / 30.0)
        without_mug = Detection2DArray(detections=[d for d in messages[4].detections if d.label != "mug"])
        publish(10.98, without_mug)  # the detector misses the mug, which is still there
        _, depth, _ = render(CAMERA, [BOX])
        millimetres = np.nan_to_num(depth * 1000.0, nan=0.0).astype(np.uint16)
        messages = (messages[0], cv.array_to_image(millimetres, "16UC1", 0.0, "camera"), *messages[2:])
        publish(11.0, without_mug)  # the mug is gone: the first frame that shows it
        counts = perception.counters.counts
        keys = ("frames.accepted", "detections.skipped_repeating_keyframe", "detections.dropped_lagging",
                "detections.rejected")
        deadline = time.monotonic() + 10.0
        while sum(counts[k] for k in keys) < 32 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert sum(counts[k] for k in keys) == 32 == counts["detections.received"], counts
        assert counts["detections.skipped_repeating_keyframe"] >= 20, counts
        assert counts["keyframes.first"] == 1 and counts["keyframes.interval"] >= 2, counts
        assert counts["keyframes.view_changed"] == 1, counts  # the missed mug was not a change
        assert lifted and cv.stamp_to_seconds(lifted[-1].header.stamp) == 11.0
        assert [o.label for o in lifted[-1].observations] == ["box"]
    finally:
        executor.shutdown()
        executor.spinner.join(timeout=5)
        for node in (spatial, perception, source):
            node.destroy_node()


def turned_camera(degrees):
    turn = quaternion_to_matrix(yaw_quaternion(np.radians(degrees)))
    return Pose(CAMERA.position, matrix_to_quaternion(turn @ quaternion_to_matrix(CAMERA.orientation)))


def handed_to_lifting(perception, views):
    """Frames (stamp, camera pose) arriving while lifting is busy: the stamps the node hands to
    lifting, in order, once all have arrived."""
    for stamp, camera in views:
        rgb, depth, info, pose, detections = camera_messages(stamp)
        pose.pose = cv.pose_to_msg(camera)
        perception._on_camera_info(info)
        perception._on_pose(pose)
        perception._on_depth(depth)
        perception._buffer("rgb", stamp, rgb)
        perception._on_detections(detections)
    handed = []
    while (item := perception._next_ready()) is not None:
        handed.append(round(item[0], 3))
    return handed


def test_a_view_held_while_lifting_lags_gives_way_to_its_newest_copy_and_is_not_dropped(rclpy_context):
    """Two views of a 30 Hz camera (held 0.2 s each, the second from a camera turned 10 degrees)
    arrive while lifting is busy, with room for two frames waiting: each view's copies give way to
    its newest, counted as skipped repeats, and both views are lifted. Dropping the oldest frames
    blindly kept two copies of the second view and lost the first."""
    perception = PerceptionNode(context=rclpy_context, parameter_overrides=[Parameter("max_backlog_frames", value=2)])
    try:
        views = [(10.0 + k / 30.0, CAMERA) for k in range(6)] + [(10.2 + k / 30.0, turned_camera(10.0)) for k in range(6)]
        handed = handed_to_lifting(perception, views)
        counts = perception.counters.counts
        assert handed == [round(10.0 + 5 / 30.0, 3), round(10.2 + 5 / 30.0, 3)], counts
        assert counts["detections.skipped_repeating_keyframe"] == 10 and counts["detections.dropped_lagging"] == 0
    finally:
        perception.destroy_node()


def test_a_slow_pan_while_lifting_lags_is_not_taken_for_one_held_view(rclpy_context):
    """A camera turning 1.2 degrees a frame: each frame is within the keyframe turn (3 degrees) of the
    one before, but not of the first of its run; the pan keeps the last frame of every three."""
    perception = PerceptionNode(context=rclpy_context, parameter_overrides=[Parameter("max_backlog_frames", value=3)])
    try:
        handed = handed_to_lifting(perception, [(10.0 + k / 30.0, turned_camera(1.2 * k)) for k in range(9)])
        assert handed == [round(10.0 + k / 30.0, 3) for k in (2, 5, 8)], perception.counters.counts
    finally:
        perception.destroy_node()


@pytest.mark.parametrize("overrides", [{"keyframes.max_interval_s": -1.0}, {"keyframes.box_iou": 2.0}])
def test_bad_keyframe_parameters_fail_at_start(rclpy_context, overrides):
    with pytest.raises(ConfigError, match="keyframes"):
        PerceptionNode(context=rclpy_context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


@pytest.mark.parametrize("overrides", [{"rgb_wait_s": -1.0}, {"max_backlog_frames": 0}])
def test_bad_lag_parameters_fail_at_start(rclpy_context, overrides):
    with pytest.raises(ConfigError):
        PerceptionNode(context=rclpy_context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


def test_odometry_pose_source_composes_the_base_to_camera_transform(rclpy_context):
    node = PerceptionNode(context=rclpy_context, parameter_overrides=[
        Parameter("pose_source", value="odometry"), Parameter("base_to_camera.translation", value=[0.2, 0.0, 1.0])])
    odometry = Odometry()
    odometry.header.stamp = cv.seconds_to_stamp(3.0)
    odometry.pose.pose = cv.pose_to_msg(Pose(np.array([1.0, 2.0, 0.0]), yaw_quaternion(np.pi / 2)))
    node._on_odometry(odometry)
    _, camera = node.matcher.nearest("pose", 3.0)
    expected = look_at(np.array([1.0, 2.2, 1.0]), np.array([1.0, 5.0, 1.0]))  # base faces +y
    assert np.allclose(camera.position, expected.position, atol=1e-9)
    assert np.allclose(camera.rotation(), expected.rotation(), atol=1e-9)
    node.destroy_node()


@pytest.mark.parametrize("overrides", [{"mode": "magic"}, {"pose_source": "gps"}, {"sync_tolerance_s": 0.0},
                                       {"view_downsample": 0}, {"pose_source": "tf"}])
def test_bad_perception_parameters_fail_at_start(rclpy_context, overrides):
    with pytest.raises(ConfigError):
        PerceptionNode(context=rclpy_context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


@pytest.mark.parametrize("field,index,value", [("k", 0, float("nan")), ("k", 2, float("inf")), ("d", 0, float("nan")),
                                              ("p", 0, float("nan")), ("k", 0, 0.0)])
def test_a_camera_info_with_nan_or_a_zero_focal_length_is_rejected(rclpy_context, field, index, value):
    node = PerceptionNode(context=rclpy_context)
    info = CameraInfo(width=640, height=480, k=[500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0],
                      d=[0.0] * 5, p=[500.0, 0, 320, 0, 0, 500, 240, 0, 0, 0, 1, 0])
    node._on_camera_info(info)
    assert node.camera_info is info
    node.camera_info = None
    values = list(getattr(info, field))
    values[index] = value
    setattr(info, field, values)
    node._on_camera_info(info)
    assert node.camera_info is None and node.counters.counts["camera_info.rejected"] == 1
    node.destroy_node()
