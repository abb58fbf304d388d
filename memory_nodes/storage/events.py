"""The journal's events: one typed record per change a memory can undergo, each with its one
encoding (JSON payload plus numpy arrays) and decoding, and the memory call that applies it.

A node applies a change to its memory and journals the record (``Journal.record``); a restart
decodes the records after the latest snapshot and applies them again, in order, through the same
memory methods, so the rebuilt memory equals the lost one (ids included). ``EVENTS`` lists which
records each memory's journal accepts, by the name stored in the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from memory_nodes.core.changes import Change, ChangeKind
from memory_nodes.core.episodic import EpisodicMemory, Event
from memory_nodes.core.geometry import CameraView, ImageDetection, Pose
from memory_nodes.core.semantic import SemanticMemory
from memory_nodes.core.spatial import Observation, SpatialMemory
from memory_nodes.core.temporal import TemporalMemory

Payload = dict[str, Any]
Arrays = dict[str, np.ndarray]


class JournalEvent:
    """Base of every journal record: ``name`` is how the log names it."""

    name: ClassVar[str]

    def encode(self) -> tuple[Payload, Arrays]:
        raise NotImplementedError

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> JournalEvent:
        raise NotImplementedError

    def apply(self, memory: Any) -> None:
        raise NotImplementedError


def _encode_change(change: Change) -> Payload:
    return {"stamp": change.stamp, "kind": change.kind.value, "entity": change.entity, "label": change.label,
            "from": list(change.from_position), "to": list(change.to_position), "detail": change.detail,
            "merged_id": change.merged_id}


def _decode_change(payload: Payload) -> Change:
    merged_id = payload.get("merged_id", "")
    if not merged_id and payload["kind"] == ChangeKind.MERGED:
        merged_id = payload["detail"].split(" ", 1)[0]  # journals written before merged_id was a field
    return Change(payload["stamp"], payload["kind"], payload["entity"], payload["label"], tuple(payload["from"]),
                  tuple(payload["to"]), payload["detail"], merged_id=merged_id)


# ----------------------------------------------------------------- spatial
@dataclass(frozen=True)
class FrameIntegrated(JournalEvent):
    """A camera frame's observations, the camera view and the robot's floor position."""

    name: ClassVar[str] = "frame"
    observations: list[Observation]
    stamp: float
    view: CameraView | None
    robot: np.ndarray | None

    def encode(self) -> tuple[Payload, Arrays]:
        arrays: Arrays = {}
        items = []
        for i, o in enumerate(self.observations):
            items.append({"label": o.label, "score": o.score, "position": o.pose.position.tolist(),
                          "orientation": o.pose.orientation.tolist(), "extent": o.extent.tolist(), "state": o.state,
                          "source_id": o.source_id, "partial": o.partial})
            if o.points is not None:
                arrays[f"points_{i}"] = o.points
            if o.appearance is not None:
                arrays[f"appearance_{i}"] = o.appearance
        payload: Payload = {"stamp": self.stamp, "observations": items,
                            "robot": None if self.robot is None else np.asarray(self.robot).tolist(), "view": None}
        view = self.view
        if view is not None:
            payload["view"] = {"position": view.pose.position.tolist(), "orientation": view.pose.orientation.tolist(),
                               "intrinsics": list(view.intrinsics), "width": view.width, "height": view.height,
                               "max_range": view.max_range,
                               "unplaced": [[d.label, d.score, list(d.box)] for d in view.unplaced]}
            if view.depth is not None:
                arrays["depth"] = view.depth
            if view.color is not None:
                arrays["color"] = view.color
        return payload, arrays

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> FrameIntegrated:
        observations = [
            Observation(o["label"], Pose(np.array(o["position"]), np.array(o["orientation"])), np.array(o["extent"]),
                        o["score"], arrays.get(f"points_{i}"), arrays.get(f"appearance_{i}"), o["state"],
                        o["source_id"], bool(o.get("partial", False)))
            for i, o in enumerate(payload["observations"])
        ]
        view = None
        if payload["view"] is not None:
            v = payload["view"]
            view = CameraView(Pose(np.array(v["position"]), np.array(v["orientation"])), tuple(v["intrinsics"]),
                              v["width"], v["height"], v["max_range"], arrays.get("depth"),
                              arrays.get("color"),
                              tuple(ImageDetection(label, score, tuple(box)) for label, score, box in v.get("unplaced", [])))
        robot = None if payload["robot"] is None else np.array(payload["robot"])
        return cls(observations, payload["stamp"], view, robot)

    def apply(self, memory: SpatialMemory) -> None:
        memory.integrate(self.observations, self.stamp, self.view, self.robot)


@dataclass(frozen=True)
class RobotMoved(JournalEvent):
    """The robot's position (``map``, metres) at ``stamp``: extends the place layer."""

    name: ClassVar[str] = "robot"
    position: np.ndarray
    stamp: float

    def encode(self) -> tuple[Payload, Arrays]:
        return {"position": np.asarray(self.position).tolist(), "stamp": self.stamp}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> RobotMoved:
        return cls(np.array(payload["position"]), payload["stamp"])

    def apply(self, memory: SpatialMemory) -> None:
        memory.observe_robot(self.position, self.stamp)


