"""MemoryClient: one method per memory service, for planners and scripts.

    client = MemoryClient()                 # own node, spun on a background thread
    for candidate in client.where_is("mug"):
        print(candidate.object_id, candidate.room_id)

Every method waits at most ``timeout_s`` seconds, returns plain Python values (the dataclasses
below: positions as (x, y, z) metres in ``map``, times as float seconds of message stamps) and
raises ``MemoryServiceError`` (with the service's message) when the service is missing, times out
or answers ``success=false``. Calls use ``call_async`` and wait on an event, so a client sharing an
executor with other nodes never blocks that executor.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from memory_nodes.core.errors import MemoryNodesError
from memory_nodes.core.evidence import EvidenceItem
from memory_nodes.ros.stamps import seconds_to_stamp
from memory_nodes.srv import (
    AddFact,
    Ask,
    Forget,
    GetSceneGraph,
    Load,
    ObjectHistory,
    QueryChanges,
    QueryFacts,
    QueryObjects,
    RecallEpisodes,
    RecordEvent,
    Reset,
    Save,
    SeenBetween,
    WhereIs,
)

SERVICES: dict[str, type] = {
    "where_is": WhereIs,
    "query_objects": QueryObjects,
    "get_scene_graph": GetSceneGraph,
    "query_changes": QueryChanges,
    "object_history": ObjectHistory,
    "seen_between": SeenBetween,
    "record_event": RecordEvent,
    "recall_episodes": RecallEpisodes,
    "add_fact": AddFact,
    "query_facts": QueryFacts,
    "ask": Ask,
}


class MemoryServiceError(MemoryNodesError):
    """A memory service was unavailable, timed out, or refused the request (its message)."""


Vector = tuple[float, float, float]


def _xyz(point) -> Vector:
    return (float(point.x), float(point.y), float(point.z))


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


@dataclass(frozen=True)
class ObjectInfo:
    """A remembered object: ``position`` of its box centre and ``orientation`` (x, y, z, w) in
    ``map``, full ``extent`` in metres, existence ``confidence`` in [0, 1], seen times in seconds."""

    id: str
    label: str
    label_confidence: float
    position: Vector
    orientation: tuple[float, float, float, float]
    extent: Vector
    confidence: float
    first_seen: float
    last_seen: float
    observation_count: int
    place_id: str
    room_id: str
    state: str
    status: str

    @classmethod
    def from_msg(cls, msg) -> ObjectInfo:
        o = msg.pose.orientation
        return cls(msg.id, msg.label, float(msg.label_confidence), _xyz(msg.pose.position),
                   (float(o.x), float(o.y), float(o.z), float(o.w)), _xyz(msg.extent), float(msg.confidence),
                   _seconds(msg.first_seen), _seconds(msg.last_seen), int(msg.observation_count), msg.place_id,
                   msg.room_id, msg.state, msg.status)


@dataclass(frozen=True)
class WhereAnswer:
    """Where an object was last seen (``position`` in ``map``, ``last_seen`` in seconds) and why."""

    object_id: str
    label: str
    position: Vector
    last_seen: float
    place_id: str
    room_id: str
    status: str
    score: float
    evidence: list[EvidenceItem]


@dataclass(frozen=True)
class ChangeInfo:
    stamp: float
    kind: str
    object_id: str
    label: str
    from_position: Vector
    to_position: Vector
    detail: str


@dataclass(frozen=True)
class History:
    """``poses``: (stamp s, position in ``map``) oldest first; ``pose_at_time``: the last pose at or
    before the asked time, or None."""

    poses: list[tuple[float, Vector]]
    pose_at_time: tuple[float, Vector] | None


@dataclass(frozen=True)
class EpisodeInfo:
    id: str
    start: float
    end: float
    place_id: str
    object_ids: list[str]
    task: str
    outcome: str
    summary: str
    event_count: int


@dataclass(frozen=True)
class FactInfo:
    id: str
    subject: str
    predicate: str
    object: str
    confidence: float
    source: str
    stamp: float
    superseded: bool
    superseded_by: str


@dataclass(frozen=True)
class PlaceInfo:
    id: str
    layer: str
    name: str
    position: Vector
    parent_id: str


@dataclass(frozen=True)
class SceneGraphInfo:
    """Objects, places/rooms and relations (subject, predicate, object, confidence)."""

    objects: list[ObjectInfo]
    places: list[PlaceInfo]
    relations: list[tuple[str, str, str, float]]
    sequence: int
    stamp: float


@dataclass(frozen=True)
class AskAnswer:
    answers: list[EvidenceItem]
    memories_answered: list[str]
    elapsed_ms: float


def _stamp(value: float | Time | None) -> Time:
    """A request time from seconds (float) or a Time; None or 0 means unset."""
    if value is None:
        return Time()
    if isinstance(value, Time):
        return value
    return seconds_to_stamp(float(value))


def _evidence(msg) -> EvidenceItem:
    return EvidenceItem(msg.memory, msg.item_id, msg.text, float(msg.score),
                        dict(zip(msg.component_names, (float(v) for v in msg.component_values))))


class MemoryClient:
    def __init__(self, node: Node | None = None, namespace: str = "/memory", timeout_s: float = 5.0) -> None:
        """Use ``node`` (spun by the caller's executor) or create one spun on a background thread."""
        self._own_executor: SingleThreadedExecutor | None = None
        self._spin_thread: threading.Thread | None = None
        if node is None:
            node = rclpy.create_node("memory_client")
            self._own_executor = SingleThreadedExecutor()
            self._own_executor.add_node(node)
            # A thread still inside rcl's wait when the interpreter exits aborts the process
            # ("terminate called without an active exception", status 134): close() joins it. A
            # daemon all the same, so a script that forgets close() does not hang at exit.
            self._spin_thread = threading.Thread(target=self._spin, daemon=True, name="memory_client")
            self._spin_thread.start()
        self.node = node
        self.timeout_s = timeout_s
        self._namespace = namespace.rstrip("/")
        self._group = ReentrantCallbackGroup()
        self._clients: dict[str, Any] = {}

    def _client(self, name: str, srv_type: type):
        if name not in self._clients:
            self._clients[name] = self.node.create_client(srv_type, f"{self._namespace}/{name}", callback_group=self._group)
        return self._clients[name]

    def call(self, name: str, srv_type: type, request: Any, timeout_s: float | None = None) -> Any:
        """Call ``<namespace>/<name>``; returns the response or raises ``MemoryServiceError``."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        client = self._client(name, srv_type)
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise MemoryServiceError(f"service {self._namespace}/{name} is not available")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout_s):
            future.cancel()
            raise MemoryServiceError(f"service {self._namespace}/{name} did not answer within {timeout_s} s")
        response = future.result()
        if hasattr(response, "success") and not response.success:
            raise MemoryServiceError(f"{name}: {response.message}")
        return response

    def wait_for_services(self, timeout_s: float = 10.0, names: tuple[str, ...] = tuple(SERVICES)) -> None:
        for name in names:
            if not self._client(name, SERVICES[name]).wait_for_service(timeout_sec=timeout_s):
                raise MemoryServiceError(f"service {self._namespace}/{name} is not available")

    # ----------------------------------------------------------------- spatial
    def where_is(self, query: str, limit: int = 0) -> list[WhereAnswer]:
        """Candidates best first, each with its evidence and score components."""
        return [WhereAnswer(c.object_id, c.label, _xyz(c.pose.position), _seconds(c.last_seen), c.place_id, c.room_id,
                            c.status, float(c.score), [_evidence(e) for e in c.evidence])
                for c in self.call("where_is", WhereIs, WhereIs.Request(query=query, limit=limit)).candidates]

    def query_objects(self, label: str = "", text: str = "", center: tuple[float, float, float] | None = None,
                      radius: float = 0.0, place_id: str = "", include_absent: bool = False, limit: int = 0):
        """(objects, scores), best first; ``center`` in map, metres."""
        request = QueryObjects.Request(label=label, text=text, radius=float(radius), place_id=place_id,
                                       include_absent=include_absent, limit=limit)
        if center is not None:
            request.center = Point(x=float(center[0]), y=float(center[1]), z=float(center[2]))
        response = self.call("query_objects", QueryObjects, request)
        return [ObjectInfo.from_msg(o) for o in response.objects], [float(v) for v in response.scores]

    def get_scene_graph(self, root_id: str = "", depth: int = 0) -> SceneGraphInfo:
        graph = self.call("get_scene_graph", GetSceneGraph, GetSceneGraph.Request(root_id=root_id, depth=depth)).graph
        return SceneGraphInfo([ObjectInfo.from_msg(o) for o in graph.objects],
                              [PlaceInfo(p.id, p.layer, p.name, _xyz(p.position), p.parent_id) for p in graph.places],
                              [(r.subject_id, r.predicate, r.object_id, float(r.confidence)) for r in graph.relations],
                              int(graph.sequence), _seconds(graph.header.stamp))

    # ----------------------------------------------------------------- temporal
    def query_changes(self, object_id: str = "", kind: str = "", start: float | Time | None = None,
                      end: float | Time | None = None,
                      limit: int = 0):
        request = QueryChanges.Request(object_id=object_id, kind=kind, limit=limit)
        request.start, request.end = _stamp(start), _stamp(end)
        return [ChangeInfo(_seconds(c.stamp), c.kind, c.object_id, c.label, _xyz(c.from_position), _xyz(c.to_position),
                           c.detail) for c in self.call("query_changes", QueryChanges, request).changes]

    def object_history(self, object_id: str, at_time: float | Time | None = None, limit: int = 0) -> History:
        request = ObjectHistory.Request(object_id=object_id, limit=limit)
        request.at_time = _stamp(at_time)
        response = self.call("object_history", ObjectHistory, request)
        at = response.pose_at_time
        return History([(_seconds(p.stamp), _xyz(p.pose.position)) for p in response.poses],
                       (_seconds(at.stamp), _xyz(at.pose.position)) if response.has_pose_at_time else None)

    # ----------------------------------------------------------------- episodic
    def seen_between(self, start: float | Time, end: float | Time, label: str = "",
                     limit: int = 0) -> list[tuple[str, str, float, float, Vector]]:
        """(object id, label, first seen, last seen, position then) of every object observed in
        [start, end], the most recently seen first."""
        response = self.call("seen_between", SeenBetween,
                             SeenBetween.Request(start=_stamp(start), end=_stamp(end), label=label, limit=limit))
        return [(object_id, label, _seconds(first), _seconds(last), _xyz(position)) for object_id, label, first, last, position
                in zip(response.object_ids, response.labels, response.first_seen, response.last_seen, response.positions)]

    def record_event(self, kind: str, task: str = "", text: str = "", stamp: float | Time | None = None,
                     object_ids: list[str] | None = None, place_id: str = "") -> tuple[str, str]:
        """(event id, episode id)."""
        request = RecordEvent.Request(kind=kind, task=task, text=text, object_ids=object_ids or [], place_id=place_id)
        request.stamp = _stamp(stamp)
        response = self.call("record_event", RecordEvent, request)
        return response.event_id, response.episode_id

    def recall_episodes(self, text: str = "", place_id: str = "", object_id: str = "", limit: int = 0):
        request = RecallEpisodes.Request(text=text, place_id=place_id, object_id=object_id, limit=limit)
        response = self.call("recall_episodes", RecallEpisodes, request)
        return [EpisodeInfo(e.id, _seconds(e.start), _seconds(e.end), e.place_id, list(e.object_ids), e.task, e.outcome,
                            e.summary, int(e.event_count)) for e in response.episodes], [float(v) for v in response.scores]

    # ----------------------------------------------------------------- semantic
    def add_fact(self, subject: str, predicate: str, obj: str, confidence: float = 1.0, source: str = "",
                 stamp: float | Time | None = None) -> tuple[str, list[str]]:
        """(fact id, ids of the facts it superseded)."""
        request = AddFact.Request(subject=subject, predicate=predicate, object=obj, confidence=float(confidence),
                                  source=source)
        request.stamp = _stamp(stamp)
        response = self.call("add_fact", AddFact, request)
        return response.fact_id, list(response.superseded_ids)

    def query_facts(self, subject: str = "", predicate: str = "", obj: str = "", text: str = "",
                    min_confidence: float = 0.0, include_superseded: bool = False, limit: int = 0):
        request = QueryFacts.Request(subject=subject, predicate=predicate, object=obj, text=text,
                                     min_confidence=float(min_confidence), include_superseded=include_superseded,
                                     limit=limit)
        response = self.call("query_facts", QueryFacts, request)
        return [FactInfo(f.id, f.subject, f.predicate, f.object, float(f.confidence), f.source, _seconds(f.stamp),
                         bool(f.superseded), f.superseded_by) for f in response.facts], [float(v) for v in response.scores]

    # ----------------------------------------------------------------- all memories
    def ask(self, question: str, limit: int = 0) -> AskAnswer:
        """Evidence from all four memories, best first, and which memories answered in time."""
        response = self.call("ask", Ask, Ask.Request(question=question, limit=limit))
        return AskAnswer([_evidence(e) for e in response.answers], list(response.memories_answered),
                         float(response.elapsed_ms))

    def save(self, memory: str, name: str = "") -> str:
        """Write ``memory``'s snapshot (``name`` in its memory directory; "" = its default); the path."""
        return self.call(f"{memory}/save", Save, Save.Request(name=name)).path

    def load(self, memory: str, name: str = "") -> None:
        """Replace ``memory`` with the snapshot ``name`` of its memory directory."""
        self.call(f"{memory}/load", Load, Load.Request(name=name))

    def forget(self, memory: str, ids: list[str] | None = None, older_than_s: float = 0.0) -> int:
        request = Forget.Request(ids=ids or [], older_than_s=float(older_than_s))
        return self.call(f"{memory}/forget", Forget, request).forgotten_count

    def reset(self, memory: str) -> None:
        self.call(f"{memory}/reset", Reset, Reset.Request(confirm=True))

    def _spin(self) -> None:
        assert self._own_executor is not None
        try:
            self._own_executor.spin()
        except ExternalShutdownException:
            pass  # rclpy.shutdown() before close(): nothing left to serve

    def close(self) -> None:
        """Release the service clients; a client that made its own node stops and joins its spin
        thread, so a planner script exits with its own status."""
        for client in self._clients.values():
            self.node.destroy_client(client)
        self._clients.clear()
        if self._own_executor is not None:
            self._own_executor.shutdown()
            if self._spin_thread is not None:
                self._spin_thread.join()
            self.node.destroy_node()
            self._own_executor = self._spin_thread = None

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
