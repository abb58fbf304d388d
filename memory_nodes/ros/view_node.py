"""The memory in a 3D viewer with a timeline (rerun): what the memory believed at every moment.

Subscribes  scene_graph (latched full snapshot) and scene_graph_updates (SceneGraph), changes
            (ChangeEvent), observations (ObjectObservationArray: the camera's pose, view depth and
            colour, and the observed objects' points) and robot_pose (PoseStamped), all in the
            memory's namespace.
Logs        on the ``stamp`` timeline (message time, so a replayed bag scrubs at bag time):
              world/objects/<id>     Boxes3D (centre, half size, orientation, "label id", colour by
                                     status: present, maybe_moved, absent); cleared when removed
              world/places/<id>      Points3D of each place and room, labelled; world/relations
                                     LineStrips3D between related objects, labelled by predicate
              world/robot/path       LineStrips3D of the robot's positions so far
              world/camera           Transform3D + Pinhole of the optical frame, with its depth and
                                     colour images; world/observations the points of the objects seen
              changes                TextLog per change (appeared, moved, disappeared...), and
                                     world/changes/<id> an arrow from the old to the new place of a move
Sinks       an ``.rrd`` file (``recording_path``), a running viewer (``viewer_url``), and/or a web
            viewer served by this node (``serve_web_viewer``).

``MemoryRecorder`` holds the conversion (messages in, rerun log calls out) so a run that owns its
nodes (the scenario runner, ``make demo``) records the same way without the node's subscriptions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import rerun as rr
import rerun.blueprint as rrb
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node

from memory_nodes.core.errors import ConfigError, InvalidInputError
from memory_nodes.msg import ChangeEvent, ObjectObservationArray, SceneGraph
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.memory_node import run_nodes
from memory_nodes.ros.node_settings import ViewNodeSettings
from memory_nodes.ros.node_support import EVENTS_QOS, LATCHED_QOS, SENSOR_QOS, InputCounters, guarded_callback
from memory_nodes.ros.parameters import declare_config
from memory_nodes.ros.stamps import stamp_to_seconds

TIMELINE = "stamp"
APPLICATION_ID = "memory_nodes"
STATUS_COLOURS = {"present": (60, 150, 255), "maybe_moved": (255, 165, 0), "absent": (150, 150, 150)}
ROOM_COLOUR, PLACE_COLOUR, RELATION_COLOUR = (230, 80, 200), (90, 200, 120), (200, 200, 60)
STRUCTURAL = ("at", "part_of")  # object-to-place and place-to-room edges: the layers, not relations
MAX_PATH_POINTS = 100_000


def _xyz(point: Any) -> list[float]:
    return [float(point.x), float(point.y), float(point.z)]


class MemoryRecorder:
    """Turns the memory's messages into rerun entities on the message-time timeline."""

    def __init__(self, recording: rr.RecordingStream, log_images: bool = True) -> None:
        self.recording = recording
        self.log_images = log_images
        self.last_sequence = 0
        self.objects: dict[str, Any] = {}  # id -> MemoryObject, as last logged
        self.places: dict[str, Any] = {}
        self.relations: dict[tuple[str, str, str], Any] = {}
        self.path: list[list[float]] = []
        recording.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)  # REP-103: map is x forward, z up

    def _at(self, stamp: Any) -> None:
        self.recording.set_time(TIMELINE, timestamp=stamp_to_seconds(stamp))

    def scene_graph(self, msg: SceneGraph) -> None:
        """A full snapshot replaces what was logged; an update changes its objects. A message not
        newer than the last applied (the latched snapshot after later updates) is skipped."""
        if msg.sequence and msg.sequence <= self.last_sequence:
            return
        self.last_sequence = msg.sequence
        self._at(msg.header.stamp)
        touched = {o.id for o in msg.objects}
        if msg.is_full_snapshot:
            for gone in set(self.objects) - touched:
                self.recording.log(f"world/objects/{gone}", rr.Clear(recursive=True))
                del self.objects[gone]
            self.relations.clear()
        for object_id in msg.removed_ids:
            if self.objects.pop(object_id, None) is not None:
                self.recording.log(f"world/objects/{object_id}", rr.Clear(recursive=True))
            if self.places.pop(object_id, None) is not None:
                self.recording.log(f"world/places/{object_id}", rr.Clear(recursive=True))
        for item in msg.objects:
            self.objects[item.id] = item
            orientation = item.pose.orientation
            self.recording.log(f"world/objects/{item.id}", rr.Boxes3D(
                centers=[_xyz(item.pose.position)], half_sizes=[np.asarray(_xyz(item.extent)) / 2.0],
                quaternions=[rr.Quaternion(xyzw=[orientation.x, orientation.y, orientation.z, orientation.w])],
                labels=[f"{item.label} {item.id}"], colors=[STATUS_COLOURS.get(item.status, (255, 255, 255))],
                show_labels=False))
        for place in msg.places:
            if place.id in self.places and _xyz(self.places[place.id].position) == _xyz(place.position):
                continue
            self.places[place.id] = place
            room = place.layer == "room"
            self.recording.log(f"world/places/{place.id}", rr.Points3D(
                [_xyz(place.position)], labels=[place.name or place.id], radii=[0.12 if room else 0.05],
                colors=[ROOM_COLOUR if room else PLACE_COLOUR]))
        self._relations(msg, touched)

    def _relations(self, msg: SceneGraph, touched: set[str]) -> None:
        for key in [k for k in self.relations if k[0] in touched or k[2] in touched]:
            del self.relations[key]
        for relation in msg.relations:
            if relation.predicate not in STRUCTURAL:
                self.relations[(relation.subject_id, relation.predicate, relation.object_id)] = relation
        strips, labels = [], []
        for subject, predicate, target in self.relations:
            if subject in self.objects and target in self.objects:
                strips.append([_xyz(self.objects[subject].pose.position), _xyz(self.objects[target].pose.position)])
                labels.append(predicate)
        if strips:
            self.recording.log("world/relations", rr.LineStrips3D(strips, labels=labels, colors=[RELATION_COLOUR]))
        else:
            self.recording.log("world/relations", rr.Clear(recursive=False))

    def change(self, msg: ChangeEvent) -> None:
        self._at(msg.stamp)
        text = msg.detail or f"{msg.label} {msg.object_id} {msg.kind}"
        level = rr.TextLogLevel.WARN if msg.kind == "disappeared" else rr.TextLogLevel.INFO
        self.recording.log("changes", rr.TextLog(f"{msg.kind}: {msg.label} {msg.object_id}: {text}", level=level))
        if msg.kind == "moved":
            start, end = np.asarray(_xyz(msg.from_position)), np.asarray(_xyz(msg.to_position))
            self.recording.log(f"world/changes/{msg.object_id}", rr.Arrows3D(
                origins=[start], vectors=[end - start], labels=[f"{msg.label} moved"], colors=[(255, 80, 80)]))

    def robot_pose(self, msg: PoseStamped) -> None:
        position = _xyz(msg.pose.position)
        if not np.isfinite(position).all():
            raise InvalidInputError(f"robot pose is not finite: {position}")
        self._at(msg.header.stamp)
        self.path.append(position)
        del self.path[:-MAX_PATH_POINTS]
        self.recording.log("world/robot/path", rr.LineStrips3D([self.path], colors=[(255, 255, 255)]))
        self.recording.log("world/robot/position", rr.Points3D([position], radii=[0.1], colors=[(255, 255, 255)]))

    def observations(self, msg: ObjectObservationArray) -> None:
        observations, view, stamp = cv.frame_from_msg(msg)  # validates; InvalidInputError on bad input
        self.recording.set_time(TIMELINE, timestamp=stamp)
        points = [o.points for o in observations if o.points is not None and len(o.points)]
        if points:
            self.recording.log("world/observations", rr.Points3D(np.vstack(points), radii=[0.01]))
        else:
            self.recording.log("world/observations", rr.Clear(recursive=False))
        if view is None:
            return
        self.recording.log("world/camera", rr.Transform3D(
            translation=view.pose.position, quaternion=rr.Quaternion(xyzw=view.pose.orientation)))
        fx, fy, cx, cy = view.intrinsics
        self.recording.log("world/camera/image", rr.Pinhole(
            focal_length=[fx, fy], principal_point=[cx, cy], width=view.width, height=view.height,
            camera_xyz=rr.ViewCoordinates.RDF, image_plane_distance=0.3))
        if self.log_images and view.depth is not None:
            self.recording.log("world/camera/image/depth", rr.DepthImage(view.depth, meter=1.0))
        if self.log_images and view.color is not None:
            self.recording.log("world/camera/image/colour", rr.Image(view.color, color_model="BGR"))


