"""The perception front-end node: RGB-D images and 2D detections in, 3D object observations out.

Subscribes  rgb (sensor_msgs/Image: rgb8/bgr8), depth (Image: 16UC1 scaled by ``depth_scale``,
            32FC1 metres), camera_info (CameraInfo), and the camera pose from one of:
            camera_pose (PoseStamped of the optical frame in map), odom (nav_msgs/Odometry of the
            base, with the fixed base-to-camera transform from parameters), or TF (map -> camera
            frame, when tf2_ros is importable); detections (Detection2DArray) in detections mode.
Publishes   observations (ObjectObservationArray) with the camera view (pose, intrinsics,
            downsampled depth) the spatial memory needs for negative evidence.

Modes: ``detections`` lifts each 2D detection matched by stamp (``sync_tolerance_s``) with an RGB
image, a depth image and a camera pose; ``geometric`` finds objects from depth alone (for a robot
with no detector), at most once per ``geometric_period_s``. All streams use the sensor-data QoS.

A camera faster than lifting repeats itself: in detections mode a frame is lifted only when it may
show the memory something the last lifted frame did not (the camera moved or turned, a detection
moved, a detection is new or gone where the depth changed, or ``keyframes.max_interval_s`` passed;
``memory_nodes.core.keyframes``). The others are skipped and counted
(``detections.skipped_repeating_keyframe``, and each lifted frame's reason as ``keyframes.<reason>``,
on /diagnostics); ``keyframes.max_interval_s`` 0 lifts every frame.

Intake and processing are separate callback groups: the subscriptions only buffer (so the
middleware's small sensor queues are emptied at once and drop nothing unseen), and a guard
condition wakes the processing, which keeps at most ``max_backlog_frames`` complete frames: when
lifting falls behind the camera, a frame that shows the same view as the next one waiting (camera
and boxes alike, ``keyframes.same_view``) gives way to it first, counted as a skipped repeat; then
the oldest frames are dropped and counted (``<trigger>.dropped_lagging`` on /diagnostics). A view
held while lifting lags is so still lifted, not lost with its copies.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from memory_nodes.core.errors import ConfigError, InvalidInputError
from memory_nodes.core.geometry import Pose, matrix_to_quaternion, quaternion_to_matrix
from memory_nodes.core.keyframes import KeyframeSelector, same_view
from memory_nodes.core.perception import (
    Detection,
    PerceptionConfig,
    RgbdFrame,
    StampMatcher,
    depth_to_metres,
    discover_objects,
    lift_detection,
)
from memory_nodes.msg import Detection2DArray, ObjectObservationArray
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.memory_node import run_nodes
from memory_nodes.ros.node_settings import PerceptionNodeSettings
from memory_nodes.ros.node_support import SENSOR_QOS, InputCounters, guarded_callback
from memory_nodes.ros.parameters import declare_config

MAX_WAITING_TRIGGERS = 20  # incomplete frames waiting for their depth, pose or camera_info


class PerceptionNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("memory_perception", **kwargs)
        self.config = declare_config(self, PerceptionConfig)
        settings = declare_config(self, PerceptionNodeSettings)
        self.settings = settings
        self.mode = settings.mode
        self.pose_source = settings.pose_source
        self.map_frame = settings.map_frame
        self.camera_frame = settings.camera_frame
        self.sync_tolerance_s = settings.sync_tolerance_s
        self.depth_scale = settings.depth_scale
        self.view_downsample = settings.view_downsample
        self.max_range = settings.max_range
        self.geometric_period_s = settings.geometric_period_s
        self.max_wait_s = settings.max_wait_s
        self.rgb_wait_s = settings.rgb_wait_s
        self.max_backlog_frames = settings.max_backlog_frames
        self.keyframes = KeyframeSelector(settings.keyframes)
        self.base_to_camera = Pose(np.array(settings.base_to_camera.translation, dtype=float),
                                   np.array(settings.base_to_camera.rotation, dtype=float))
        self.counters = InputCounters(self)
        self.counters.report_on_diagnostics(settings.diagnostics_period_s,
                                            lambda: {"pending_triggers": len(self._pending),
                                                     "buffered_messages_dropped": self.matcher.dropped})
        self.matcher = StampMatcher(("rgb", "depth", "pose"), self.sync_tolerance_s)
        self.camera_info: CameraInfo | None = None
        self._last_geometric = -np.inf
        # Triggers (detections, or depth in geometric mode) wait here until the other streams of
        # their stamp have arrived: topics are not delivered in stamp order.
        self._pending: list[tuple[float, str, object, float]] = []  # stamp, kind, message, arrival (monotonic)
        self._latest_input = -np.inf
        self._lock = threading.Lock()  # intake and processing run on different executor threads
        intake = MutuallyExclusiveCallbackGroup()
        processing = MutuallyExclusiveCallbackGroup()
        self._wake = self.create_guard_condition(self._work, callback_group=processing)
        # A frame waiting for its colour image gets no further input to wake it: look again soon.
        self.create_timer(0.05, lambda: self._pending and self._work(), callback_group=processing)
        self._tf_buffer = None
        if self.pose_source == "tf":
            try:
                import tf2_ros
            except ImportError as error:
                raise ConfigError("pose_source 'tf' needs tf2_ros, which is not installed here; use 'pose' or "
                                  "'odometry'") from error
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        self.publisher = self.create_publisher(ObjectObservationArray, "observations", SENSOR_QOS)
        def subscribe(msg_type: type, topic: str, callback) -> None:
            self.create_subscription(msg_type, topic, guarded_callback(self.counters, topic, callback), SENSOR_QOS,
                                     callback_group=intake)

        subscribe(Image, "rgb", lambda m: self._buffer("rgb", cv.stamp_to_seconds(m.header.stamp), m))
        subscribe(Image, "depth", self._on_depth)
        subscribe(CameraInfo, "camera_info", self._on_camera_info)
        if self.pose_source == "pose":
            subscribe(PoseStamped, "camera_pose", self._on_pose)
        elif self.pose_source == "odometry":
            subscribe(Odometry, "odom", self._on_odometry)
        if self.mode == "detections":
            subscribe(Detection2DArray, "detections", self._on_detections)

    # ----------------------------------------------------------------- buffering
    def _buffer(self, stream: str, stamp: float, item) -> None:
        with self._lock:
            self.counters.counts[f"{stream}.received"] += 1
            self.matcher.add(stream, stamp, item)
            self._latest_input = max(self._latest_input, stamp)
        self._wake.trigger()

    def _trigger(self, kind: str, stamp: float, msg) -> None:
        with self._lock:
            self.counters.counts[f"{kind}.received"] += 1
            if len(self._pending) >= MAX_WAITING_TRIGGERS + self.max_backlog_frames:
                self._pending.sort(key=lambda item: item[0])
                self.counters.counts[f"{self._pending.pop(0)[1]}.dropped_lagging"] += 1
            self._pending.append((stamp, kind, msg, time.monotonic()))
            self._latest_input = max(self._latest_input, stamp)
        self._wake.trigger()

    def _ready(self, stamp: float, arrived: float) -> bool:
        """Depth, camera pose and camera_info of ``stamp`` are here, and its colour image too, unless
        the camera sends none or it is ``rgb_wait_s`` late (then the frame goes without colour)."""
        streams = ("depth", "pose") if self._tf_buffer is None else ("depth",)
        if self.camera_info is None or any(self.matcher.nearest(s, stamp) is None for s in streams):
            return False
        # Topics are delivered in no particular order: the colour image of a frame may come just
        # after its depth. Without it the objects have no appearance, and association changes.
        return (self.counters.counts["rgb.received"] == 0 or self.matcher.nearest("rgb", stamp) is not None
                or time.monotonic() - arrived >= self.rgb_wait_s)

    def _next_ready(self) -> tuple[float, str, object, dict] | None:
        """The oldest complete trigger kept after dropping (counted) what is too old to complete or
        beyond the backlog, with the buffered messages of its frame; None when nothing is ready."""
        with self._lock:
            ready, waiting = [], []
            for stamp, kind, msg, arrived in sorted(self._pending, key=lambda item: item[0]):
                if self._ready(stamp, arrived):
                    ready.append((stamp, kind, msg, arrived))
                elif stamp < self._latest_input - self.max_wait_s or len(waiting) >= MAX_WAITING_TRIGGERS:
                    self.counters.rejected(kind, f"no depth, camera pose or camera_info within "
                                                 f"{self.sync_tolerance_s} s of {stamp:.3f}")
                else:
                    waiting.append((stamp, kind, msg, arrived))
            if len(ready) > self.max_backlog_frames:
                ready = self._without_repeats(ready)
            for _, kind, _, _ in ready[:-self.max_backlog_frames]:
                self.counters.counts[f"{kind}.dropped_lagging"] += 1
            ready = ready[-self.max_backlog_frames:]
            if not ready:
                self._pending = waiting
                return None
            stamp, kind, msg, _ = ready[0]
            self._pending = ready[1:] + waiting
            hits = {stream: self.matcher.nearest(stream, stamp) for stream in ("depth", "rgb", "pose")}
            return stamp, kind, msg, {**hits, "camera_info": self.camera_info}

    def _without_repeats(self, ready: list) -> list:
        """``ready`` (oldest first) without the detection frames that show the same view as the next
        one (``keyframes.same_view``), counted as skipped repeats: when lifting lags, a camera held
        on a view fills the backlog with copies of it, and dropping the oldest frames blindly would
        drop whole views, the ones that showed a change among them. Each frame is compared with the
        first of its run of copies, so a slow pan does not chain into one view."""
        kept: list = []
        run_view = None  # the camera pose and boxes of the first frame of the run of copies
        for item in ready:
            view = self._view_of(item)
            if run_view is not None and view is not None and same_view(*run_view, *view, self.keyframes.config):
                self.counters.counts["detections.skipped_repeating_keyframe"] += 1
                kept[-1] = item
            else:
                kept.append(item)
                run_view = view
        return kept

    def _view_of(self, item: tuple) -> tuple[Pose, list] | None:
        """The camera pose and labelled boxes of a waiting detection frame; None for a depth
        trigger or a frame whose pose is unknown."""
        stamp, kind, msg, _ = item
        if kind != "detections":
            return None
        hit = self.matcher.nearest("pose", stamp) if self._tf_buffer is None else None
        pose = self._camera_pose(stamp, hit[1] if hit is not None else None)
        return None if pose is None else (pose, self._labelled_boxes(msg))

    def _detections(self, msg: Detection2DArray) -> list:
        return [det for det in msg.detections if det.score >= self.config.min_score and det.label.strip()]

    def _labelled_boxes(self, msg: Detection2DArray) -> list:
        return [(det.label, (det.x_min, det.y_min, det.x_max, det.y_max)) for det in self._detections(msg)]

    def _work(self) -> None:
        """Process complete frames until none is ready (runs in its own callback group)."""
        while (item := self._next_ready()) is not None:
            try:
                self._process(*item)
            except Exception as error:  # a bug must cost this frame, not the node
                self.counters.internal_error(item[1], error)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        if not all(math.isfinite(v) for v in (*msg.k, *msg.d, *msg.p, *msg.r)):
            self.counters.rejected("camera_info", "NaN or infinity in the calibration")
            return
        if not (msg.k[0] > 0 and msg.k[4] > 0) or msg.width == 0 or msg.height == 0:
            self.counters.rejected("camera_info", "zero focal length or image size")
            return
        with self._lock:
            self.camera_info = msg
        self._wake.trigger()

    def _on_pose(self, msg: PoseStamped) -> None:
        if msg.header.frame_id not in (self.map_frame, ""):
            self.counters.rejected("camera_pose", f"frame {msg.header.frame_id!r} is not {self.map_frame!r}")
            return
        try:
            pose = cv.pose_from_msg(msg.pose)
        except InvalidInputError as error:
            self.counters.rejected("camera_pose", str(error))
            return
        self._buffer("pose", cv.stamp_to_seconds(msg.header.stamp), pose)

    def _on_odometry(self, msg: Odometry) -> None:
        try:
            base = cv.pose_from_msg(msg.pose.pose)
        except InvalidInputError as error:
            self.counters.rejected("odom", str(error))
            return
        rotation = quaternion_to_matrix(base.orientation) @ self.base_to_camera.rotation()
        camera = Pose(base.transform(self.base_to_camera.position[None, :])[0], matrix_to_quaternion(rotation))
        self._buffer("pose", cv.stamp_to_seconds(msg.header.stamp), camera)

    def _camera_pose(self, stamp: float, nearest: Pose | None) -> Pose | None:
        if self._tf_buffer is None:
            return nearest
        from rclpy.time import Time

        try:
            transform = self._tf_buffer.lookup_transform(self.map_frame, self.camera_frame,
                                                         Time(nanoseconds=int(stamp * 1e9)))
        except Exception as error:
            self.counters.rejected("tf", str(error))
            return None
        t, q = transform.transform.translation, transform.transform.rotation
        return Pose(np.array([t.x, t.y, t.z]), np.array([q.x, q.y, q.z, q.w]))

    # ----------------------------------------------------------------- frames
    def _depth(self, hits: dict) -> np.ndarray:
        """The depth image (metres, NaN invalid) of the buffered messages nearest to a stamp (``hits``)."""
        depth_msg, info = hits["depth"][1], hits["camera_info"]
        depth = depth_to_metres(cv.image_to_array(depth_msg), depth_msg.encoding, self.depth_scale)
        if (depth.shape[1], depth.shape[0]) != (info.width, info.height):
            raise InvalidInputError(f"depth is {depth.shape[1]}x{depth.shape[0]} but camera_info is "
                                    f"{info.width}x{info.height}")
        return depth

    def _frame(self, pose: Pose, depth: np.ndarray, hits: dict) -> RgbdFrame:
        """The RGB-D frame seen from ``pose`` from ``depth`` and the buffered messages of its stamp (``hits``)."""
        rgb_hit, info = hits["rgb"], hits["camera_info"]
        rgb = cv.image_to_array(rgb_hit[1]) if rgb_hit is not None else None
        if rgb is not None and rgb.ndim != 3:
            rgb = None
        return RgbdFrame(depth, (info.k[0], info.k[4], info.k[2], info.k[5]), pose, rgb)

    def _publish(self, frame: RgbdFrame, observations, stamp_msg, unplaced: list[Detection]) -> None:
        view = frame.memory_view(self.view_downsample, self.max_range, unplaced)
        msg = cv.frame_to_msg(observations, view, cv.stamp_to_seconds(stamp_msg), self.map_frame)
        msg.header.stamp = stamp_msg
        self.publisher.publish(msg)
        self.counters.accepted("frames")

    def _on_detections(self, msg: Detection2DArray) -> None:
        self._trigger("detections", cv.stamp_to_seconds(msg.header.stamp), msg)

    def _on_depth(self, msg: Image) -> None:
        stamp = cv.stamp_to_seconds(msg.header.stamp)
        self._buffer("depth", stamp, msg)
        if self.mode == "geometric" and stamp - self._last_geometric >= self.geometric_period_s:
            self._last_geometric = stamp
            self._trigger("depth", stamp, msg)

    def _process(self, stamp: float, kind: str, msg, hits: dict) -> None:
        pose = self._camera_pose(stamp, hits["pose"][1] if self._tf_buffer is None else None)
        if pose is None:
            return
        detections = [] if kind == "depth" else self._detections(msg)
        labelled_boxes = [] if kind == "depth" else self._labelled_boxes(msg)
        try:
            depth = self._depth(hits)
            reason = None if kind == "depth" else self.keyframes.reason_to_lift(stamp, pose, labelled_boxes, depth)
            if kind == "detections" and reason is None:
                self.counters.counts["detections.skipped_repeating_keyframe"] += 1
                return
            frame = self._frame(pose, depth, hits)
            unplaced: list[Detection] = []
            if kind == "depth":
                observations = discover_objects(frame, self.config)
            else:
                observations = []
                for det, (_, box) in zip(detections, labelled_boxes, strict=True):
                    mask = cv.image_to_array(det.mask) if det.mask.height and det.mask.width else None
                    detection = Detection(det.label, float(det.score), box, mask)
                    observation = lift_detection(frame, detection, self.config)
                    if observation is not None:
                        observations.append(observation)
                    else:
                        unplaced.append(detection)
        except InvalidInputError as error:
            self.counters.rejected(kind, str(error))
            return
        self.counters.counts["detections.unplaced"] += len(unplaced)
        self._publish(frame, observations, msg.header.stamp, unplaced)
        if reason is not None:
            self.keyframes.lifted(stamp, pose, labelled_boxes, depth)
            self.counters.counts[f"keyframes.{reason}"] += 1


def main(args: list[str] | None = None) -> int:
    return run_nodes(lambda: [PerceptionNode()], args)
