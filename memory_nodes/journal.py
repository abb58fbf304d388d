"""Event-sourced memories: every change to a memory is an event in its ``EventStore``.

A node applies a change to its memory, then records it here (``record``); on start, ``restore``
loads the latest snapshot and replays the events after it through ``REPLAY``, which calls the same
memory methods with the same arguments in the same order, so the rebuilt memory equals the lost
one (ids included). Every ``snapshot_every`` events a snapshot is written and the log before it
dropped. Encoders below turn core values (observations, camera views) into JSON plus arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .episodic_memory import Event
from .errors import MemoryNodesError
from .event_store import EventStore
from .geometry import CameraView, Pose
from .spatial_memory import Observation
from .temporal_memory import Change


def encode_frame(observations: list[Observation], view: CameraView | None, stamp: float,
                 robot: np.ndarray | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    arrays: dict[str, np.ndarray] = {}
    items = []
    for i, o in enumerate(observations):
        items.append({"label": o.label, "score": o.score, "position": o.pose.position.tolist(),
                      "orientation": o.pose.orientation.tolist(), "extent": o.extent.tolist(), "state": o.state,
                      "source_id": o.source_id})
        if o.points is not None:
            arrays[f"points_{i}"] = o.points
        if o.appearance is not None:
            arrays[f"appearance_{i}"] = o.appearance
    payload: dict[str, Any] = {"stamp": stamp, "observations": items,
                               "robot": None if robot is None else np.asarray(robot).tolist(), "view": None}
    if view is not None:
        payload["view"] = {"position": view.pose.position.tolist(), "orientation": view.pose.orientation.tolist(),
                           "intrinsics": list(view.intrinsics), "width": view.width, "height": view.height,
                           "max_range": view.max_range}
        if view.depth is not None:
            arrays["depth"] = view.depth
    return payload, arrays


def decode_frame(payload: dict[str, Any], arrays: dict[str, np.ndarray]):
    observations = [
        Observation(o["label"], Pose(np.array(o["position"]), np.array(o["orientation"])), np.array(o["extent"]),
                    o["score"], arrays.get(f"points_{i}"), arrays.get(f"appearance_{i}"), o["state"], o["source_id"])
        for i, o in enumerate(payload["observations"])
    ]
    view = None
    if payload["view"] is not None:
        v = payload["view"]
        view = CameraView(Pose(np.array(v["position"]), np.array(v["orientation"])), tuple(v["intrinsics"]),
                          v["width"], v["height"], v["max_range"], arrays.get("depth"))
    robot = None if payload["robot"] is None else np.array(payload["robot"])
    return observations, payload["stamp"], view, robot


def _replay_frame(memory, payload, arrays):
    observations, stamp, view, robot = decode_frame(payload, arrays)
    memory.integrate(observations, stamp, view, robot)


def _replay_observations(memory, payload, arrays):
    memory.add_observations(arrays["stamps"], payload["entities"], arrays["positions"], payload["labels"])


def _replay_change(memory, payload, arrays):
    memory.add_change(Change(payload["stamp"], payload["kind"], payload["entity"], payload["label"],
                             tuple(payload["from"]), tuple(payload["to"]), payload["detail"]))


def _replay_event(memory, payload, arrays):
    event = Event(payload["kind"], payload["stamp"], payload["text"], payload["task"], payload["place_id"],
                  tuple(payload["object_ids"]))
    memory.add_event(event, room_id=payload["room"])


def _replay_observe(memory, payload, arrays):
    for object_id, label, room in payload["objects"]:
        memory.observe_object(object_id, label, room, payload["stamp"])


REPLAY: dict[str, dict[str, Callable[[Any, dict[str, Any], dict[str, np.ndarray]], Any]]] = {
    "spatial": {
        "frame": _replay_frame,
        "robot": lambda m, p, a: m.observe_robot(np.array(p["position"]), p["stamp"]),
        "forget": lambda m, p, a: m.forget(p["ids"], p["older_than_s"],
                                           None if p["center"] is None else np.array(p["center"]), p["radius"]),
    },
    "temporal": {
        "observations": _replay_observations,
        "change": _replay_change,
        "merge": lambda m, p, a: m.merge_entities(p["keep"], p["drop"]),
        "forget": lambda m, p, a: m.forget(p["entities"]),
    },
    "episodic": {
        "event": _replay_event,
        "forget": lambda m, p, a: m.forget(p["ids"], p["older_than_s"]),
    },
    "semantic": {
        "fact": lambda m, p, a: m.add_fact(p["subject"], p["predicate"], p["object"], p["confidence"], p["source"],
                                           p["stamp"]),
        "observe": _replay_observe,
        "merge": lambda m, p, a: m.merge_entities(p["keep"], p["drop"]),
        "forget": lambda m, p, a: m.forget(p["ids"]),
    },
}


class Journal:
    """Binds one memory to its ``EventStore``."""

    def __init__(self, memory: Any, kind: str, store: EventStore, snapshot_every: int = 5000) -> None:
        if kind not in REPLAY:
            raise ValueError(f"no journal for memory kind {kind!r}")
        self.memory = memory
        self.kind = kind
        self.store = store
        self.snapshot_every = max(1, snapshot_every)
        self._since_snapshot = 0
        self.replay_errors = 0

    def record(self, event_kind: str, payload: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> int:
        """Log a change already applied to the memory; snapshot when the log has grown enough."""
        if event_kind not in REPLAY[self.kind]:
            raise ValueError(f"{self.kind} journal has no event {event_kind!r}")
        seq = self.store.append(event_kind, payload, arrays)
        self._since_snapshot += 1
        if self._since_snapshot >= self.snapshot_every:
            self.snapshot()
        return seq

    def snapshot(self) -> int:
        """Write the memory's state as the new base of the log."""
        self._since_snapshot = 0
        return self.store.write_snapshot(*self.memory.snapshot())

    def commit(self) -> None:
        self.store.commit()

    def restore(self) -> int:
        """Rebuild the memory from the latest snapshot and the events after it; returns how many
        events were replayed. An event the memory refuses again is counted, not fatal."""
        snapshot = self.store.latest_snapshot()
        after = 0
        if snapshot is not None:
            after, state, arrays = snapshot
            self.memory.restore(state, arrays)
        replayed = 0
        for _, event_kind, payload, arrays in self.store.events_after(after):
            try:
                REPLAY[self.kind][event_kind](self.memory, payload, arrays)
            except MemoryNodesError:
                self.replay_errors += 1
            replayed += 1
        self._since_snapshot = replayed
        return replayed
