"""The scene graph's vocabulary: enums of status, layer, change and relation kinds, and the typed
records of observations, objects, places and changes. Positions in ``map`` (metres), stamps in
seconds of message time."""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from memory_nodes.core.changes import ChangeKind as ChangeKind  # re-exported: spatial changes use these kinds
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.geometry import OrientedBox, Pose, aabb_of, vector_length
from memory_nodes.core.retention import Retention

MAX_OBJECT_SIZE_M = 1000.0  # a box side beyond this is not an object (a building is not remembered as one)
POINT_SLACK_M = 1.0  # how far an observation's points may lie outside its box (loose boxes, depth noise)

# The label of objects found from geometry alone (no detector); a fragment of anything may be one.
UNKNOWN_LABEL = "unknown_object"


class ObjectStatus(StrEnum):
    """Whether an object is believed to be where it was last seen."""

    PRESENT = "present"
    ABSENT = "absent"
    # A newer sighting of a thing like it was made elsewhere while its own place was out of view:
    # it may have moved there (``ObjectNode.moved_to``). The two count as one until either place
    # is seen again: seen here, it is PRESENT again; its place seen empty, it moved.
    MAYBE_MOVED = "maybe_moved"


class GraphLayer(StrEnum):
    """The layers of the scene graph (Hydra): objects are at places, places are part of rooms."""

    OBJECT = "object"
    PLACE = "place"
    ROOM = "room"


class RelationKind(StrEnum):
    """Geometric relations between objects, strongest first."""

    ON = "on"
    IN = "in"
    NEXT_TO = "next_to"
    NEAR = "near"


RELATION_KINDS: tuple[RelationKind, ...] = tuple(RelationKind)
# A relation that wins over its reverse: a mug on a table is "on" it, the table not "next_to" the mug.
SUPPORT_KINDS = frozenset({RELATION_KINDS.index(RelationKind.ON), RELATION_KINDS.index(RelationKind.IN)})

