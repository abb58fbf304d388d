"""Spatial memory: a layered 3D scene graph (objects, places, rooms) kept in ``map`` (REP-105).

``SpatialMemory`` is the thread-safe face of the scene graph; the work is done in the modules
named for it: ``frame_pipeline`` (association, fusion, negative evidence, re-identification,
merge, split, capacity), ``places`` (place and room layers), ``relations``, ``queries``,
``persistence`` (snapshot and restore), ``index`` (spatial look-ups), over the state in ``state``.
No rclpy here; times are message stamps in seconds.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

import networkx as nx
import numpy as np

from memory_nodes.core.errors import InvalidInputError, UnknownItemError
from memory_nodes.core.geometry import CameraView
from memory_nodes.core.spatial import persistence, queries
from memory_nodes.core.spatial.config import SpatialConfig
from memory_nodes.core.spatial.frame_pipeline import FramePipeline
from memory_nodes.core.spatial.queries import ScoreComponents
from memory_nodes.core.spatial.state import SceneGraphState
from memory_nodes.core.spatial.types import ChangeRecord, FrameResult, ObjectNode, Observation, PlaceNode
from memory_nodes.core.text_embedding import TextEncoder, label_similarity


class SpatialMemory:
    """The scene graph. All public methods are thread-safe (one re-entrant lock)."""

    def __init__(self, config: SpatialConfig | None = None, text_encoder: TextEncoder | None = None) -> None:
        self.config = config or SpatialConfig()
        self._encoder = text_encoder
        self._lock = threading.RLock()
        self._replace(SceneGraphState(self.config))

    def _replace(self, state: SceneGraphState) -> None:
        self._state = state
        self._pipeline = FramePipeline(state)

    # ----------------------------------------------------------------- ingestion
    def integrate(self, observations: list[Observation], stamp: float, view: CameraView | None = None,
                  robot_position: np.ndarray | None = None) -> FrameResult:
        """Fuse one frame's ``observations`` taken at ``stamp`` (seconds). ``view`` (optional) is
        the camera that produced them and gives negative evidence; ``robot_position`` (``map``,
        metres) extends the place layer."""
        if not math.isfinite(stamp):
            raise InvalidInputError(f"stamp must be finite, got {stamp}")
        with self._lock:
            return self._pipeline.integrate(observations, stamp, view, robot_position)

    def observe_robot(self, position: np.ndarray, stamp: float) -> tuple[str, list[ChangeRecord]]:
        """Extend the place layer with the robot at ``position`` (``map``, metres) at ``stamp``
        (seconds). Returns the id of the place the robot is at (a new one if no place lies within
        ``place_spacing``) and an "entered_room" change when its room changed."""
        if not math.isfinite(stamp):
            raise InvalidInputError(f"stamp must be finite, got {stamp}")
        with self._lock:
            self._state.latest_stamp = max(self._state.latest_stamp, stamp)
            return self._state.places.observe_robot(position, stamp)

    @property
    def robot_room(self) -> str:
        """The room the robot was last in ("" if unknown)."""
        return self._state.places.robot_room

    # ----------------------------------------------------------------- bounds
    def forget(self, ids: list[str] | None = None, older_than_s: float = 0.0,
               center: np.ndarray | None = None, radius: float = 0.0) -> list[str]:
        """Drop objects by id, by age (last seen more than ``older_than_s`` seconds before the newest
        stamp) or inside a sphere (``center`` in ``map``, ``radius`` metres); returns the dropped ids."""
        with self._lock:
            state = self._state
            chosen: set[str] = set()
            for object_id in ids or []:
                if object_id not in state.objects:
                    raise UnknownItemError(f"no object {object_id!r}")
                chosen.add(object_id)
            for node in state.objects.values():
                if older_than_s > 0 and state.latest_stamp - node.last_seen > older_than_s:
                    chosen.add(node.id)
                if center is not None and radius > 0 and np.linalg.norm(node.position - center) <= radius:
                    chosen.add(node.id)
            for object_id in chosen:
                state.evicted_summary[state.objects[object_id].label] += 1
                state.remove_object(object_id)
            return sorted(chosen)

    def reset(self) -> None:
        """Forget everything (the configured rooms stay)."""
        with self._lock:
            self._replace(SceneGraphState(self.config))

    # ----------------------------------------------------------------- snapshots
    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able state, arrays) of the whole scene graph, for ``SnapshotStore``."""
        with self._lock:
            return persistence.snapshot(self._state)

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Replace the scene graph with a ``snapshot``."""
        with self._lock:
            self._replace(persistence.restore(self.config, state, arrays))

    # ----------------------------------------------------------------- queries
    @property
    def graph(self) -> nx.MultiDiGraph:
        """Every node id (with its ``layer``) and edge (keyed by relation) of the scene graph."""
        return self._state.graph

    @property
    def counters(self) -> Counter[str]:
        return self._state.counters

    @property
    def evicted_summary(self) -> Counter[str]:
        """Label -> objects dropped at the capacity bound or forgotten."""
        return self._state.evicted_summary

    @property
    def latest_stamp(self) -> float:
        return self._state.latest_stamp

    def __len__(self) -> int:
        return len(self._state.objects)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._state.objects

    def get(self, object_id: str) -> ObjectNode:
        with self._lock:
            try:
                return self._state.objects[object_id]
            except KeyError:
                raise UnknownItemError(f"no object {object_id!r}") from None

    def objects(self, include_tentative: bool = False) -> list[ObjectNode]:
        """The objects (present and absent); unconfirmed ones only when asked."""
        with self._lock:
            return [o for o in self._state.objects.values() if include_tentative or not o.tentative]

    def places(self) -> list[PlaceNode]:
        with self._lock:
            return list(self._state.places.nodes.values())

    def room_of(self, place_id: str) -> str:
        return self._state.places.room_of(place_id)

    def relations(self, object_ids: set[str] | None = None) -> list[tuple[str, str, str, float]]:
        """(subject, predicate, object, confidence) of every edge touching ``object_ids`` (all if None)."""
        with self._lock:
            return queries.relations(self._state, object_ids)

    def label_similarity(self, text: str, labels: list[str]) -> np.ndarray:
        """Similarity in [0, 1] of free ``text`` to each label (see ``text_embedding.label_similarity``)."""
        return label_similarity(self._encoder, text, labels)

    def query_objects(self, label: str = "", text: str = "", center: np.ndarray | None = None, radius: float = 0.0,
                      place_id: str = "", start: float = -math.inf, end: float = math.inf,
                      include_absent: bool = False, limit: int = 20) -> list[tuple[ObjectNode, float]]:
        """See ``queries.query_objects``."""
        with self._lock:
            return queries.query_objects(self._state, self._encoder, label, text, center, radius, place_id, start,
                                         end, include_absent, limit)

    def where_is(self, query: str, limit: int = 5) -> list[tuple[ObjectNode, float, ScoreComponents]]:
        """See ``queries.where_is``."""
        with self._lock:
            return queries.where_is(self._state, self._encoder, query, limit)

    def describe(self, node: ObjectNode) -> str:
        """One sentence about ``node`` for planners."""
        with self._lock:
            return queries.describe(self._state, node)

    def subgraph(self, root_id: str = "", depth: int = 1) -> nx.MultiDiGraph:
        """The whole graph, or the nodes within ``depth`` hops (either direction) of ``root_id``."""
        with self._lock:
            return queries.subgraph(self._state, root_id, depth)
