"""memory_replay: feed recorded sensor data into the running memory nodes through their topics.

    memory_replay tum FOLDER --intrinsics FX FY CX CY [--depth-scale 0.0002] [--boxes DIR --label NAME]
                  [--rate R]
    memory_replay bag PATH --map TOPIC:TARGET [--map ...] [--odom-as-map] [--rate R]

``tum``: a TUM RGB-D folder (``rgbd_assoc.txt`` or ``rgb.txt``/``depth.txt`` lists, motion-capture
poses ``timestamp tx ty tz qx qy qz qw`` of the camera in the world, taken as ``map``); optional
2D boxes per frame (``NNNN_*.txt`` with ``x y w h score``) become ``Detection2DArray`` messages;
without boxes run the perception node in ``geometric`` mode. ``bag``: ROS 1 bags and rosbag2
(sqlite3, MCAP) through ``rosbags``, read message by message (never the whole bag), re-published on
the mapped topics; ``nav_msgs/Odometry`` mapped to ``robot_pose`` becomes ``PoseStamped``
(``--odom-as-map`` states that the robot has no better localisation than odometry).

Stamps are the recorded ones. ``--rate 1`` plays at recorded speed, ``--rate 5`` five times
faster, ``--rate 0`` as fast as the nodes keep up: a frame that should change the memory waits for
the spatial memory's update of its stamp (``UpdatePacer``). A progress bar shows how far it got.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections import deque
from itertools import pairwise
from pathlib import Path

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from memory_nodes.apps.tum_dataset import TumFrame, read_tum
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.perception import depth_to_metres
from memory_nodes.msg import Detection2D, Detection2DArray, SceneGraph
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.node_support import EVENTS_QOS, SENSOR_QOS

OPTICAL_FRAME = "camera_optical_frame"


def _progress(done: int, total: int, note: str = "") -> None:
    filled = int(30 * done / max(total, 1))
    sys.stdout.write(f"\r  [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {note[:30]:<30}")
    sys.stdout.flush()


class UpdatePacer:
    """When a replay as fast as the nodes keep up (``--rate 0``) waits after a frame, and how long.

    Not every frame changes the memory: perception in geometric mode discovers objects once per
    ``geometric_period_s`` of stamps, a detector may skip frames, a frame may be lost. Waiting the
    full timeout for such a frame made a 1,000-frame replay take hours. The pacer learns from the
    updates it sees: the spacing of their stamps (a frame before the next expected update is not
    waited for) and their latency after publication (a frame that should update waits five times
    the median latency, at least 0.5 s, not the full timeout, once that latency is known). When the
    first ``silent_frames`` frames all pass without any update (perception in a mode these data do
    not feed, e.g. waiting for detections a folder without boxes never sends), the memory is
    ``silent``: later frames wait ``silent_wait_s`` each, not the full timeout, until an update comes."""

    def __init__(self, first_timeout_s: float = 20.0, history: int = 16, silent_frames: int = 3,
                 silent_wait_s: float = 0.5) -> None:
        self.first_timeout_s = first_timeout_s
        self.silent_frames = silent_frames
        self.silent_wait_s = silent_wait_s
        self._lock = threading.Lock()
        self._sent: dict[float, float] = {}
        self._sent_stamps: deque[float] = deque(maxlen=history)
        self._update_stamps: deque[float] = deque(maxlen=history)
        self._latencies: deque[float] = deque(maxlen=history)
        self.latest_update = -float("inf")
        self.skipped = 0
        self.timed_out = 0

    def sent(self, stamp: float, now: float) -> None:
        with self._lock:
            self._sent[stamp] = now
            self._sent_stamps.append(stamp)
            while len(self._sent) > 4 * self._sent_stamps.maxlen:
                self._sent.pop(next(iter(self._sent)))

    def updated(self, stamp: float, now: float) -> None:
        """The spatial memory published its update of ``stamp`` (called from the subscription)."""
        with self._lock:
            if stamp in self._sent:
                self._latencies.append(now - self._sent[stamp])
            if not self._update_stamps or stamp > self._update_stamps[-1]:
                self._update_stamps.append(stamp)
            self.latest_update = max(self.latest_update, stamp)

    def expects_update(self, stamp: float) -> bool:
        """Whether the frame of ``stamp`` is likely to change the memory (until two updates are
        seen, every frame is)."""
        with self._lock:
            if len(self._update_stamps) < 2 or len(self._sent_stamps) < 2:
                return True
            updates, sent = list(self._update_stamps), list(self._sent_stamps)
            spacing = statistics.median(b - a for a, b in pairwise(updates))
            intervals = [b - a for a, b in pairwise(sent) if b > a]
            frame_interval = statistics.median(intervals) if intervals else spacing
            if spacing <= 1.5 * frame_interval:
                return True
            return stamp >= self.latest_update + spacing - 0.5 * frame_interval

    @property
    def silent(self) -> bool:
        """No update has come after ``silent_frames`` frames waited the full timeout."""
        return self.latest_update == -float("inf") and self.timed_out >= self.silent_frames

    def wait_s(self) -> float:
        with self._lock:
            if not self._latencies:
                return self.silent_wait_s if self.silent else self.first_timeout_s
            return min(self.first_timeout_s, max(0.5, 5.0 * statistics.median(self._latencies)))

    def done(self, stamp: float) -> bool:
        return self.latest_update >= stamp

    def wait_for(self, stamp: float) -> None:
        """Block until the update of ``stamp`` arrives or the learned wait is over (counted)."""
        if not self.expects_update(stamp):
            self.skipped += 1
            time.sleep(0.002)  # the sensor QoS keeps few messages: let the subscribers take this one
            return
        deadline = time.monotonic() + self.wait_s()
        while not self.done(stamp):
            if time.monotonic() >= deadline:
                self.timed_out += 1
                return
            time.sleep(0.002)


class Replayer:
    """Publishes recorded data on the memory's topics with ``node`` (spun by the caller)."""

    def __init__(self, node: Node, namespace: str = "/memory", rate: float = 0.0, progress: bool = True) -> None:
        if rate < 0:
            raise InvalidInputError(f"rate must be >= 0, got {rate}")
        self.node, self.rate, self.progress = node, rate, progress
        self.namespace = namespace.rstrip("/")
        self._publishers: dict[str, object] = {}
        self.pacer = UpdatePacer()
        node.create_subscription(SceneGraph, f"{self.namespace}/scene_graph_updates",
                                 lambda m: self.pacer.updated(cv.stamp_to_seconds(m.header.stamp), time.monotonic()),
                                 EVENTS_QOS)

    def publisher(self, msg_type: type, topic: str):
        name = topic if topic.startswith("/") else f"{self.namespace}/{topic}"
        if name not in self._publishers:
            self._publishers[name] = self.node.create_publisher(msg_type, name, SENSOR_QOS)
        return self._publishers[name]

    def wait_for_subscribers(self, topics: list[tuple[type, str]], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.publisher(t, n).get_subscription_count() > 0 for t, n in topics):
                return
            time.sleep(0.05)
        raise InvalidInputError(f"nobody subscribes to {[n for _, n in topics]} under {self.namespace}")

    def _pace(self, stamp: float, first_stamp: float, started: float) -> None:
        if self.rate > 0:
            time.sleep(max(0.0, (stamp - first_stamp) / self.rate - (time.monotonic() - started)))

    def replay_tum(self, frames: list[TumFrame], intrinsics: tuple[float, float, float, float], depth_scale: float,
                   label: str = "") -> int:
        import cv2

        topics = [(Image, "rgb"), (Image, "depth"), (CameraInfo, "camera_info"), (PoseStamped, "camera_pose")]
        if label:
            topics.append((Detection2DArray, "detections"))
        self.wait_for_subscribers(topics)
        started, first = time.monotonic(), frames[0].stamp if frames else 0.0
        for number, frame in enumerate(frames, start=1):
            self._pace(frame.stamp, first, started)
            rgb = cv2.imread(str(frame.rgb_path), cv2.IMREAD_COLOR)
            depth = cv2.imread(str(frame.depth_path), cv2.IMREAD_UNCHANGED)
            if rgb is None or depth is None:
                raise InvalidInputError(f"cannot read {frame.rgb_path} or {frame.depth_path}")
            metres = depth_to_metres(depth, "16UC1", depth_scale)
            info = CameraInfo(width=depth.shape[1], height=depth.shape[0])
            fx, fy, cx, cy = intrinsics
            info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
            stamp = cv.seconds_to_stamp(frame.stamp)
            info.header.stamp, info.header.frame_id = stamp, OPTICAL_FRAME
            pose = PoseStamped()
            pose.header.stamp, pose.header.frame_id = stamp, "map"
            pose.pose.position = cv.point_to_msg(frame.pose[:3])
            pose.pose.orientation.x, pose.pose.orientation.y, pose.pose.orientation.z, pose.pose.orientation.w = frame.pose[3:]
            if self.rate == 0:
                self.pacer.sent(frame.stamp, time.monotonic())
            self.publisher(CameraInfo, "camera_info").publish(info)
            self.publisher(PoseStamped, "camera_pose").publish(pose)
            self.publisher(Image, "rgb").publish(cv.array_to_image(rgb, "bgr8", frame.stamp, OPTICAL_FRAME))
            self.publisher(Image, "depth").publish(cv.array_to_image(metres, "32FC1", frame.stamp, OPTICAL_FRAME))
            if label:
                detections = Detection2DArray()
                detections.header.stamp, detections.header.frame_id = stamp, OPTICAL_FRAME
                if frame.box is not None:
                    x, y, w, h, score = frame.box
                    detections.detections.append(Detection2D(label=label, score=float(score), x_min=int(x), y_min=int(y),
                                                             x_max=int(x + w), y_max=int(y + h)))
                self.publisher(Detection2DArray, "detections").publish(detections)
            if self.rate == 0:
                was_silent = self.pacer.silent
                self.pacer.wait_for(frame.stamp)
                if self.pacer.silent and not was_silent:
                    self.node.get_logger().warning(
                        f"no memory update after {self.pacer.timed_out} frames, {self.pacer.first_timeout_s:.0f} s "
                        f"each: is perception in the mode these data need (without boxes: -p mode:=geometric)? "
                        f"The replay goes on without waiting more than {self.pacer.silent_wait_s} s a frame")
            if self.progress:
                _progress(number, len(frames), f"t={frame.stamp:.2f}")
        if self.progress:
            sys.stdout.write("\n")
        return len(frames)

    def replay_bag(self, path: Path, topic_map: dict[str, str], odom_as_map: bool = False) -> int:
        from rosbags.highlevel import AnyReader

        count = 0
        with AnyReader([Path(path)]) as reader:
            connections = [c for c in reader.connections if c.topic in topic_map]
            missing = set(topic_map) - {c.topic for c in connections}
            if missing:
                raise InvalidInputError(f"{path} has no topic {', '.join(sorted(missing))}")
            total = sum(c.msgcount for c in connections)
            started, first = time.monotonic(), None
            for connection, _, raw in reader.messages(connections=connections):
                msg = reader.deserialize(raw, connection.msgtype)
                stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                first = stamp if first is None else first
                self._pace(stamp, first, started)
                target = topic_map[connection.topic]
                if connection.msgtype == "nav_msgs/msg/Odometry":
                    pose = PoseStamped()
                    pose.header.stamp = cv.seconds_to_stamp(stamp)
                    frame = msg.header.frame_id
                    pose.header.frame_id = "map" if odom_as_map else frame
                    p, q = msg.pose.pose.position, msg.pose.pose.orientation
                    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = p.x, p.y, p.z
                    pose.pose.orientation.x, pose.pose.orientation.y = q.x, q.y
                    pose.pose.orientation.z, pose.pose.orientation.w = q.z, q.w
                    self.publisher(PoseStamped, target).publish(pose)
                else:
                    raise InvalidInputError(f"{connection.topic}: replaying {connection.msgtype} is not supported; "
                                            "map nav_msgs/Odometry topics to robot_pose")
                count += 1
                if self.progress and count % 50 == 0:
                    _progress(count, total, f"t={stamp:.1f}")
                if self.rate == 0 and count % 20 == 0:
                    time.sleep(0.002)  # sensor QoS keeps few messages: let the subscribers breathe
        if self.progress:
            _progress(count, total)
            sys.stdout.write("\n")
        return count