Vector = np.ndarray  # (3,) float64, metres in map


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
    partial: bool = False  # cut by the image border: the box is the part in view
    # (pose, extent, axis-aligned bounds, size), kept while the pose and extent are these objects.
    _measures: tuple[Pose, np.ndarray, tuple[np.ndarray, np.ndarray], float] | None = field(
        default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.label = self.label.strip().lower()
        if not self.label:
            raise InvalidInputError("observation label is empty")
        if not (math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise InvalidInputError(f"observation score must be in [0, 1], got {self.score}")
        self.extent = np.asarray(self.extent, dtype=np.float64).reshape(3)
        if not np.isfinite(self.extent).all() or (self.extent < 0).any():
            raise InvalidInputError(f"observation extent must be finite and >= 0, got {self.extent.tolist()}")
        if float(self.extent.max(initial=0.0)) > MAX_OBJECT_SIZE_M:
            raise InvalidInputError(f"observation extent {self.extent.tolist()} exceeds {MAX_OBJECT_SIZE_M} m: "
                                    "not an object")
        if self.points is not None:
            points = np.asarray(self.points, dtype=np.float32)
            if points.size == 0:
                self.points = None
            else:
                if points.ndim != 2 or points.shape[1] != 3:
                    raise InvalidInputError(f"points must be (N, 3), got {points.shape}")
                # The object's points lie in or near its box: non-finite ones and those far outside
                # (depth outliers the box fit trimmed, or garbage that would overflow the voxel
                # grid) are not the object and are dropped.
                reach = float(np.linalg.norm(self.extent)) / 2.0 + POINT_SLACK_M
                offsets = points.astype(np.float64) - self.pose.position
                # A non-finite coordinate makes the squared distance NaN or infinite, and so outside.
                inside = np.einsum("ij,ij->i", offsets, offsets) <= reach * reach
                self.points = points[inside] if inside.any() else None
        if self.appearance is not None:
            appearance = np.asarray(self.appearance, dtype=np.float32).reshape(-1)
            norm = float(np.linalg.norm(appearance)) if np.all(np.isfinite(appearance)) else 0.0
            self.appearance = appearance / norm if appearance.size and norm > 1e-9 else None

    def box(self) -> OrientedBox:
        return OrientedBox(self.pose, self.extent)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min (3,), max (3,)) of the axis-aligned box around ``box()``."""
        return self._measured()[2]

    @property
    def size(self) -> float:
        """The diagonal of the box (the norm of ``extent``), metres."""
        return self._measured()[3]

    def _measured(self) -> tuple[Pose, np.ndarray, tuple[np.ndarray, np.ndarray], float]:
        cached = self._measures
        if cached is None or cached[0] is not self.pose or cached[1] is not self.extent:
            size = vector_length(self.extent)
            cached = self._measures = (self.pose, self.extent, aabb_of(self.pose, self.extent), size)
        return cached


@dataclass
class ChangeRecord:
    """A change noticed by the spatial memory; positions in ``map``, stamp in seconds: when it
    happened as far as the memory can tell, which for ``MOVED`` is the first sighting at the new
    place or, when it came first, the view that found the old place empty (it had left by then).
    ``merged_id`` is the id that a ``MERGED`` change folded into ``object_id`` ("" otherwise)."""

    kind: ChangeKind
    object_id: str
    label: str
    stamp: float
    from_position: np.ndarray
    to_position: np.ndarray
    detail: str = ""
    merged_id: str = ""


@dataclass
class RecentSighting:
    """One of an object's latest observations, kept to notice two objects under one id (split)."""

    stamp: float
    position: np.ndarray
    appearance: np.ndarray | None


@dataclass
class LostSighting:
    """An unconfirmed object dropped because a view showed its place changed (the depth looked
    through it, other colours stood there, another thing took its place), not merely because the
    detector missed it: a real thing seen once and moved before a second look leaves this, a ghost
    on a wall or table top rarely does. A look-alike first seen elsewhere after it takes its
    evidence (``FramePipeline.carry_lost_sighting``), so one detection at each place of a moved
    object counts as the two sightings that confirm it."""

    label: str
    position: np.ndarray
    appearance: np.ndarray | None
    size: float  # box diagonal, as ``ObjectNode.size``
    evidence: float
    observation_count: int
    last_seen: float
    sighting_stamps: tuple[float, ...]  # of its detections: one frame's two detections are two things


@dataclass
class ObjectNode:
    """An object of the scene graph; ``box`` in ``map``; stamps in seconds."""

    id: str
    label_counts: Counter[str]
    box: OrientedBox
    points: np.ndarray
    appearance: np.ndarray | None
    first_seen: float
    last_seen: float
    observation_count: int
    existence_log_odds: float
    retention: Retention
    status: ObjectStatus = ObjectStatus.PRESENT
    state: str = ""
    place_id: str = ""
    # Unconfirmed: one detection is not yet an object (detectors report ghosts). A tentative object
    # is associated and fused like any other but not counted, queried or published; it is confirmed
    # once its summed detection scores (``evidence``) reach ``confirm_evidence``.
    tentative: bool = False
    evidence: float = 0.0
    # First seen where the camera had looked before (see ``observed_space``): it was put or moved
    # there, so it may be a remembered object that moved; otherwise it was merely discovered.
    appeared: bool = False
    moved_to: str = ""  # with MAYBE_MOVED: the id of the newer sighting elsewhere
    partial: bool = False  # seen only cut by the image border so far: its extent is a part's
    travelled_at_last_seen: float = 0.0  # the robot's odometer (PlaceLayer.travelled) at its latest sighting
    # When negative evidence last marked it ABSENT: it had left its place by then, however much later
    # it is found elsewhere (a move's time lies between ``last_seen`` and this).
    marked_absent_at: float | None = None
    label_tiebreak: str = ""  # of labels tied in votes, the one this object takes (see spatial/labels.py)
    recent: deque[RecentSighting] = field(default_factory=lambda: deque(maxlen=32))
    _measures: tuple[OrientedBox, tuple[np.ndarray, np.ndarray], float] | None = field(default=None, repr=False,
                                                                                       compare=False)

    @property
    def label(self) -> str:
        """The most frequent label; of equally frequent ones ``label_tiebreak`` when it is one of
        them, else the first seen (as ``most_common``)."""
        counts = self.label_counts
        best = max(counts, key=counts.__getitem__)
        tiebreak = self.label_tiebreak
        if tiebreak and tiebreak != best and counts.get(tiebreak, 0) == counts[best]:
            return tiebreak
        return best

    @property
    def label_confidence(self) -> float:
        return self.label_counts[self.label] / max(1, sum(self.label_counts.values()))

    @property
    def position(self) -> np.ndarray:
        return self.box.center

    @property
    def present(self) -> bool:
        return self.status is ObjectStatus.PRESENT

    @property
    def gone(self) -> bool:
        """Marked absent: not where it was last seen."""
        return self.status is ObjectStatus.ABSENT

    @property
    def counted(self) -> bool:
        """Present and confirmed: what counts and where-is questions report as being there."""
        return self.status is ObjectStatus.PRESENT and not self.tentative

    def left_by(self, now: float) -> float:
        """The latest time it can have left its place, for a move noticed at ``now``: when it was
        found gone there, if it is marked absent."""
        if self.status is ObjectStatus.ABSENT and self.marked_absent_at is not None:
            return min(now, self.marked_absent_at)
        return now

    @property
    def confidence(self) -> float:
        """Existence probability in [0, 1] from the log-odds."""
        return 1.0 / (1.0 + math.exp(-self.existence_log_odds))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min (3,), max (3,)) of the axis-aligned box around ``box``, cached until the box changes."""
        return self._measured()[1]

    @property
    def size(self) -> float:
        """The diagonal of ``box`` (the norm of its extent), metres."""
        return self._measured()[2]

    def _measured(self) -> tuple[OrientedBox, tuple[np.ndarray, np.ndarray], float]:
        if self._measures is None or self._measures[0] is not self.box:
            self._measures = (self.box, self.box.axis_aligned_bounds(), vector_length(self.box.extent))
        return self._measures


@dataclass
class PlaceNode:
    """A place (a node of the robot's trajectory) or a room; ``position`` in ``map``, metres."""

    id: str
    layer: GraphLayer
    position: np.ndarray
    name: str = ""
    parent_id: str = ""


@dataclass
class FrameResult:
    """What one ``integrate`` call did: ids of matched/created objects per observation (in order)
    and the changes it noticed."""

    object_ids: list[str]
    changes: list[ChangeRecord]


def cosine(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Cosine of two unit descriptors, or None when either is missing or they differ in size."""
    if a is None or b is None or a.shape != b.shape:
        return None
    return float(np.clip(np.dot(a, b), -1.0, 1.0))
