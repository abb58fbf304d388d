"""Message <-> core conversions: the only place where ROS message types meet the memory core.

Every function raises ``InvalidInputError`` on a malformed message (NaN, wrong sizes, unknown
encodings) so nodes can count and reject it without touching memory.
"""

from __future__ import annotations

import math

import numpy as np
from geometry_msgs.msg import Point, Vector3
from geometry_msgs.msg import Pose as PoseMsg
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from memory_nodes.core.changes import Change, change_kind
from memory_nodes.core.episodic import EpisodeRecord
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.evidence import EvidenceItem
from memory_nodes.core.geometry import CameraView, ImageDetection, Pose
from memory_nodes.core.semantic import FactRecord
from memory_nodes.core.spatial import (
    ChangeRecord,
    GraphLayer,
    ObjectNode,
    ObjectStatus,
    Observation,
    PlaceNode,
    SpatialMemory,
)
from memory_nodes.msg import (
    ChangeEvent,
    Detection2D,
    Episode,
    Evidence,
    Fact,
    MemoryObject,
    Place,
    Relation,
    SceneGraph,
)
from memory_nodes.ros.stamps import optional_stamp as optional_stamp
from memory_nodes.ros.stamps import seconds_to_stamp, stamp_to_seconds

MAX_POINTS_PER_OBSERVATION = 200_000
MAX_OBSERVATIONS_PER_FRAME = 1000


def pose_from_msg(msg: PoseMsg) -> Pose:
    p, q = msg.position, msg.orientation
    return Pose(np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w]))


def pose_to_msg(pose: Pose) -> PoseMsg:
    msg = PoseMsg()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in pose.position)
    o = msg.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in pose.orientation)
    return msg


def point_to_msg(position: np.ndarray | tuple[float, float, float]) -> Point:
    x, y, z = (float(v) for v in position)
    return Point(x=x, y=y, z=z)


def point_from_msg(msg: Point) -> np.ndarray:
    point = np.array([msg.x, msg.y, msg.z])
    if not np.all(np.isfinite(point)):
        raise InvalidInputError(f"point contains NaN or infinity: {point.tolist()}")
    return point


def observation_from_msg(msg) -> Observation:
    points = None
    if len(msg.points):
        if len(msg.points) % 3:
            raise InvalidInputError(f"points has {len(msg.points)} floats, not a multiple of 3")
        if len(msg.points) > 3 * MAX_POINTS_PER_OBSERVATION:
            raise InvalidInputError(f"{len(msg.points) // 3} points; at most {MAX_POINTS_PER_OBSERVATION}")
        points = np.asarray(msg.points, dtype=np.float32).reshape(-1, 3)
    extent = np.array([msg.extent.x, msg.extent.y, msg.extent.z])
    appearance = np.asarray(msg.appearance, dtype=np.float32) if len(msg.appearance) else None
    return Observation(msg.label, pose_from_msg(msg.pose), extent, float(msg.score), points, appearance,
                       msg.state, msg.source_id, bool(msg.partial))


def camera_view_from_msg(msg) -> CameraView | None:
    """The camera of an ObjectObservationArray, or None when ``view_valid`` is false."""
    if not msg.view_valid:
        return None
    info = msg.camera_info
    k = info.k
    depth = None
    if msg.depth.height and msg.depth.width:
        if msg.depth.encoding != "32FC1":
            raise InvalidInputError(f"depth encoding {msg.depth.encoding!r} is not supported; use 32FC1")
        expected = msg.depth.height * msg.depth.width * 4
        if len(msg.depth.data) != expected or msg.depth.step != msg.depth.width * 4:
            raise InvalidInputError(f"depth data has {len(msg.depth.data)} bytes, expected {expected}")
        dtype = np.dtype("<f4") if not msg.depth.is_bigendian else np.dtype(">f4")
        depth = np.frombuffer(bytes(msg.depth.data), dtype=dtype).reshape(msg.depth.height, msg.depth.width)
    color = None
    if msg.color.height and msg.color.width:
        if msg.color.encoding != "bgr8":
            raise InvalidInputError(f"view colour encoding {msg.color.encoding!r} is not supported; use bgr8")
        expected = msg.color.height * msg.color.width * 3
        if len(msg.color.data) != expected or msg.color.step != msg.color.width * 3:
            raise InvalidInputError(f"view colour data has {len(msg.color.data)} bytes, expected {expected}")
        color = np.frombuffer(bytes(msg.color.data), dtype=np.uint8).reshape(msg.color.height, msg.color.width, 3)
    if len(msg.unplaced) > MAX_OBSERVATIONS_PER_FRAME:
        raise InvalidInputError(f"{len(msg.unplaced)} unplaced detections; at most {MAX_OBSERVATIONS_PER_FRAME} per frame")
    unplaced = tuple(ImageDetection(d.label, float(d.score), (float(d.x_min), float(d.y_min), float(d.x_max),
                                                              float(d.y_max))) for d in msg.unplaced)
    return CameraView(pose_from_msg(msg.camera_pose), (k[0], k[4], k[2], k[5]), int(info.width), int(info.height),
                      float(msg.max_range), depth, color, unplaced)


