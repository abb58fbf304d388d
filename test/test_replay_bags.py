"""memory_replay reads rosbag2 (sqlite3 and MCAP) as it reads ROS 1 bags: message by message,
re-published on the mapped topic with the recorded stamps."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
import rclpy
from conftest import spinning
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from memory_nodes.apps.replay import Replayer
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.node_support import SENSOR_QOS

COUNT = 40


def write_odometry_bag(path, storage: StoragePlugin) -> list[tuple[float, float]]:
    """A rosbag2 of COUNT nav_msgs/Odometry on /odom, the robot driving along x; (stamp, x) of each."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    written = []
    with Writer(path, version=9, storage_plugin=storage) as writer:
        connection = writer.add_connection("/odom", "nav_msgs/msg/Odometry", typestore=store)
        for k in range(COUNT):
            stamp = 100.0 + 0.05 * k
            header = types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=int(stamp), nanosec=round((stamp % 1) * 1e9)),
                frame_id="odom")
            pose = types["geometry_msgs/msg/Pose"](
                position=types["geometry_msgs/msg/Point"](x=0.1 * k, y=0.0, z=0.0),
                orientation=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
            twist = types["geometry_msgs/msg/Twist"](linear=types["geometry_msgs/msg/Vector3"](x=2.0, y=0.0, z=0.0),
                                                     angular=types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0))
            message = types["nav_msgs/msg/Odometry"](
                header=header, child_frame_id="base_link",
                pose=types["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
                twist=types["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.zeros(36)))
            writer.write(connection, int(stamp * 1e9), store.serialize_cdr(message, "nav_msgs/msg/Odometry"))
            written.append((round(stamp, 6), 0.1 * k))
    return written


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP], ids=["sqlite3", "mcap"])
def test_rosbag2_odometry_is_replayed_as_robot_poses(tmp_path, storage):
    written = write_odometry_bag(tmp_path / "bag", storage)
    namespace = f"/replay_{uuid.uuid4().hex[:8]}"
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    node = rclpy.create_node("bag_player", context=context)
    robot = rclpy.create_node("robot_listener", context=context)
    received = []
    robot.create_subscription(PoseStamped, f"{namespace}/robot_pose",
                              lambda m: received.append((round(cv.stamp_to_seconds(m.header.stamp), 6),
                                                         m.pose.position.x, m.header.frame_id)), SENSOR_QOS)
    try:
        with spinning(node, robot, executor=SingleThreadedExecutor(context=context)):
            replayer = Replayer(node, namespace=namespace, rate=1.0, progress=False)
            replayer.wait_for_subscribers([(PoseStamped, "robot_pose")])
            sent = replayer.replay_bag(tmp_path / "bag", {"/odom": "robot_pose"}, odom_as_map=True)
            deadline = time.monotonic() + 5.0
            while len(received) < COUNT and time.monotonic() < deadline:
                time.sleep(0.05)
            with pytest.raises(InvalidInputError):
                replayer.replay_bag(tmp_path / "bag", {"/not_there": "robot_pose"})
    finally:
        rclpy.try_shutdown(context=context)
    assert sent == COUNT
    assert len(received) >= 0.9 * COUNT, len(received)  # at recorded speed the sensor QoS loses none here
    expected = dict(written)
    for stamp, x, frame in received:
        assert frame == "map" and x == pytest.approx(expected[stamp])  # recorded stamps, recorded poses