def default_layout() -> rrb.Blueprint:
    """The 3D world large, the camera and the change log beside it, the timeline following the latest
    message (drag it back to scrub)."""
    return rrb.Blueprint(
        rrb.Horizontal(
            rrb.Spatial3DView(origin="world", name="memory (map frame)"),
            rrb.Vertical(rrb.Spatial2DView(origin="world/camera/image", name="camera view"),
                         rrb.TextLogView(origin="changes", name="changes")),
            column_shares=[3, 2]),
        rrb.TimePanel(timeline=TIMELINE, play_state="following"),
        collapse_panels=True)


def open_recording(settings: ViewNodeSettings, recording_id: str | None = None) -> tuple[rr.RecordingStream, str]:
    """A recording stream with the sinks ``settings`` name; (stream, web viewer URL or "")."""
    recording = rr.RecordingStream(APPLICATION_ID, recording_id=recording_id)
    sinks: list[Any] = []
    if settings.recording_path:
        sinks.append(rr.FileSink(settings.recording_path))
    if settings.viewer_url:
        sinks.append(rr.GrpcSink(settings.viewer_url))
    server = None
    if settings.serve_web_viewer:
        server = rr.GrpcServerSink(bind_ip="127.0.0.1", port=settings.grpc_port)
        sinks.append(server)
    if sinks:
        recording.set_sinks(*sinks, default_blueprint=default_layout())
    web_url = ""
    if server is not None:
        rr.serve_web_viewer(web_port=settings.web_viewer_port, open_browser=False, connect_to=server.uri)
        web_url = f"http://127.0.0.1:{settings.web_viewer_port}"
    return recording, web_url