def frame_from_msg(msg) -> tuple[list[Observation], CameraView | None, float]:
    """(observations, camera view or None, stamp seconds) of an ObjectObservationArray."""
    if msg.header.frame_id not in ("map", ""):
        raise InvalidInputError(f"observations are in frame {msg.header.frame_id!r}; the memory expects 'map'")
    if len(msg.observations) > MAX_OBSERVATIONS_PER_FRAME:
        raise InvalidInputError(f"{len(msg.observations)} observations; at most {MAX_OBSERVATIONS_PER_FRAME} per frame")
    observations = [observation_from_msg(o) for o in msg.observations]
    return observations, camera_view_from_msg(msg), stamp_to_seconds(msg.header.stamp)


def object_to_msg(node: ObjectNode, memory: SpatialMemory) -> MemoryObject:
    msg = MemoryObject()
    msg.id = node.id
    msg.label = node.label
    msg.label_confidence = float(node.label_confidence)
    msg.pose = pose_to_msg(node.box.pose)
    msg.extent = Vector3(x=float(node.box.extent[0]), y=float(node.box.extent[1]), z=float(node.box.extent[2]))
    msg.confidence = float(node.confidence)
    msg.first_seen = seconds_to_stamp(node.first_seen)
    msg.last_seen = seconds_to_stamp(node.last_seen)
    msg.observation_count = int(node.observation_count)
    msg.place_id = node.place_id
    msg.room_id = memory.room_of(node.place_id)
    msg.state = node.state
    msg.status = node.status
    msg.extent_partial = bool(node.partial)
    msg.moved_to_id = node.moved_to if node.status is ObjectStatus.MAYBE_MOVED else ""
    return msg


def place_to_msg(place: PlaceNode) -> Place:
    return Place(id=place.id, layer=place.layer, name=place.name, position=point_to_msg(place.position),
                 parent_id=place.parent_id)


def scene_graph_to_msg(memory: SpatialMemory, object_ids: set[str] | None, removed: list[str]) -> SceneGraph:
    """A full snapshot (``object_ids`` None) or an update with the given objects and their relations."""
    msg = SceneGraph()
    msg.is_full_snapshot = object_ids is None
    objects = memory.objects()
    if object_ids is not None:
        objects = [o for o in objects if o.id in object_ids]
    msg.objects = [object_to_msg(o, memory) for o in objects]
    msg.places = [place_to_msg(p) for p in memory.places()]
    msg.relations = [Relation(subject_id=s, predicate=p, object_id=o, confidence=float(c))
                     for s, p, o, c in memory.relations(object_ids)]
    msg.removed_ids = list(removed)
    return msg


def change_to_msg(change: ChangeRecord | Change) -> ChangeEvent:
    """A spatial ``ChangeRecord`` or a stored ``Change`` as a message."""
    object_id = change.object_id if isinstance(change, ChangeRecord) else change.entity
    return ChangeEvent(stamp=seconds_to_stamp(change.stamp), kind=change.kind.value, object_id=object_id,
                       label=change.label, from_position=point_to_msg(change.from_position),
                       to_position=point_to_msg(change.to_position), detail=change.detail,
                       merged_id=change.merged_id)


def change_from_msg(msg: ChangeEvent) -> Change:
    """``InvalidInputError`` for an unknown kind, a NaN position or stamp, a merge without its id."""
    return Change(stamp_to_seconds(msg.stamp), change_kind(msg.kind), msg.object_id, msg.label,
                  _position(point_from_msg(msg.from_position)), _position(point_from_msg(msg.to_position)),
                  msg.detail, merged_id=msg.merged_id)