def main(args: list[str] | None = None) -> int:
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from memory_nodes.ros.memory_node import StopOnFirstSignal
    from memory_nodes.ros.middleware import use_large_data_profile

    parser = argparse.ArgumentParser(description="Replay recorded data into the memory nodes.")
    parser.add_argument("--namespace", default="/memory")
    parser.add_argument("--rate", type=float, default=1.0, help="1 = recorded speed, 0 = as fast as the nodes keep up")
    sub = parser.add_subparsers(dest="source", required=True)
    tum = sub.add_parser("tum", help="a TUM RGB-D folder")
    tum.add_argument("folder", type=Path)
    tum.add_argument("--intrinsics", type=float, nargs=4, required=True, metavar=("FX", "FY", "CX", "CY"))
    tum.add_argument("--depth-scale", type=float, default=1 / 5000.0, help="metres per depth unit (TUM: 1/5000)")
    tum.add_argument("--boxes", type=Path, help="folder of per-frame 2D boxes (x y w h score)")
    tum.add_argument("--label", default="", help="label of the boxes")
    bag = sub.add_parser("bag", help="a ROS 1 or rosbag2 bag")
    bag.add_argument("path", type=Path)
    bag.add_argument("--map", action="append", default=[], metavar="TOPIC:TARGET", help="e.g. /odom:robot_pose")
    bag.add_argument("--odom-as-map", action="store_true")
    argv = sys.argv[1:] if args is None else args
    options = parser.parse_args(argv[:argv.index("--ros-args")] if "--ros-args" in argv else argv)
    # Ctrl-C ends the replay in this thread (KeyboardInterrupt), not by shutting the context down
    # under the spinning thread; a second one (ros2 launch sends two) is absorbed.
    use_large_data_profile()  # full-size frames reach nodes in other processes
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
    stop = StopOnFirstSignal()
    stop.install()
    node = rclpy.create_node("memory_replay")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    # Joined before exit: a thread left inside rcl's wait aborts the interpreter (status 134).
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        replayer = Replayer(node, options.namespace, options.rate)
        if options.source == "tum":
            frames = read_tum(options.folder, options.boxes)
            started = time.monotonic()
            replayer.replay_tum(frames, tuple(options.intrinsics), options.depth_scale, options.label)
            pacer = replayer.pacer
            note = (f": {pacer.skipped} not waited for (between the memory's updates), {pacer.timed_out} gave no "
                    f"update in time" if options.rate == 0 else "")
            print(f"memory_replay: {len(frames)} frames in {time.monotonic() - started:.1f} s{note}")
        else:
            topic_map = dict(item.split(":", 1) for item in options.map)
            replayer.wait_for_subscribers([(PoseStamped, t) for t in topic_map.values()])
            replayer.replay_bag(options.path, topic_map, options.odom_as_map)
    except InvalidInputError as error:
        print(f"memory_replay: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("memory_replay: stopped (Ctrl-C)")
    finally:
        stop.received = max(stop.received, 1)  # a signal from here on is absorbed
        executor.shutdown()
        spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown()
        stop.ignore_from_now()
    return 0