@dataclass(frozen=True)
class ObjectsForgotten(JournalEvent):
    """Objects dropped by a forget request (the ids it resolved to)."""

    name: ClassVar[str] = "forget"
    ids: list[str]

    def encode(self) -> tuple[Payload, Arrays]:
        return {"ids": list(self.ids), "older_than_s": 0.0, "center": None, "radius": 0.0}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> ObjectsForgotten:
        return cls(list(payload["ids"]))

    def apply(self, memory: SpatialMemory) -> None:
        memory.forget(self.ids)


# ----------------------------------------------------------------- temporal
@dataclass(frozen=True)
class ObservationsAdded(JournalEvent):
    """(N,) stamps of (N,) entities at (N, 3) positions (``map``), with their labels."""

    name: ClassVar[str] = "observations"
    stamps: np.ndarray
    entities: list[str]
    positions: np.ndarray
    labels: list[str]

    def encode(self) -> tuple[Payload, Arrays]:
        return {"entities": list(self.entities), "labels": list(self.labels)}, {"stamps": self.stamps,
                                                                               "positions": self.positions}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> ObservationsAdded:
        return cls(arrays["stamps"], list(payload["entities"]), arrays["positions"], list(payload["labels"]))

    def apply(self, memory: TemporalMemory) -> None:
        memory.add_observations(self.stamps, self.entities, self.positions, self.labels)