def _position(point: np.ndarray) -> tuple[float, float, float]:
    return float(point[0]), float(point[1]), float(point[2])


def evidence_to_msg(item: EvidenceItem) -> Evidence:
    return Evidence(memory=item.memory, item_id=item.item_id, text=item.text, score=float(item.score),
                    component_names=list(item.components), component_values=[float(v) for v in item.components.values()])


def evidence_from_msg(msg: Evidence) -> EvidenceItem:
    return EvidenceItem(msg.memory, msg.item_id, msg.text, float(msg.score),
                        dict(zip(msg.component_names, (float(v) for v in msg.component_values))))


def episode_to_msg(episode: EpisodeRecord) -> Episode:
    return Episode(id=episode.id, start=seconds_to_stamp(episode.start), end=seconds_to_stamp(episode.end),
                   place_id=episode.place_id, object_ids=list(episode.object_ids), task=episode.task,
                   outcome=episode.outcome, summary=episode.summary, event_count=episode.event_count)


def fact_to_msg(fact: FactRecord) -> Fact:
    return Fact(id=fact.id, subject=fact.subject, predicate=fact.predicate, object=fact.object,
                confidence=float(fact.confidence), source=", ".join(fact.sources), stamp=seconds_to_stamp(fact.stamp),
                superseded=fact.superseded, superseded_by=fact.superseded_by)


def observation_to_msg(observation: Observation):
    from memory_nodes.msg import ObjectObservation

    msg = ObjectObservation(label=observation.label, score=float(observation.score), state=observation.state,
                            source_id=observation.source_id, partial=bool(observation.partial))
    msg.pose = pose_to_msg(observation.pose)
    msg.extent = Vector3(x=float(observation.extent[0]), y=float(observation.extent[1]), z=float(observation.extent[2]))
    if observation.points is not None:
        msg.points = observation.points.astype(np.float32).reshape(-1).tolist()
    if observation.appearance is not None:
        msg.appearance = observation.appearance.astype(np.float32).tolist()
    return msg


def unplaced_to_msg(detection: ImageDetection):
    """A Detection2D of a detection that could not be placed: its box grown to whole pixels."""
    x0, y0, x1, y1 = detection.box
    return Detection2D(label=detection.label, score=float(detection.score), x_min=math.floor(x0), y_min=math.floor(y0),
                       x_max=math.ceil(x1), y_max=math.ceil(y1))


def frame_to_msg(observations: list[Observation], view: CameraView | None, stamp: float, frame_id: str = "map"):
    """An ObjectObservationArray of one frame (the inverse of ``frame_from_msg``)."""
    from memory_nodes.msg import ObjectObservationArray

    msg = ObjectObservationArray()
    msg.header.stamp = seconds_to_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.observations = [observation_to_msg(o) for o in observations]
    msg.view_valid = view is not None
    if view is not None:
        msg.camera_pose = pose_to_msg(view.pose)
        fx, fy, cx, cy = view.intrinsics
        msg.camera_info.width, msg.camera_info.height = int(view.width), int(view.height)
        msg.camera_info.k = [float(fx), 0.0, float(cx), 0.0, float(fy), float(cy), 0.0, 0.0, 1.0]
        msg.max_range = float(view.max_range)
        if view.depth is not None:
            depth = np.ascontiguousarray(view.depth, dtype="<f4")
            msg.depth.height, msg.depth.width = depth.shape
            msg.depth.encoding = "32FC1"
            msg.depth.step = depth.shape[1] * 4
            msg.depth.data = depth.tobytes()
        msg.unplaced = [unplaced_to_msg(detection) for detection in view.unplaced]
        if view.color is not None:
            color = np.ascontiguousarray(view.color, dtype=np.uint8)
            msg.color.height, msg.color.width = color.shape[:2]
            msg.color.encoding = "bgr8"
            msg.color.step = color.shape[1] * 3
            msg.color.data = color.tobytes()
    return msg


