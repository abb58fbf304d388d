"""Spatial memory: a layered 3D scene graph (objects, places, rooms) kept in ``map`` (REP-105).

Each camera frame brings object observations. They are associated with the graph's objects by a
score that combines geometric overlap, distance gated by object size, label agreement and
appearance similarity (Hungarian assignment over the frame). Unmatched observations are checked
against objects that have just gone missing before a new node is made, so a moved object keeps
its id (re-identification). Objects the camera should see but does not lose existence confidence
(negative evidence) and are eventually marked absent. Duplicates discovered later are merged and
nodes whose recent observations form two simultaneous clusters are split.

Layers (Hydra): objects -> places (built from the robot trajectory) -> rooms (given polygons, or
clusters of places). Relations on/in/near/next_to come from geometry with thresholds from the
configuration. No rclpy here; times are message stamps in seconds.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment

from .errors import InvalidInputError, UnknownItemError
from .geometry import CameraView, OrientedBox, Pose, aabb_containment, aabb_iou, gravity_aligned_box
from .point_clouds import downsample
from .retention import Retention, RetentionPolicy
from .text_embedding import TextEncoder, label_similarity

PRESENT = "present"
ABSENT = "absent"
# The label of objects found from geometry alone (no detector); a fragment of anything may be one.
UNKNOWN_LABEL = "unknown_object"
RELATION_KINDS = ("on", "in", "next_to", "near")
_SUPPORT_KINDS = (RELATION_KINDS.index("on"), RELATION_KINDS.index("in"))  # a relation that wins over its reverse


@dataclass(frozen=True)
class SpatialConfig:
    """Thresholds of the scene graph. Distances in metres, times in seconds."""

    voxel_size: float = 0.02
    max_points_per_object: int = 1500
    association_distance: float = 0.6
    min_association_score: float = 0.45
    weight_geometry: float = 0.45
    weight_label: float = 0.35
    weight_appearance: float = 0.20
    move_threshold: float = 0.25
    reid_min_appearance: float = 0.75
    reid_max_age_s: float = 3600.0
    existence_hit: float = 0.85
    existence_miss: float = 0.8
    existence_max: float = 3.0
    absent_log_odds: float = -1.0
    occlusion_margin: float = 0.1
    border_px: float = 10.0
    merge_iou: float = 0.5
    fragment_containment: float = 0.6
    split_min_separation: float = 1.0
    split_window: int = 12
    place_spacing: float = 1.5
    room_cluster_distance: float = 4.0
    rooms: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = ()
    near_distance: float = 1.0
    next_to_distance: float = 0.3
    on_tolerance: float = 0.06
    in_fraction: float = 0.8
    capacity: int = 5000
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)

    def __post_init__(self) -> None:
        from .errors import ConfigError

        positive = (
            "voxel_size", "association_distance", "move_threshold", "existence_hit", "existence_miss",
            "place_spacing", "room_cluster_distance", "near_distance", "split_min_separation",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"spatial {name} must be > 0, got {getattr(self, name)}")
        for name in ("min_association_score", "reid_min_appearance", "merge_iou", "fragment_containment", "in_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"spatial {name} must be in [0, 1], got {getattr(self, name)}")
        if self.capacity < 1 or self.max_points_per_object < 1 or self.split_window < 4:
            raise ConfigError("spatial capacity and max_points_per_object must be >= 1, split_window >= 4")
        for name, polygon in self.rooms:
            if len(polygon) < 3:
                raise ConfigError(f"room {name!r} needs a polygon of at least 3 vertices")


@dataclass
class Observation:
    """One detected object in one frame. ``pose``/``points`` are in ``map`` (metres); ``extent``
    is the full box size; ``appearance`` a descriptor compared by cosine (e.g. colour histogram)."""

    label: str
    pose: Pose
    extent: np.ndarray
    score: float = 1.0
    points: np.ndarray | None = None
    appearance: np.ndarray | None = None
    state: str = ""
    source_id: str = ""

    def __post_init__(self) -> None:
        self.label = self.label.strip().lower()
        if not self.label:
            raise InvalidInputError("observation label is empty")
        if not (math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise InvalidInputError(f"observation score must be in [0, 1], got {self.score}")
        self.extent = np.asarray(self.extent, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(self.extent)) or np.any(self.extent < 0):
            raise InvalidInputError(f"observation extent must be finite and >= 0, got {self.extent.tolist()}")
        if self.points is not None:
            points = np.asarray(self.points, dtype=np.float32)
            if points.size == 0:
                self.points = None
            else:
                if points.ndim != 2 or points.shape[1] != 3:
                    raise InvalidInputError(f"points must be (N, 3), got {points.shape}")
                finite = np.all(np.isfinite(points), axis=1)
                self.points = points[finite] if finite.any() else None
        if self.appearance is not None:
            appearance = np.asarray(self.appearance, dtype=np.float32).reshape(-1)
            norm = float(np.linalg.norm(appearance)) if np.all(np.isfinite(appearance)) else 0.0
            self.appearance = appearance / norm if appearance.size and norm > 1e-9 else None

    def box(self) -> OrientedBox:
        return OrientedBox(self.pose, self.extent)


@dataclass
class ChangeRecord:
    """A change noticed by the spatial memory; positions in ``map``, stamp in seconds."""

    kind: str  # appeared, moved, disappeared, reappeared, state_changed, merged, split
    object_id: str
    label: str
    stamp: float
    from_position: np.ndarray
    to_position: np.ndarray
    detail: str = ""


@dataclass
class ObjectNode:
    """An object of the scene graph; ``box`` in ``map``; stamps in seconds."""

    id: str
    label_counts: Counter
    box: OrientedBox
    points: np.ndarray
    appearance: np.ndarray | None
    first_seen: float
    last_seen: float
    observation_count: int
    existence_log_odds: float
    retention: Retention
    status: str = PRESENT
    state: str = ""
    place_id: str = ""
    recent: deque = field(default_factory=lambda: deque(maxlen=32))  # (stamp, centre, appearance)

    @property
    def label(self) -> str:
        return self.label_counts.most_common(1)[0][0]

    @property
    def label_confidence(self) -> float:
        return self.label_counts.most_common(1)[0][1] / max(1, sum(self.label_counts.values()))

    @property
    def position(self) -> np.ndarray:
        return self.box.center

    @property
    def confidence(self) -> float:
        """Existence probability in [0, 1] from the log-odds."""
        return 1.0 / (1.0 + math.exp(-self.existence_log_odds))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min (3,), max (3,)) of the axis-aligned box around ``box``, cached until the box changes."""
        cached = self.__dict__.get("_bounds")
        if cached is None or cached[0] is not self.box:
            cached = (self.box, self.box.axis_aligned_bounds())
            self.__dict__["_bounds"] = cached
        return cached[1]