class ViewNode(Node):
    """``memory_view``: the recorder fed from the memory's topics."""

    def __init__(self, namespace: str = "memory", **kwargs: Any) -> None:
        super().__init__("memory_view", namespace=namespace, **kwargs)
        self.settings = declare_config(self, ViewNodeSettings)
        # Without a sink the recording stream keeps everything in memory for a sink that never comes.
        if not (self.settings.recording_path or self.settings.viewer_url or self.settings.serve_web_viewer):
            raise ConfigError("memory_view needs somewhere to send the view: set recording_path, viewer_url or "
                              "serve_web_viewer")
        self.recording, web_url = open_recording(self.settings)
        self.recorder = MemoryRecorder(self.recording, self.settings.log_camera_images)
        self.counters = InputCounters(self)
        self.counters.report_on_diagnostics(self.settings.diagnostics_period_s)
        for msg_type, topic, qos, callback in (
                (SceneGraph, "scene_graph", LATCHED_QOS, self.recorder.scene_graph),
                (SceneGraph, "scene_graph_updates", EVENTS_QOS, self.recorder.scene_graph),
                (ChangeEvent, "changes", EVENTS_QOS, self.recorder.change),
                (ObjectObservationArray, "observations", SENSOR_QOS, self.recorder.observations),
                (PoseStamped, "robot_pose", SENSOR_QOS, self.recorder.robot_pose)):
            self.create_subscription(msg_type, topic, guarded_callback(self.counters, topic, self._counted(topic, callback)),
                                     qos)
        where = [p for p in (self.settings.recording_path, self.settings.viewer_url, web_url) if p]
        self.get_logger().info(f"recording the memory to {', '.join(where) or 'no sink (set recording_path)'}")

    def _counted(self, topic: str, callback: Any) -> Any:
        def accept(msg: Any) -> None:
            callback(msg)
            self.counters.accepted(topic)
        return accept

    def destroy_node(self) -> None:
        recording = getattr(self, "recording", None)  # None when the node failed to start
        if recording is not None:
            try:
                recording.flush(timeout_sec=5.0)
            except RuntimeError as error:  # the viewer at viewer_url never answered: what it missed is lost
                self.get_logger().warning(f"the view was not delivered to every sink: {error}")
            recording.disconnect()  # closes the file sink: the .rrd is complete once the node is gone
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_nodes(lambda: [ViewNode()], args)