def scene_graph_to_markers(memory: SpatialMemory, header) -> MarkerArray:
    """RViz markers of the scene graph: a box and a label per object (present green, absent grey),
    a sphere per place, a line per on/in relation. Starts with DELETEALL so removed objects vanish."""
    markers = MarkerArray()
    clear = Marker(action=Marker.DELETEALL)
    clear.header = header
    markers.markers.append(clear)
    objects = memory.objects()
    index = {o.id: o for o in objects}
    for number, node in enumerate(objects):
        present = node.present
        box = Marker(ns="objects", id=number, type=Marker.CUBE, action=Marker.ADD)
        box.header = header
        box.pose = pose_to_msg(node.box.pose)
        box.scale = Vector3(x=max(float(node.box.extent[0]), 0.01), y=max(float(node.box.extent[1]), 0.01),
                            z=max(float(node.box.extent[2]), 0.01))
        box.color = ColorRGBA(r=0.1 if present else 0.5, g=0.8 if present else 0.5, b=0.2 if present else 0.5,
                              a=0.5)
        label = Marker(ns="labels", id=number, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, text=f"{node.label} ({node.id})")
        label.header = header
        label.pose.position = point_to_msg(node.position + np.array([0.0, 0.0, node.box.extent[2] / 2 + 0.1]))
        label.pose.orientation.w = 1.0
        label.scale.z = 0.1
        label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        markers.markers += [box, label]
    for number, place in enumerate(memory.places()):
        sphere = Marker(ns=place.layer + "s", id=number, type=Marker.SPHERE, action=Marker.ADD)
        sphere.header = header
        sphere.pose.position = point_to_msg(place.position)
        sphere.pose.orientation.w = 1.0
        size = 0.15 if place.layer is GraphLayer.PLACE else 0.4
        sphere.scale = Vector3(x=size, y=size, z=size)
        is_place = place.layer is GraphLayer.PLACE
        sphere.color = ColorRGBA(r=0.2, g=0.4, b=1.0, a=0.8) if is_place else ColorRGBA(r=1.0, g=0.6, b=0.0, a=0.6)
        markers.markers.append(sphere)
    lines = Marker(ns="relations", id=0, type=Marker.LINE_LIST, action=Marker.ADD)
    lines.header = header
    lines.pose.orientation.w = 1.0
    lines.scale.x = 0.01
    lines.color = ColorRGBA(r=1.0, g=1.0, b=0.0, a=1.0)
    for subject, predicate, obj, _ in memory.relations():
        if predicate in ("on", "in") and subject in index and obj in index:
            lines.points += [point_to_msg(index[subject].position), point_to_msg(index[obj].position)]
    if lines.points:
        markers.markers.append(lines)
    return markers


_IMAGE_LAYOUTS = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "rgba8": (np.uint8, 4), "bgra8": (np.uint8, 4),
                  "mono8": (np.uint8, 1), "16UC1": (np.uint16, 1), "mono16": (np.uint16, 1), "32FC1": (np.float32, 1)}


def image_to_array(msg) -> np.ndarray:
    """A sensor_msgs/Image as (H, W) or (H, W, C) numpy (row padding removed, byte order honoured).
    Colour images come back BGR, as OpenCV expects."""
    if msg.encoding not in _IMAGE_LAYOUTS:
        raise InvalidInputError(f"image encoding {msg.encoding!r} is not supported ({', '.join(_IMAGE_LAYOUTS)})")
    dtype, channels = _IMAGE_LAYOUTS[msg.encoding]
    dtype = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.height == 0 or msg.width == 0 or msg.step < row_bytes or len(msg.data) != msg.step * msg.height:
        raise InvalidInputError(f"{msg.width}x{msg.height} {msg.encoding} image with step {msg.step} cannot hold "
                                f"{len(msg.data)} bytes")
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)[:, :row_bytes]
    array = np.ascontiguousarray(rows).view(dtype).reshape(msg.height, msg.width, channels)
    if msg.encoding in ("rgb8", "rgba8"):
        array = array[:, :, 2::-1]
    elif msg.encoding == "bgra8":
        array = array[:, :, :3]
    return np.ascontiguousarray(array[:, :, 0] if channels == 1 else array).astype(dtype.newbyteorder("="))


def array_to_image(array: np.ndarray, encoding: str, stamp: float = 0.0, frame_id: str = ""):
    """The inverse of ``image_to_array`` for bgr8, 16UC1, 32FC1 and mono8 arrays."""
    from sensor_msgs.msg import Image

    array = np.ascontiguousarray(array)
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=False)
    msg.header.stamp, msg.header.frame_id = seconds_to_stamp(stamp), frame_id
    msg.step = array.shape[1] * array.itemsize * (array.shape[2] if array.ndim == 3 else 1)
    msg.data = array.astype(array.dtype.newbyteorder("<")).tobytes()
    return msg