@dataclass
class PlaceNode:
    """A place (a node of the robot's trajectory) or a room; ``position`` in ``map``, metres."""

    id: str
    layer: str  # "place" or "room"
    position: np.ndarray
    name: str = ""
    parent_id: str = ""


@dataclass
class FrameResult:
    """What one ``integrate`` call did: ids of matched/created objects per observation (in order)
    and the changes it noticed."""

    object_ids: list[str]
    changes: list[ChangeRecord]


def _cosine(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None or a.shape != b.shape:
        return None
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


def _append_row(array: np.ndarray, count: int, row: np.ndarray) -> np.ndarray:
    """``array`` (grown by doubling when full) with ``row`` as its row ``count - 1``."""
    if count > len(array):
        grown = np.zeros((max(16, 2 * len(array)), array.shape[1]))
        grown[: count - 1] = array[: count - 1]
        array = grown
    array[count - 1] = row
    return array


def _nearest(order: list[str], xy: np.ndarray, position: np.ndarray) -> tuple[str | None, float]:
    """The id in ``order`` whose row of ``xy`` is nearest ``position`` (horizontally), and the distance."""
    if not order:
        return None, math.inf
    offsets = xy[: len(order)] - position[:2]
    distances = np.sqrt(np.einsum("ij,ij->i", offsets, offsets))
    index = int(np.argmin(distances))
    return order[index], float(distances[index])


def relation_kinds(min_a: np.ndarray, max_a: np.ndarray, centre_a: np.ndarray, min_b: np.ndarray,
                   max_b: np.ndarray, centre_b: np.ndarray, config: SpatialConfig) -> np.ndarray:
    """The strongest geometric relation of each box a to its box b, as an index into
    RELATION_KINDS or -1 for none. Boxes are axis-aligned ((..., 3) min and max corners, ``map``)
    with their centres; leading axes broadcast, so one object is tested against many at once."""
    inside_footprint = np.all((min_b[..., :2] <= centre_a[..., :2]) & (centre_a[..., :2] <= max_b[..., :2]), axis=-1)
    on = inside_footprint & (np.abs(min_a[..., 2] - max_b[..., 2]) <= config.on_tolerance)
    volume_a = np.prod(np.clip(max_a - min_a, 0.0, None), axis=-1)
    volume_b = np.prod(np.clip(max_b - min_b, 0.0, None), axis=-1)
    inside = (aabb_containment(min_a, max_a, min_b, max_b) >= config.in_fraction) & (volume_a < volume_b)
    gap = np.clip(np.maximum(min_a, min_b) - np.minimum(max_a, max_b), 0.0, None)
    next_to = (np.hypot(gap[..., 0], gap[..., 1]) <= config.next_to_distance) & (gap[..., 2] <= config.on_tolerance)
    near = np.linalg.norm(centre_a - centre_b, axis=-1) <= config.near_distance
    return np.select([on, inside, next_to, near], [0, 1, 2, 3], default=-1)


def _point_in_polygon(x: float, y: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


class _ObjectIndex:
    """A horizontal grid hash of object centres and the objects of each label, so association,
    merging, relations and queries look at neighbours and namesakes, not at every object."""

    def __init__(self, cell_size: float = 1.0) -> None:
        self.cell_size = cell_size
        self.cells: dict[tuple[int, int], set[str]] = {}
        self.cell_of: dict[str, tuple[int, int]] = {}
        self.by_label: dict[str, set[str]] = {}
        self.label_of: dict[str, str] = {}

    def _cell(self, position: np.ndarray) -> tuple[int, int]:
        return int(math.floor(position[0] / self.cell_size)), int(math.floor(position[1] / self.cell_size))

    @staticmethod
    def _file(buckets: dict, key_of: dict[str, Any], object_id: str, key: Any) -> None:
        """Move ``object_id`` into bucket ``key`` (out of its old one); ``key`` None removes it."""
        old = key_of.pop(object_id, None)
        if old is not None:
            buckets[old].discard(object_id)
        if key is not None:
            buckets.setdefault(key, set()).add(object_id)
            key_of[object_id] = key

    def update(self, node: ObjectNode) -> None:
        self._file(self.cells, self.cell_of, node.id, self._cell(node.position))
        self._file(self.by_label, self.label_of, node.id, node.label)

    def remove(self, object_id: str) -> None:
        self._file(self.cells, self.cell_of, object_id, None)
        self._file(self.by_label, self.label_of, object_id, None)

    def near(self, position: np.ndarray, radius: float) -> set[str]:
        """Ids of objects whose centre may lie within ``radius`` (horizontally) of ``position``."""
        span = 2.0 * radius / self.cell_size + 1.0
        found: set[str] = set()
        if not math.isfinite(span) or span * span > len(self.cells):
            # A huge radius would visit more cells than are occupied: scan the occupied ones.
            (px, py), reach = np.asarray(position)[:2], radius + self.cell_size
            for (i, j), ids in self.cells.items():
                cx, cy = (i + 0.5) * self.cell_size, (j + 0.5) * self.cell_size
                if abs(cx - px) <= reach and abs(cy - py) <= reach:
                    found |= ids
            return found
        low = self._cell(np.asarray(position) - radius)
        high = self._cell(np.asarray(position) + radius)
        for i in range(low[0], high[0] + 1):
            for j in range(low[1], high[1] + 1):
                found |= self.cells.get((i, j), set())
        return found

    def with_label(self, label: str) -> set[str]:
        return self.by_label.get(label, set())

    def labels(self) -> list[str]:
        return [label for label, ids in self.by_label.items() if ids]


class SpatialMemory:
    """The scene graph. All public methods are thread-safe (one re-entrant lock)."""

    def __init__(self, config: SpatialConfig | None = None, text_encoder: TextEncoder | None = None) -> None:
        self.config = config or SpatialConfig()
        self._encoder = text_encoder
        self._lock = threading.RLock()
        self.graph = nx.MultiDiGraph()
        self._objects: dict[str, ObjectNode] = {}
        self._index = _ObjectIndex()
        self._places: dict[str, PlaceNode] = {}
        self._place_order: list[str] = []
        self._place_xy = np.zeros((0, 2))
        self._room_order: list[str] = []  # rooms clustered from places: centres kept for nearest queries
        self._room_xy = np.zeros((0, 2))
        self._room_row: dict[str, int] = {}  # room id -> its row of _room_xy
        self._room_size: Counter = Counter()  # room id -> places in it
        self._ids = itertools.count(1)
        self._place_ids = itertools.count(1)
        self._last_place_id = ""
        self._robot_room = ""
        self._latest_stamp = 0.0
        self.evicted_summary: Counter = Counter()  # label -> objects dropped at the capacity bound
        self.counters: Counter = Counter()
        for name, polygon in self.config.rooms:
            centre = np.array([np.mean([p[0] for p in polygon]), np.mean([p[1] for p in polygon]), 0.0])
            self._add_place(PlaceNode(f"room-{name}", "room", centre, name=name))

    # ----------------------------------------------------------------- ingestion
    def integrate(
        self,
        observations: list[Observation],
        stamp: float,
        view: CameraView | None = None,
        robot_position: np.ndarray | None = None,
    ) -> FrameResult:
        """Fuse one frame's ``observations`` taken at ``stamp`` (seconds). ``view`` (optional) is
        the camera that produced them and gives negative evidence; ``robot_position`` (``map``,
        metres) extends the place layer."""
        if not math.isfinite(stamp):
            raise InvalidInputError(f"stamp must be finite, got {stamp}")
        with self._lock:
            self._latest_stamp = max(self._latest_stamp, stamp)
            changes: list[ChangeRecord] = []
            if robot_position is not None:
                changes += self.observe_robot(robot_position, stamp)[1]
            assignment = self._associate(observations)
            ids: list[str | None] = [None] * len(observations)
            matched: set[str] = set()
            for obs_index, node in assignment.items():
                changes += self._update(node, observations[obs_index], stamp)
                ids[obs_index] = node.id
                matched.add(node.id)
            if view is not None:
                changes += self._negative_evidence(view, stamp, exclude=matched)
                matched |= {c.object_id for c in changes if c.kind == "disappeared"}
            matched_nodes = {node.id: node for node in assignment.values()}
            for obs_index, obs in enumerate(observations):
                if ids[obs_index] is not None:
                    continue
                whole = self._fragment_of(obs, matched_nodes)
                if whole is not None:
                    self._absorb(whole, obs, stamp, fuse_geometry=True)
                    self.counters["fragments_absorbed"] += 1
                    ids[obs_index] = whole.id
                    continue
                node = self._reidentify(obs, stamp, exclude=matched)
                if node is not None:
                    changes += self._relocate(node, obs, stamp, reason="re-identified")
                else:
                    node = self._create(obs, stamp)
                    changes.append(ChangeRecord("appeared", node.id, node.label, stamp, np.zeros(3), node.position.copy()))
                ids[obs_index] = node.id
                matched.add(node.id)
            changes += self._merge_duplicates(matched, stamp)
            changes += self._split_inconsistent(matched, stamp)
            touched = {i for i in ids if i in self._objects} | {c.object_id for c in changes if c.object_id in self._objects}
            for object_id in touched:
                self._attach_to_place(self._objects[object_id])
            self._update_relations(touched)
            self._enforce_capacity()
            self.counters["frames"] += 1
            self.counters["observations"] += len(observations)
            return FrameResult([i for i in ids if i is not None], changes)

    def observe_robot(self, position: np.ndarray, stamp: float) -> tuple[str, list[ChangeRecord]]:
        """Extend the place layer with the robot at ``position`` (``map``, metres) at ``stamp``
        (seconds). Returns the id of the place the robot is at (a new one if no place lies within
        ``place_spacing``) and an "entered_room" change when its room changed."""
        position = np.asarray(position, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(position)):
            raise InvalidInputError(f"robot position contains NaN or infinity: {position.tolist()}")
        with self._lock:
            self._latest_stamp = max(self._latest_stamp, stamp)
            place_id, distance = self._nearest_place(position)
            if place_id is None or distance > self.config.place_spacing:
                place_id = f"place-{next(self._place_ids)}"
                self._add_place(PlaceNode(place_id, "place", np.array([position[0], position[1], 0.0])))
                self._assign_room(place_id)
            if self._last_place_id and self._last_place_id != place_id and self._last_place_id in self._places:
                if not self.graph.has_edge(self._last_place_id, place_id, key="adjacent"):
                    self.graph.add_edge(self._last_place_id, place_id, key="adjacent", confidence=1.0)
                    self.graph.add_edge(place_id, self._last_place_id, key="adjacent", confidence=1.0)
            self._last_place_id = place_id
            changes = []
            room_id = self.room_of(place_id)
            if room_id and room_id != self._robot_room:
                changes.append(ChangeRecord("entered_room", room_id, "robot", stamp, position.copy(), position.copy(),
                                            f"robot entered {room_id} from {self._robot_room or 'nowhere known'}"))
                self._robot_room = room_id
            return place_id, changes

    @property
    def robot_room(self) -> str:
        """The room the robot was last in ("" if unknown)."""
        return self._robot_room

    # ----------------------------------------------------------------- association
    def _association_scores(self, obs: Observation, obs_bounds: tuple[np.ndarray, np.ndarray], node: ObjectNode,
                            distance: float, gate: float) -> dict[str, float] | None:
        """Score components of pairing ``obs`` with ``node`` (centres ``distance`` apart, inside
        the size-scaled ``gate``), or None when a move is implausible."""
        min_a, max_a = obs_bounds
        min_b, max_b = node.bounds()
        appearance = _cosine(obs.appearance, node.appearance)
        if self._is_move(obs, node) and (appearance is None or appearance < self.config.reid_min_appearance
                                         or obs.label == UNKNOWN_LABEL):
            # A move must look like the object that moved, or it is another object nearby; an
            # unlabelled segment is not evidence enough that the thing in view moved.
            return None
        geometry = 0.5 * aabb_iou(min_a, max_a, min_b, max_b) + 0.5 * (1.0 - distance / gate)
        label = node.label_counts.get(obs.label, 0) / max(1, sum(node.label_counts.values()))
        appearance = 0.5 if appearance is None else max(0.0, appearance)
        return {"geometry": geometry, "label": label, "appearance": appearance}

    def _combined(self, components: dict[str, float]) -> float:
        c = self.config
        return c.weight_geometry * components["geometry"] + c.weight_label * components["label"] + (
            c.weight_appearance * components["appearance"]
        )

    def _associate(self, observations: list[Observation]) -> dict[int, ObjectNode]:
        """Observation index -> present object: the assignment maximising the summed score
        (Hungarian) among pairs inside the gate and above ``min_association_score``."""
        if not observations:
            return {}
        candidates: list[set[str]] = []
        for obs in observations:
            reach = max(self.config.association_distance, float(np.linalg.norm(obs.extent)) + 2.0)
            candidates.append({i for i in self._index.near(obs.pose.position, reach)
                               if self._objects[i].status == PRESENT or self._at_its_place(obs, self._objects[i])})
        ids = sorted(set().union(*candidates))
        if not ids:
            return {}
        column = {object_id: j for j, object_id in enumerate(ids)}
        infeasible = -1e6
        score = np.full((len(observations), len(ids)), infeasible)
        for i, obs in enumerate(observations):
            nodes = [self._objects[object_id] for object_id in sorted(candidates[i])]
            if not nodes:
                continue
            distances = np.linalg.norm(np.array([node.position for node in nodes]) - obs.pose.position, axis=1)
            sizes = np.maximum(np.linalg.norm(obs.extent), np.linalg.norm([node.box.extent for node in nodes], axis=1))
            gates = np.maximum(self.config.association_distance, 0.5 * sizes)
            obs_bounds = obs.box().axis_aligned_bounds()
            for k in np.flatnonzero(distances <= gates):
                object_id = nodes[k].id
                components = self._association_scores(obs, obs_bounds, nodes[k], float(distances[k]), float(gates[k]))
                if components is not None:
                    value = self._combined(components)
                    if value >= self.config.min_association_score:
                        score[i, column[object_id]] = value
        rows, cols = linear_sum_assignment(-score)
        return {int(i): self._objects[ids[j]] for i, j in zip(rows, cols) if score[i, j] > infeasible}

    def _at_its_place(self, obs: Observation, node: ObjectNode) -> bool:
        """``obs`` is centred within ``move_threshold`` of where ``node`` was last seen: an absent
        object seen there again came back into view (it was occluded or missed), it is not new."""
        return float(np.linalg.norm(obs.pose.position - node.position)) <= self.config.move_threshold

    def _fragment_of(self, obs: Observation, matched: dict[str, ObjectNode]) -> ObjectNode | None:
        """The object matched in this frame whose box holds most of ``obs``'s box, when one holds at
        least ``fragment_containment`` of it: a segmentation that split one object in two this
        frame, not a second object (same label, or either unlabelled)."""
        low, high = obs.box().axis_aligned_bounds()
        best, best_fraction = None, self.config.fragment_containment
        for node in matched.values():
            if node.label != obs.label and UNKNOWN_LABEL not in (node.label, obs.label):
                continue
            fraction = aabb_containment(low, high, *node.bounds())
            if fraction >= best_fraction:
                best, best_fraction = node, fraction
        return best

    def _reidentify(self, obs: Observation, stamp: float, exclude: set[str]) -> ObjectNode | None:
        """The object ``obs`` most likely is after a move: same label, similar appearance, and no
        longer at its old place (absent, or just missed by the camera)."""
        best, best_similarity = None, self.config.reid_min_appearance
        for object_id in sorted(self._index.with_label(obs.label)):
            node = self._objects[object_id]
            if node.id in exclude:
                continue
            if stamp - node.last_seen > self.config.reid_max_age_s:
                continue
            gone = node.status == ABSENT or node.existence_log_odds < 0.0
            similarity = _cosine(obs.appearance, node.appearance)
            if not gone or similarity is None:
                continue
            if similarity >= best_similarity:
                best, best_similarity = node, similarity
        return best

    # ----------------------------------------------------------------- node updates
    def _create(self, obs: Observation, stamp: float) -> ObjectNode:
        node_id = f"obj-{next(self._ids)}"
        node = ObjectNode(
            id=node_id,
            label_counts=Counter({obs.label: 1}),
            box=obs.box(),
            points=self._downsample(obs.points),
            appearance=obs.appearance,
            first_seen=stamp,
            last_seen=stamp,
            observation_count=1,
            existence_log_odds=self.config.existence_hit,
            retention=Retention.new(self.config.retention, stamp),
            state=obs.state,
        )
        node.recent.append((stamp, obs.pose.position.copy(), obs.appearance))
        self._objects[node_id] = node
        self._index.update(node)
        self.graph.add_node(node_id, layer="object")
        self.counters["objects_created"] += 1
        return node

    def _downsample(self, points: np.ndarray | None) -> np.ndarray:
        if points is None:
            return np.zeros((0, 3), np.float32)
        return downsample(points, self.config.voxel_size, self.config.max_points_per_object)

    def _is_move(self, obs: Observation, node: ObjectNode) -> bool:
        """``obs`` of ``node`` would move it: centred farther than ``move_threshold`` from it and
        outside its box (a partial view of a large object is centred elsewhere in its box)."""
        if self._at_its_place(obs, node):
            return False
        low, high = node.bounds()
        return not bool(np.all(obs.pose.position >= low) and np.all(obs.pose.position <= high))

    def _update(self, node: ObjectNode, obs: Observation, stamp: float) -> list[ChangeRecord]:
        if self._is_move(obs, node):
            return self._relocate(node, obs, stamp, reason="tracked")
        changes: list[ChangeRecord] = []
        if node.status == ABSENT:
            node.status = PRESENT
            self.counters["objects_reappeared"] += 1
            changes.append(ChangeRecord("reappeared", node.id, node.label, stamp, node.position.copy(),
                                        node.position.copy(), "seen again where it was"))
        self._absorb(node, obs, stamp, fuse_geometry=True)
        if obs.state and node.state and obs.state != node.state:
            changes.append(
                ChangeRecord("state_changed", node.id, node.label, stamp, node.position.copy(), node.position.copy(),
                             f"{node.state} -> {obs.state}")
            )
        if obs.state:
            node.state = obs.state
        return changes

    def _absorb(self, node: ObjectNode, obs: Observation, stamp: float, fuse_geometry: bool) -> None:
        c = self.config
        node.label_counts[obs.label] += 1
        node.observation_count += 1
        node.last_seen = max(node.last_seen, stamp)
        node.existence_log_odds = min(c.existence_max, max(node.existence_log_odds, 0.0) + c.existence_hit)
        node.retention.reinforce(c.retention, stamp)
        if obs.appearance is not None:
            if node.appearance is None or node.appearance.shape != obs.appearance.shape:
                node.appearance = obs.appearance
            else:
                mixed = 0.8 * node.appearance + 0.2 * obs.appearance
                node.appearance = mixed / max(float(np.linalg.norm(mixed)), 1e-9)
        node.recent.append((stamp, obs.pose.position.copy(), obs.appearance))
        if fuse_geometry and obs.points is not None and len(node.points):
            # Both clouds are clean already (the node's since creation, the observation's from
            # perception): fusing only needs the voxel grid, not the outlier filter's neighbour search.
            merged = downsample(np.vstack([node.points, obs.points]), self.config.voxel_size,
                                self.config.max_points_per_object, remove_outliers=False)
            node.points = merged
            node.box = gravity_aligned_box(merged) if len(merged) >= 4 else obs.box()
        elif fuse_geometry:
            weight = 1.0 / min(node.observation_count, 10)
            centre = (1 - weight) * node.position + weight * obs.pose.position
            extent = (1 - weight) * node.box.extent + weight * obs.extent
            node.box = OrientedBox(Pose(centre, obs.pose.orientation), extent)
            if obs.points is not None:
                node.points = self._downsample(obs.points)
        else:
            node.box = obs.box()
            node.points = self._downsample(obs.points)
        self._index.update(node)

    def _relocate(self, node: ObjectNode, obs: Observation, stamp: float, reason: str) -> list[ChangeRecord]:
        """``node`` is now where ``obs`` is: a move (its geometry is replaced, not fused)."""
        old_position, old_place = node.position.copy(), node.place_id
        was_absent = node.status == ABSENT
        node.status = PRESENT
        self._absorb(node, obs, stamp, fuse_geometry=False)
        if obs.state:
            node.state = obs.state
        distance = float(np.linalg.norm(node.position - old_position))
        self._attach_to_place(node)
        kind = "moved" if distance > self.config.move_threshold else "reappeared"
        if not was_absent and kind == "reappeared":
            return []
        detail = f"{reason}; {kind} {distance:.2f} m"
        if old_place or node.place_id:
            detail += f" from {old_place or '?'} to {node.place_id or '?'}"
        self.counters[f"objects_{kind}"] += 1
        return [ChangeRecord(kind, node.id, node.label, stamp, old_position, node.position.copy(), detail)]

    def _negative_evidence(self, view: CameraView, stamp: float, exclude: set[str]) -> list[ChangeRecord]:
        changes: list[ChangeRecord] = []
        for object_id in sorted(self._index.near(view.pose.position, view.max_range)):
            node = self._objects[object_id]
            if node.status != PRESENT or node.id in exclude or node.last_seen >= stamp:
                continue
            samples = node.box.corners() * 0.5 + node.position * 0.5  # shrunken box: not its silhouette edge
            samples = np.vstack([node.position[None, :], samples])
            if view.expected_visible(samples, self.config.occlusion_margin, self.config.border_px).mean() < 0.5:
                continue
            node.existence_log_odds -= self.config.existence_miss
            self.counters["negative_evidence"] += 1
            if node.existence_log_odds <= self.config.absent_log_odds:
                node.status = ABSENT
                self.counters["objects_disappeared"] += 1
                changes.append(
                    ChangeRecord("disappeared", node.id, node.label, stamp, node.position.copy(), node.position.copy(),
                                 f"expected in view but not detected; last seen at t={node.last_seen:.2f}")
                )
                self._drop_relations(node.id)
        return changes

    def _merge_duplicates(self, touched: set[str], stamp: float) -> list[ChangeRecord]:
        """Two present nodes with the same label that overlap are one object seen twice (the older id
        survives); an absent node and a present twin (same label, similar appearance) that first
        appeared after the absent one was last seen are one object that moved (the absent, older
        id survives and the move is reported)."""
        changes: list[ChangeRecord] = []
        for object_id in sorted(touched):
            node = self._objects.get(object_id)
            if node is None:
                continue
            namesakes = self._index.with_label(node.label)
            if node.status == PRESENT:  # overlapping twins are neighbours; absent twins may be anywhere
                reach = float(np.linalg.norm(node.box.extent)) + 1.0
                nearby = self._index.near(node.position, reach) & namesakes
                absent = {i for i in namesakes if self._objects[i].status == ABSENT}
                namesakes = nearby | absent
            for other_id in sorted(namesakes):
                other = self._objects.get(other_id)
                if other is None or other.id == node.id or node.id not in self._objects:
                    continue
                if node.status == PRESENT and other.status == PRESENT:
                    min_a, max_a = node.bounds()
                    min_b, max_b = other.bounds()
                    if aabb_iou(min_a, max_a, min_b, max_b) < self.config.merge_iou:
                        continue
                    keep, drop = (other, node) if other.first_seen <= node.first_seen else (node, other)
                    changes += self._merge(keep, drop, stamp, "duplicate: overlapping nodes with the same label")
                elif (node.status == ABSENT) != (other.status == ABSENT):
                    absent, present = (node, other) if node.status == ABSENT else (other, node)
                    similarity = _cosine(absent.appearance, present.appearance)
                    if similarity is None or similarity < self.config.reid_min_appearance:
                        continue
                    if present.first_seen < absent.last_seen:
                        continue  # both existed at once: two objects
                    changes += self._merge(absent, present, stamp, "duplicate: absent object re-found elsewhere")
                if node.id not in self._objects:
                    break
        return changes

    def _merge(self, keep: ObjectNode, drop: ObjectNode, stamp: float, detail: str) -> list[ChangeRecord]:
        old_position = keep.position.copy()
        moved = keep.status == ABSENT and float(np.linalg.norm(drop.position - keep.position)) > self.config.move_threshold
        keep.label_counts.update(drop.label_counts)
        keep.observation_count += drop.observation_count
        keep.first_seen = min(keep.first_seen, drop.first_seen)
        if drop.last_seen >= keep.last_seen or keep.status == ABSENT:
            keep.box, keep.points, keep.status = drop.box, drop.points, drop.status
            keep.state = drop.state or keep.state
            keep.existence_log_odds = max(keep.existence_log_odds, drop.existence_log_odds)
        keep.last_seen = max(keep.last_seen, drop.last_seen)
        keep.recent.extend(drop.recent)
        keep.recent = deque(sorted(keep.recent, key=lambda r: r[0]), maxlen=keep.recent.maxlen)
        self._remove_object(drop.id)
        self._index.update(keep)
        self.counters["objects_merged"] += 1
        changes = [ChangeRecord("merged", keep.id, keep.label, stamp, drop.position.copy(), keep.position.copy(),
                                f"{drop.id} merged into {keep.id} ({detail})")]
        if moved:
            changes.append(ChangeRecord("moved", keep.id, keep.label, stamp, old_position, keep.position.copy(),
                                        f"re-identified after merge; moved {np.linalg.norm(keep.position - old_position):.2f} m"))
        return changes

    def _split_inconsistent(self, touched: set[str], stamp: float) -> list[ChangeRecord]:
        """A node whose recent observations alternate between two distant clusters is two objects."""
        changes: list[ChangeRecord] = []
        window = self.config.split_window
        for object_id in list(touched):
            node = self._objects.get(object_id)
            if node is None or len(node.recent) < window:
                continue
            recent = list(node.recent)[-window:]
            centres = np.array([r[1] for r in recent])
            # 2-means seeded with the two farthest-apart centres
            distances = np.linalg.norm(centres[:, None] - centres[None], axis=2)
            a, b = np.unravel_index(int(np.argmax(distances)), distances.shape)
            if distances[a, b] < self.config.split_min_separation:
                continue
            seeds = centres[[a, b]]
            for _ in range(5):
                assign = np.argmin(np.linalg.norm(centres[:, None] - seeds[None], axis=2), axis=1)
                if assign.min() == assign.max():
                    break
                seeds = np.array([centres[assign == k].mean(axis=0) for k in (0, 1)])
            sizes = np.bincount(assign, minlength=2)
            if sizes.min() < window // 4 or np.linalg.norm(seeds[0] - seeds[1]) < self.config.split_min_separation:
                continue
            switches = int(np.count_nonzero(np.diff(assign)))
            if switches < 3:  # one switch is a move; many alternations mean two objects
                continue
            current = int(np.argmin(np.linalg.norm(seeds - node.position, axis=1)))
            other = 1 - current
            members = [r for r, k in zip(recent, assign) if k == other]
            new_obs = Observation(node.label, Pose(seeds[other]), node.box.extent, appearance=members[-1][2])
            twin = self._create(new_obs, members[-1][0])
            twin.first_seen = members[0][0]
            twin.observation_count = len(members)
            twin.label_counts = Counter({node.label: len(members)})
            twin.recent = deque(members, maxlen=node.recent.maxlen)
            node.recent = deque([r for r, k in zip(recent, assign) if k == current], maxlen=node.recent.maxlen)
            node.observation_count = max(1, node.observation_count - len(members))
            self._index.update(twin)
            self.counters["objects_split"] += 1
            changes.append(ChangeRecord("split", twin.id, twin.label, stamp, node.position.copy(), twin.position.copy(),
                                        f"{node.id} held two objects {np.linalg.norm(seeds[0] - seeds[1]):.2f} m apart"))
        return changes

    # ----------------------------------------------------------------- places, rooms, relations
    def _add_place(self, place: PlaceNode) -> None:
        self._places[place.id] = place
        self.graph.add_node(place.id, layer=place.layer)
        # Append-only arrays of the centres serve nearest queries without a scan in Python.
        if place.layer == "place":
            self._place_order.append(place.id)
            self._place_xy = _append_row(self._place_xy, len(self._place_order), place.position[:2])
        else:
            self._room_row[place.id] = len(self._room_order)
            self._room_order.append(place.id)
            self._room_xy = _append_row(self._room_xy, len(self._room_order), place.position[:2])
        if place.parent_id:
            self._room_size[place.parent_id] += 1

    def _nearest_place(self, position: np.ndarray) -> tuple[str | None, float]:
        return _nearest(self._place_order, self._place_xy, position)

    def _assign_room(self, place_id: str) -> None:
        place = self._places[place_id]
        for name, polygon in self.config.rooms:
            if _point_in_polygon(float(place.position[0]), float(place.position[1]), polygon):
                self._set_parent(place, f"room-{name}")
                return
        if self.config.rooms:
            return
        # No room polygons: rooms are clusters of places (leader clustering on the room centres).
        room_id, distance = _nearest(self._room_order, self._room_xy, place.position)
        if room_id is None or distance > self.config.room_cluster_distance:
            room_id = f"room-{len(self._room_order) + 1}"
            self._add_place(PlaceNode(room_id, "room", place.position.copy()))
        room = self._places[room_id]
        self._set_parent(place, room_id)
        room.position = room.position + (place.position - room.position) / self._room_size[room_id]  # mean of members
        self._room_xy[self._room_row[room_id]] = room.position[:2]

    def _set_parent(self, place: PlaceNode, room_id: str) -> None:
        place.parent_id = room_id
        self._room_size[room_id] += 1
        self.graph.add_edge(place.id, room_id, key="part_of", confidence=1.0)

    def _attach_to_place(self, node: ObjectNode) -> None:
        place_id, distance = self._nearest_place(node.position)
        if place_id is None or distance > 2.0 * self.config.place_spacing:
            # Objects seen far from the robot's path get a place of their own (not on the path).
            place_id = f"place-{next(self._place_ids)}"
            self._add_place(PlaceNode(place_id, "place", np.array([node.position[0], node.position[1], 0.0])))
            self._assign_room(place_id)
        if node.place_id and self.graph.has_edge(node.id, node.place_id, key="at"):
            self.graph.remove_edge(node.id, node.place_id, key="at")
        node.place_id = place_id
        self.graph.add_edge(node.id, place_id, key="at", confidence=1.0)

    def room_of(self, place_id: str) -> str:
        place = self._places.get(place_id)
        return place.parent_id if place is not None else ""

    def _drop_relations(self, object_id: str) -> None:
        for u, v, key in list(self.graph.out_edges(object_id, keys=True)) + list(self.graph.in_edges(object_id, keys=True)):
            if key in RELATION_KINDS:
                self.graph.remove_edge(u, v, key=key)

    def _update_relations(self, object_ids: set[str]) -> None:
        """Recompute the relations of ``object_ids`` with every present neighbour, each pair once,
        all pairs in both directions in one vectorised test."""
        updated = sorted(object_id for object_id in object_ids if object_id in self._objects)
        for object_id in updated:
            self._drop_relations(object_id)
        done: set[str] = set()  # a pair of two updated objects is handled from its first side
        pairs: list[tuple[ObjectNode, ObjectNode]] = []
        for object_id in updated:
            node = self._objects[object_id]
            if node.status != PRESENT:
                continue
            done.add(object_id)
            size = float(np.linalg.norm(node.box.extent))
            reach = self.config.near_distance + size + 2.0
            others = [self._objects[other_id] for other_id in sorted(self._index.near(node.position, reach))
                      if other_id not in done and self._objects[other_id].status == PRESENT]
            if not others:
                continue
            # Beyond this, no relation can hold: "near" needs the centres, the others the boxes, close.
            limit = self.config.near_distance + 0.5 * (size + np.linalg.norm([other.box.extent for other in others], axis=1))
            offsets = np.array([other.position for other in others]) - node.position
            pairs += [(node, others[k]) for k in np.flatnonzero((offsets * offsets).sum(axis=1) <= limit * limit)]
        if not pairs:
            return
        mins, maxs = (np.array(corners) for corners in zip(*(node.bounds() for pair in pairs for node in pair)))
        centres = np.array([node.position for pair in pairs for node in pair])
        # Rows 2k and 2k + 1 are the two objects of pair k; test a to b and b to a together.
        order = np.arange(len(centres)).reshape(-1, 2)
        first, second = np.concatenate([order[:, 0], order[:, 1]]), np.concatenate([order[:, 1], order[:, 0]])
        kinds = relation_kinds(mins[first], maxs[first], centres[first], mins[second], maxs[second], centres[second],
                               self.config).reshape(2, -1).T.tolist()
        for (node, other), (ahead, back) in zip(pairs, kinds):
            # A mug on a table is "on" it; the table is not also "next_to" the mug.
            if ahead in _SUPPORT_KINDS and back not in _SUPPORT_KINDS:
                back = -1
            elif back in _SUPPORT_KINDS and ahead not in _SUPPORT_KINDS:
                ahead = -1
            confidence = min(node.confidence, other.confidence)
            if ahead >= 0:
                self.graph.add_edge(node.id, other.id, key=RELATION_KINDS[ahead], confidence=confidence)
            if back >= 0:
                self.graph.add_edge(other.id, node.id, key=RELATION_KINDS[back], confidence=confidence)

    # ----------------------------------------------------------------- bounds
    def _remove_object(self, object_id: str) -> None:
        self._objects.pop(object_id, None)
        self._index.remove(object_id)
        if self.graph.has_node(object_id):
            self.graph.remove_node(object_id)

    def _enforce_capacity(self) -> None:
        excess = len(self._objects) - self.config.capacity
        if excess <= 0:
            return
        now = self._latest_stamp
        for node in heapq.nsmallest(excess, self._objects.values(), key=lambda o: o.retention.value(now) * o.confidence):
            self.evicted_summary[node.label] += 1
            self._remove_object(node.id)
            self.counters["objects_evicted"] += 1

    def forget(self, ids: list[str] | None = None, older_than_s: float = 0.0,
               center: np.ndarray | None = None, radius: float = 0.0) -> list[str]:
        """Drop objects by id, by age (last seen more than ``older_than_s`` seconds before the newest
        stamp) or inside a sphere (``center`` in ``map``, ``radius`` metres); returns the dropped ids."""
        with self._lock:
            chosen: set[str] = set()
            for object_id in ids or []:
                if object_id not in self._objects:
                    raise UnknownItemError(f"no object {object_id!r}")
                chosen.add(object_id)
            for node in self._objects.values():
                if older_than_s > 0 and self._latest_stamp - node.last_seen > older_than_s:
                    chosen.add(node.id)
                if center is not None and radius > 0 and np.linalg.norm(node.position - center) <= radius:
                    chosen.add(node.id)
            for object_id in chosen:
                self.evicted_summary[self._objects[object_id].label] += 1
                self._remove_object(object_id)
            return sorted(chosen)

    def reset(self) -> None:
        with self._lock:
            self.__init__(self.config, self._encoder)  # type: ignore[misc]

    # ----------------------------------------------------------------- snapshots
    def snapshot(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able state, arrays) of the whole scene graph, for ``SnapshotStore``."""
        with self._lock:
            objects, clouds = [], []
            for node in self._objects.values():
                objects.append({
                    "id": node.id, "label_counts": dict(node.label_counts),
                    "position": node.box.pose.position.tolist(), "orientation": node.box.pose.orientation.tolist(),
                    "extent": node.box.extent.tolist(),
                    "appearance": None if node.appearance is None else node.appearance.tolist(),
                    "first_seen": node.first_seen, "last_seen": node.last_seen,
                    "observation_count": node.observation_count, "existence_log_odds": node.existence_log_odds,
                    "retention": [node.retention.strength_s, node.retention.reinforced_at],
                    "status": node.status, "state": node.state, "place_id": node.place_id,
                    "recent": [[r[0], *np.asarray(r[1]).tolist()] for r in node.recent],
                })
                clouds.append(np.asarray(node.points, dtype=np.float32).reshape(-1, 3))
            places = [{"id": p.id, "layer": p.layer, "position": p.position.tolist(), "name": p.name,
                       "parent_id": p.parent_id} for p in self._places.values()]
            edges = [[u, v, k, float(d.get("confidence", 1.0))] for u, v, k, d in self.graph.edges(keys=True, data=True)]
            state = {
                "objects": objects, "places": places, "edges": edges,
                "next_object": int(next(self._ids)), "next_place": int(next(self._place_ids)),
                "last_place_id": self._last_place_id, "robot_room": self._robot_room,
                "latest_stamp": self._latest_stamp, "evicted_summary": dict(self.evicted_summary),
            }
            # next() consumed one id each: restore the counters so snapshotting changes nothing
            self._ids = itertools.count(state["next_object"])
            self._place_ids = itertools.count(state["next_place"])
            counts = np.array([len(c) for c in clouds], dtype=np.int64)
            points = np.vstack(clouds) if clouds else np.zeros((0, 3), np.float32)
            return state, {"points": points, "point_counts": counts}

    def restore(self, state: dict, arrays: dict[str, np.ndarray]) -> None:
        """Replace the scene graph with a ``snapshot``."""
        with self._lock:
            self.reset()
            self._objects.clear()
            self._index = _ObjectIndex()
            self._places.clear()
            self._place_order, self._place_xy = [], np.zeros((0, 2))
            self._room_order, self._room_xy, self._room_row, self._room_size = [], np.zeros((0, 2)), {}, Counter()
            self.graph = nx.MultiDiGraph()
            offsets = np.concatenate([[0], np.cumsum(arrays["point_counts"])]).astype(int)
            for index, item in enumerate(state["objects"]):
                node = ObjectNode(
                    id=item["id"], label_counts=Counter(item["label_counts"]),
                    box=OrientedBox(Pose(np.array(item["position"]), np.array(item["orientation"])),
                                    np.array(item["extent"])),
                    points=arrays["points"][offsets[index]:offsets[index + 1]].astype(np.float32),
                    appearance=None if item["appearance"] is None else np.array(item["appearance"], dtype=np.float32),
                    first_seen=item["first_seen"], last_seen=item["last_seen"],
                    observation_count=item["observation_count"], existence_log_odds=item["existence_log_odds"],
                    retention=Retention(*item["retention"]), status=item["status"], state=item["state"],
                    place_id=item["place_id"],
                )
                node.recent.extend((r[0], np.array(r[1:4]), node.appearance) for r in item["recent"])
                self._objects[node.id] = node
                self._index.update(node)
                self.graph.add_node(node.id, layer="object")
            for item in state["places"]:
                self._add_place(PlaceNode(item["id"], item["layer"], np.array(item["position"]), item["name"],
                                          item["parent_id"]))
            for u, v, key, confidence in state["edges"]:
                self.graph.add_edge(u, v, key=key, confidence=confidence)
            self._ids = itertools.count(state["next_object"])
            self._place_ids = itertools.count(state["next_place"])
            self._last_place_id = state["last_place_id"]
            self._robot_room = state["robot_room"]
            self._latest_stamp = state["latest_stamp"]
            self.evicted_summary = Counter(state["evicted_summary"])

    # ----------------------------------------------------------------- queries
    @property
    def latest_stamp(self) -> float:
        return self._latest_stamp

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._objects

    def get(self, object_id: str) -> ObjectNode:
        with self._lock:
            try:
                return self._objects[object_id]
            except KeyError:
                raise UnknownItemError(f"no object {object_id!r}") from None

    def objects(self) -> list[ObjectNode]:
        with self._lock:
            return list(self._objects.values())

    def places(self) -> list[PlaceNode]:
        with self._lock:
            return list(self._places.values())

    def relations(self, object_ids: set[str] | None = None) -> list[tuple[str, str, str, float]]:
        """(subject, predicate, object, confidence) of every edge touching ``object_ids`` (all if None)."""
        with self._lock:
            edges = []
            for u, v, key, data in self.graph.edges(keys=True, data=True):
                if object_ids is None or u in object_ids or v in object_ids:
                    edges.append((u, key, v, float(data.get("confidence", 1.0))))
            return edges

    def _resolve_region(self, place_id: str) -> set[str]:
        if place_id not in self._places:
            raise UnknownItemError(f"no place or room {place_id!r}")
        if self._places[place_id].layer == "room":
            return {p.id for p in self._places.values() if p.parent_id == place_id}
        return {place_id}

    def label_similarity(self, text: str, labels: list[str]) -> np.ndarray:
        """Similarity in [0, 1] of free ``text`` to each label (see ``text_embedding.label_similarity``)."""
        return label_similarity(self._encoder, text, labels)

    def query_objects(self, label: str = "", text: str = "", center: np.ndarray | None = None, radius: float = 0.0,
                      place_id: str = "", start: float = -math.inf, end: float = math.inf,
                      include_absent: bool = False, limit: int = 20) -> list[tuple[ObjectNode, float]]:
        """Objects matching every given filter, best first with a score in [0, 1]: label (exact),
        free ``text`` (sentence similarity to the label), sphere (``center`` in ``map``, ``radius``
        metres), place or room id, known during [``start``, ``end``] seconds (first seen before the
        end, last seen after the start)."""
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        if radius < 0 or not math.isfinite(radius):
            raise InvalidInputError(f"radius must be finite and >= 0, got {radius}")
        with self._lock:
            places = self._resolve_region(place_id) if place_id else None
            label = label.strip().lower()
            if label:
                pool = [self._objects[i] for i in sorted(self._index.with_label(label))]
            elif center is not None and radius > 0:
                pool = [self._objects[i] for i in sorted(self._index.near(center, radius))]
            else:
                pool = list(self._objects.values())
            candidates = [
                o for o in pool
                if (include_absent or o.status == PRESENT)
                and (not label or o.label == label)
                and (center is None or radius == 0 or np.linalg.norm(o.position - center) <= radius)
                and (places is None or o.place_id in places)
                and o.first_seen <= end and o.last_seen >= start
            ]
            if not candidates:
                return []
            scores = np.array([o.confidence for o in candidates])
            if text:
                similarity = self.label_similarity(text, [o.label for o in candidates])
                scores = scores * similarity
                keep = similarity >= 0.35
                candidates = [o for o, k in zip(candidates, keep) if k]
                scores = scores[keep]
            order = np.argsort(-scores, kind="stable")[:limit]
            now = self._latest_stamp
            for index in order:
                candidates[index].retention.reinforce(self.config.retention, now)
            return [(candidates[i], float(scores[i])) for i in order]

    def where_is(self, query: str, limit: int = 5) -> list[tuple[ObjectNode, float, dict[str, float]]]:
        """Where objects matching ``query`` (a label or free text) were last seen, best first, with
        the score and its components (label match, existence confidence, recency, retention)."""
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        if not query.strip():
            raise InvalidInputError("where_is needs a non-empty query")
        with self._lock:
            labels = self._index.labels()
            if not labels:
                return []
            label_match = dict(zip(labels, self.label_similarity(query, labels).tolist()))
            objects = [self._objects[i] for label, score in label_match.items() if score >= 0.35
                       for i in sorted(self._index.with_label(label))]
            match = [label_match[o.label] for o in objects]
            now = self._latest_stamp
            results = []
            for node, label_match in zip(objects, match):
                if label_match < 0.35:
                    continue
                components = {
                    "label_match": float(label_match),
                    "existence": node.confidence if node.status == PRESENT else 0.5 * node.confidence,
                    "recency": math.exp(-max(0.0, now - node.last_seen) / 3600.0),
                    "retention": node.retention.value(now),
                }
                score = components["label_match"] * (0.6 * components["existence"] + 0.25 * components["recency"]
                                                     + 0.15 * components["retention"])
                results.append((node, score, components))
            results.sort(key=lambda r: -r[1])
            for node, _, _ in results[:limit]:
                node.retention.reinforce(self.config.retention, now)
            return results[:limit]

    def describe(self, node: ObjectNode) -> str:
        """One sentence about ``node`` for planners."""
        where = node.place_id or "an unknown place"
        room = self.room_of(node.place_id)
        if room:
            where += f" in {room}"
        x, y, z = node.position
        verb = "is" if node.status == PRESENT else "was last seen"
        relations = [f"{k} {v}" for _, v, k in self.graph.out_edges(node.id, keys=True) if k in ("on", "in")]
        extra = f", {relations[0]}" if relations else ""
        state = f" ({node.state})" if node.state else ""
        return f"{node.label} {node.id}{state} {verb} at ({x:.2f}, {y:.2f}, {z:.2f}) m near {where}{extra}"

    def subgraph(self, root_id: str = "", depth: int = 1) -> nx.MultiDiGraph:
        """The whole graph, or the nodes within ``depth`` hops (either direction) of ``root_id``."""
        with self._lock:
            if not root_id:
                return self.graph.copy()
            if root_id not in self.graph:
                raise UnknownItemError(f"no node {root_id!r} in the scene graph")
            if depth < 0:
                raise InvalidInputError(f"depth must be >= 0, got {depth}")
            nodes = nx.single_source_shortest_path_length(self.graph.to_undirected(as_view=True), root_id, cutoff=depth)
            return self.graph.subgraph(nodes).copy()
