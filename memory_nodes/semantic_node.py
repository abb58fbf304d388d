"""The semantic memory node: facts with confidence and provenance, text search, consolidation.

Subscribes  scene_graph_updates (SceneGraph: keeps "<object> is_in <room>" current), changes
            (ChangeEvent: counted for consolidation).
Serves      add_fact, query_facts, semantic/evidence (Ask), semantic/forget, semantic/reset.
Every ``consolidation_period_s`` it learns regularities ("mug usually_in room-kitchen").
"""

from __future__ import annotations

from collections import deque

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from memory_nodes.msg import ChangeEvent, SceneGraph
from memory_nodes.srv import AddFact, Ask, Forget, QueryFacts, Reset

from . import conversions as cv
from .ask import semantic_evidence, validate_question
from .errors import InvalidInputError
from .node_support import EVENTS_QOS, InputCounters, guarded_reply
from .parameters import declare, declare_config
from .semantic_memory import SemanticConfig, SemanticMemory
from .text_embedding import shared_text_encoder


class SemanticMemoryNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("semantic_memory", **kwargs)
        config = declare_config(self, SemanticConfig)
        self.default_limit = declare(self, "default_limit", 10, "results returned when a request's limit is 0")
        period = declare(self, "consolidation_period_s", 10.0, "period of consolidation from the other memories, s")
        text_search = declare(self, "text_search", True, "search facts by sentence similarity")
        if self.default_limit <= 0 or period <= 0:
            raise InvalidInputError("default_limit and consolidation_period_s must be > 0")
        self.memory = SemanticMemory(config, shared_text_encoder() if text_search else None)
        self.counters = InputCounters(self)
        self._events: deque = deque(maxlen=10_000)  # (stamp, kind, label, detail) for consolidation
        self._latest = 0.0
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(SceneGraph, "scene_graph_updates", self._on_update, EVENTS_QOS, callback_group=group)
        self.create_subscription(ChangeEvent, "changes", self._on_change, EVENTS_QOS, callback_group=group)
        self.create_service(AddFact, "add_fact", self._add_fact, callback_group=group)
        self.create_service(QueryFacts, "query_facts", self._query_facts, callback_group=group)
        self.create_service(Ask, "semantic/evidence", self._evidence, callback_group=group)
        self.create_service(Forget, "semantic/forget", self._forget, callback_group=group)
        self.create_service(Reset, "semantic/reset", self._reset, callback_group=group)
        self.create_timer(period, self.consolidate, callback_group=group)

    def _on_update(self, msg: SceneGraph) -> None:
        stamp = cv.stamp_to_seconds(msg.header.stamp)
        self._latest = max(self._latest, stamp)
        for obj in msg.objects:
            if obj.status == "present" and obj.room_id:
                try:
                    self.memory.observe_object(obj.id, obj.label, obj.room_id, stamp)
                except InvalidInputError as error:
                    self.counters.rejected("scene_graph_updates", str(error))

    def _on_change(self, msg: ChangeEvent) -> None:
        stamp = cv.stamp_to_seconds(msg.stamp)
        self._latest = max(self._latest, stamp)
        if msg.kind == "merged":
            self.memory.merge_entities(msg.object_id, msg.detail.split(" ", 1)[0])
        elif msg.kind != "entered_room":
            self._events.append((stamp, msg.kind, msg.label, msg.detail))

    def consolidate(self) -> None:
        learned = self.memory.consolidate(list(self._events), self._latest)
        if learned:
            self.get_logger().debug(f"consolidation: {len(learned)} facts")

    def _limit(self, limit: int) -> int:
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        return limit or self.default_limit

    def _add_fact(self, request: AddFact.Request, response: AddFact.Response):
        def fill(response):
            stamp = cv.optional_stamp(request.stamp, self._latest or self.get_clock().now().nanoseconds * 1e-9)
            fact, superseded = self.memory.add_fact(request.subject, request.predicate, request.object,
                                                    float(request.confidence), request.source or "planner", stamp)
            response.fact_id = fact.id
            response.superseded_ids = superseded
            if fact.superseded:
                return f"stored as superseded: {fact.superseded_by} is better supported"
            return f"stored {fact.id}" + (f", superseding {', '.join(superseded)}" if superseded else "")
        return guarded_reply(self, self.counters, "add_fact", response, fill)

    def _query_facts(self, request: QueryFacts.Request, response: QueryFacts.Response):
        def fill(response):
            found = self.memory.query(request.subject, request.predicate, request.object, request.text,
                                      float(request.min_confidence), request.include_superseded,
                                      self._limit(request.limit))
            response.facts = [cv.fact_to_msg(f) for f, _, _ in found]
            response.scores = [float(s) for _, s, _ in found]
            return f"{len(found)} facts"
        return guarded_reply(self, self.counters, "query_facts", response, fill)

    def _evidence(self, request: Ask.Request, response: Ask.Response):
        def fill(response):
            question = validate_question(request.question, request.limit)
            response.answers = [cv.evidence_to_msg(e) for e in semantic_evidence(self.memory, question, self._limit(request.limit))]
            response.memories_answered = ["semantic"]
        return guarded_reply(self, self.counters, "semantic/evidence", response, fill)

    def _forget(self, request: Forget.Request, response: Forget.Response):
        def fill(response):
            forgotten = self.memory.forget(list(request.ids))
            response.forgotten_count = len(forgotten)
            return f"forgot {', '.join(forgotten) or 'nothing'}"
        return guarded_reply(self, self.counters, "semantic/forget", response, fill)

    def _reset(self, request: Reset.Request, response: Reset.Response):
        def fill(response):
            if not request.confirm:
                raise InvalidInputError("reset needs confirm=true")
            self.memory.reset()
            self._events.clear()
            return "semantic memory cleared"
        return guarded_reply(self, self.counters, "semantic/reset", response, fill)


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = SemanticMemoryNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