@dataclass(frozen=True)
class ChangeRecorded(JournalEvent):
    """A change stored by the temporal memory (a merge also folds the merged entity's history)."""

    name: ClassVar[str] = "change"
    change: Change

    def encode(self) -> tuple[Payload, Arrays]:
        return _encode_change(self.change), {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> ChangeRecorded:
        return cls(_decode_change(payload))

    def apply(self, memory: TemporalMemory) -> None:
        memory.add_change(self.change)


@dataclass(frozen=True)
class EntitiesMerged(JournalEvent):
    """``drop`` was ``keep``. Written by journals before merges travelled inside the change; read
    so that those journals still replay."""

    name: ClassVar[str] = "merge"
    keep: str
    drop: str

    def encode(self) -> tuple[Payload, Arrays]:
        return {"keep": self.keep, "drop": self.drop}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> EntitiesMerged:
        return cls(payload["keep"], payload["drop"])

    def apply(self, memory: TemporalMemory | SemanticMemory) -> None:
        memory.merge_entities(self.keep, self.drop)


@dataclass(frozen=True)
class EntitiesForgotten(JournalEvent):
    """Entities whose rows, summaries and changes a forget request dropped."""

    name: ClassVar[str] = "forget"
    entities: list[str]

    def encode(self) -> tuple[Payload, Arrays]:
        return {"entities": list(self.entities)}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> EntitiesForgotten:
        return cls(list(payload["entities"]))

    def apply(self, memory: TemporalMemory) -> None:
        memory.forget(self.entities)


# ----------------------------------------------------------------- episodic
@dataclass(frozen=True)
class EventAdded(JournalEvent):
    """A planner's event (task started, succeeded, failed, note) with the robot's room then."""

    name: ClassVar[str] = "event"
    event: Event
    room: str

    def encode(self) -> tuple[Payload, Arrays]:
        e = self.event
        return {"kind": e.kind, "stamp": e.stamp, "text": e.text, "task": e.task, "place_id": e.place_id,
                "object_ids": list(e.object_ids), "room": self.room}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> EventAdded:
        event = Event(payload["kind"], payload["stamp"], payload["text"], payload["task"], payload["place_id"],
                      tuple(payload["object_ids"]))
        return cls(event, payload["room"])

    def apply(self, memory: EpisodicMemory) -> None:
        # A fresh Event: add_event gives it its id, as it did the first time.
        e = self.event
        memory.add_event(Event(e.kind, e.stamp, e.text, e.task, e.place_id, e.object_ids), room_id=self.room)


@dataclass(frozen=True)
class ChangeNarrated(JournalEvent):
    """A change of the world told to the episodic memory (the robot's room included)."""

    name: ClassVar[str] = "change"
    change: Change

    def encode(self) -> tuple[Payload, Arrays]:
        return _encode_change(self.change), {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> ChangeNarrated:
        return cls(_decode_change(payload))

    def apply(self, memory: EpisodicMemory) -> None:
        memory.note_change(self.change)


@dataclass(frozen=True)
class EpisodesForgotten(JournalEvent):
    """Episodes dropped by a forget request (the ids it resolved to)."""

    name: ClassVar[str] = "forget"
    ids: list[str]

    def encode(self) -> tuple[Payload, Arrays]:
        return {"ids": list(self.ids), "older_than_s": 0.0}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> EpisodesForgotten:
        return cls(list(payload["ids"]))

    def apply(self, memory: EpisodicMemory) -> None:
        memory.forget(self.ids)


# ----------------------------------------------------------------- semantic
@dataclass(frozen=True)
class FactAdded(JournalEvent):
    """A fact asserted by a planner, by perception or by consolidation."""

    name: ClassVar[str] = "fact"
    subject: str
    predicate: str
    object: str
    confidence: float
    source: str
    stamp: float

    def encode(self) -> tuple[Payload, Arrays]:
        return {"subject": self.subject, "predicate": self.predicate, "object": self.object,
                "confidence": self.confidence, "source": self.source, "stamp": self.stamp}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> FactAdded:
        return cls(payload["subject"], payload["predicate"], payload["object"], payload["confidence"],
                   payload["source"], payload["stamp"])

    def apply(self, memory: SemanticMemory) -> None:
        memory.add_fact(self.subject, self.predicate, self.object, self.confidence, self.source, self.stamp)


@dataclass(frozen=True)
class ObjectsObserved(JournalEvent):
    """(object id, label, room id) of the objects a scene-graph update showed at ``stamp``."""

    name: ClassVar[str] = "observe"
    stamp: float
    objects: list[tuple[str, str, str]]

    def encode(self) -> tuple[Payload, Arrays]:
        return {"stamp": self.stamp, "objects": [list(o) for o in self.objects]}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> ObjectsObserved:
        return cls(payload["stamp"], [(o[0], o[1], o[2]) for o in payload["objects"]])

    def apply(self, memory: SemanticMemory) -> None:
        for object_id, label, room in self.objects:
            memory.observe_object(object_id, label, room, self.stamp)


@dataclass(frozen=True)
class ChangeNoted(JournalEvent):
    """A change told to the semantic memory: a merge, or an entry of the consolidation buffer."""

    name: ClassVar[str] = "change"
    change: Change

    def encode(self) -> tuple[Payload, Arrays]:
        return _encode_change(self.change), {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> ChangeNoted:
        return cls(_decode_change(payload))

    def apply(self, memory: SemanticMemory) -> None:
        memory.note_change(self.change)


@dataclass(frozen=True)
class FactsForgotten(JournalEvent):
    """Facts dropped by a forget request."""

    name: ClassVar[str] = "forget"
    ids: list[str]

    def encode(self) -> tuple[Payload, Arrays]:
        return {"ids": list(self.ids)}, {}

    @classmethod
    def decode(cls, payload: Payload, arrays: Arrays) -> FactsForgotten:
        return cls(list(payload["ids"]))

    def apply(self, memory: SemanticMemory) -> None:
        memory.forget(self.ids)


EVENTS: dict[str, dict[str, type[JournalEvent]]] = {
    "spatial": {e.name: e for e in (FrameIntegrated, RobotMoved, ObjectsForgotten)},
    "temporal": {e.name: e for e in (ObservationsAdded, ChangeRecorded, EntitiesMerged, EntitiesForgotten)},
    "episodic": {e.name: e for e in (EventAdded, ChangeNarrated, EpisodesForgotten)},
    "semantic": {e.name: e for e in (FactAdded, ObjectsObserved, ChangeNoted, EntitiesMerged, FactsForgotten)},
}
