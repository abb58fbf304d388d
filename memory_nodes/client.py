"""MemoryClient: one method per memory service, for planners and scripts.

    client = MemoryClient()                 # own node, spun on a background thread
    for candidate in client.where_is("mug"):
        print(candidate.object_id, candidate.room_id)

Every method waits at most ``timeout_s`` seconds, returns the response's payload and raises
``MemoryServiceError`` (with the service's message) when the service is missing, times out or
answers ``success=false``. Calls use ``call_async`` and wait on an event, so a client sharing an
executor with other nodes never blocks that executor.
"""

from __future__ import annotations

import threading
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from memory_nodes.srv import (
    AddFact, Ask, Forget, GetSceneGraph, Load, ObjectHistory, QueryChanges, QueryFacts, QueryObjects,
    RecallEpisodes, RecordEvent, Reset, Save, WhereIs,
)

from .errors import MemoryNodesError

SERVICES: dict[str, type] = {
    "where_is": WhereIs,
    "query_objects": QueryObjects,
    "get_scene_graph": GetSceneGraph,
    "query_changes": QueryChanges,
    "object_history": ObjectHistory,
    "record_event": RecordEvent,
    "recall_episodes": RecallEpisodes,
    "add_fact": AddFact,
    "query_facts": QueryFacts,
    "ask": Ask,
}


class MemoryServiceError(MemoryNodesError):
    """A memory service was unavailable, timed out, or refused the request (its message)."""


class MemoryClient:
    def __init__(self, node: Node | None = None, namespace: str = "/memory", timeout_s: float = 5.0) -> None:
        """Use ``node`` (spun by the caller's executor) or create one spun on a background thread."""
        self._own_executor = None
        if node is None:
            node = rclpy.create_node("memory_client")
            self._own_executor = SingleThreadedExecutor()
            self._own_executor.add_node(node)
            threading.Thread(target=self._own_executor.spin, daemon=True, name="memory_client").start()
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
    def where_is(self, query: str, limit: int = 0):
        """WhereCandidate list, best first."""
        return self.call("where_is", WhereIs, WhereIs.Request(query=query, limit=limit)).candidates

    def query_objects(self, label: str = "", text: str = "", center: tuple[float, float, float] | None = None,
                      radius: float = 0.0, place_id: str = "", include_absent: bool = False, limit: int = 0):
        """(MemoryObject list, scores), best first; ``center`` in map, metres."""
        request = QueryObjects.Request(label=label, text=text, radius=float(radius), place_id=place_id,
                                       include_absent=include_absent, limit=limit)
        if center is not None:
            request.center = Point(x=float(center[0]), y=float(center[1]), z=float(center[2]))
        response = self.call("query_objects", QueryObjects, request)
        return list(response.objects), list(response.scores)

    def get_scene_graph(self, root_id: str = "", depth: int = 0):
        return self.call("get_scene_graph", GetSceneGraph, GetSceneGraph.Request(root_id=root_id, depth=depth)).graph

    # ----------------------------------------------------------------- temporal
    def query_changes(self, object_id: str = "", kind: str = "", start: Time | None = None, end: Time | None = None,
                      limit: int = 0):
        request = QueryChanges.Request(object_id=object_id, kind=kind, limit=limit)
        request.start, request.end = start or Time(), end or Time()
        return list(self.call("query_changes", QueryChanges, request).changes)

    def object_history(self, object_id: str, at_time: Time | None = None, limit: int = 0):
        """The ObjectHistory response (poses, has_pose_at_time, pose_at_time)."""
        request = ObjectHistory.Request(object_id=object_id, limit=limit)
        request.at_time = at_time or Time()
        return self.call("object_history", ObjectHistory, request)

    # ----------------------------------------------------------------- episodic
    def record_event(self, kind: str, task: str = "", text: str = "", stamp: Time | None = None,
                     object_ids: list[str] | None = None, place_id: str = "") -> tuple[str, str]:
        """(event id, episode id)."""
        request = RecordEvent.Request(kind=kind, task=task, text=text, object_ids=object_ids or [], place_id=place_id)
        request.stamp = stamp or Time()
        response = self.call("record_event", RecordEvent, request)
        return response.event_id, response.episode_id

    def recall_episodes(self, text: str = "", place_id: str = "", object_id: str = "", limit: int = 0):
        request = RecallEpisodes.Request(text=text, place_id=place_id, object_id=object_id, limit=limit)
        response = self.call("recall_episodes", RecallEpisodes, request)
        return list(response.episodes), list(response.scores)

    # ----------------------------------------------------------------- semantic
    def add_fact(self, subject: str, predicate: str, obj: str, confidence: float = 1.0, source: str = "",
                 stamp: Time | None = None) -> tuple[str, list[str]]:
        """(fact id, ids of the facts it superseded)."""
        request = AddFact.Request(subject=subject, predicate=predicate, object=obj, confidence=float(confidence),
                                  source=source)
        request.stamp = stamp or Time()
        response = self.call("add_fact", AddFact, request)
        return response.fact_id, list(response.superseded_ids)

    def query_facts(self, subject: str = "", predicate: str = "", obj: str = "", text: str = "",
                    min_confidence: float = 0.0, include_superseded: bool = False, limit: int = 0):
        request = QueryFacts.Request(subject=subject, predicate=predicate, object=obj, text=text,
                                     min_confidence=float(min_confidence), include_superseded=include_superseded,
                                     limit=limit)
        response = self.call("query_facts", QueryFacts, request)
        return list(response.facts), list(response.scores)

    # ----------------------------------------------------------------- all memories
    def ask(self, question: str, limit: int = 0):
        """The Ask response: answers (Evidence, best first), memories_answered, elapsed_ms."""
        return self.call("ask", Ask, Ask.Request(question=question, limit=limit))

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

    def close(self) -> None:
        for client in self._clients.values():
            self.node.destroy_client(client)
        self._clients.clear()
        if self._own_executor is not None:
            self._own_executor.shutdown()
            self.node.destroy_node()
