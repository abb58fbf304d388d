"""The semantic memory node: facts with confidence and provenance, text search, consolidation.

Subscribes  scene_graph_updates (SceneGraph: keeps "<object> is_in <room>" current), changes
            (ChangeEvent: counted for consolidation).
Serves      add_fact, query_facts, semantic/evidence (Ask), and the management services of
            ``MemoryNode``.
Every ``consolidation_period_s`` it learns regularities ("mug usually_in room-kitchen").
"""

from __future__ import annotations

import math

from memory_nodes.core.ask import semantic_evidence
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.evidence import EvidenceItem
from memory_nodes.core.semantic import SemanticConfig, SemanticMemory
from memory_nodes.core.spatial.types import ObjectStatus
from memory_nodes.core.text_embedding import shared_text_encoder
from memory_nodes.msg import ChangeEvent, SceneGraph
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.memory_node import MemoryNode, run_nodes
from memory_nodes.ros.node_settings import SemanticNodeSettings
from memory_nodes.ros.node_support import EVENTS_QOS
from memory_nodes.ros.parameters import declare_config
from memory_nodes.srv import AddFact, Forget, QueryFacts
from memory_nodes.storage.events import ChangeNoted, FactAdded, FactsForgotten, ObjectsObserved


class SemanticMemoryNode(MemoryNode):
    kind = "semantic"

    def __init__(self, **kwargs) -> None:
        super().__init__("semantic_memory", **kwargs)
        node_settings = declare_config(self, SemanticNodeSettings)
        self.config = declare_config(self, SemanticConfig)
        self.default_limit = node_settings.default_limit
        period = node_settings.consolidation_period_s
        self.text_search = node_settings.text_search
        self.subscribe(SceneGraph, "scene_graph_updates", self._on_update, EVENTS_QOS)
        self.subscribe(ChangeEvent, "changes", self._on_change, EVENTS_QOS)
        self.serve(AddFact, "add_fact", self._add_fact)
        self.serve(QueryFacts, "query_facts", self._query_facts)
        self.create_timer(period, self.consolidate, callback_group=self.group)
        self.start()

    def create_memory(self) -> SemanticMemory:
        return SemanticMemory(self.config, shared_text_encoder() if self.text_search else None)

    def _on_update(self, msg: SceneGraph) -> None:
        stamp = cv.stamp_to_seconds(msg.header.stamp)
        observed: list[tuple[str, str, str]] = []
        refused = 0
        for obj in msg.objects:
            if obj.status == ObjectStatus.PRESENT and obj.room_id:
                try:
                    self.memory.observe_object(obj.id, obj.label, obj.room_id, stamp)
                    observed.append((obj.id, obj.label, obj.room_id))
                except InvalidInputError as error:
                    refused += 1
                    self.counters.rejected("scene_graph_updates", str(error))
        if observed:
            self.record(ObjectsObserved(stamp, observed))
        if observed or not refused:
            self.counters.accepted("scene_graph_updates")

    def _on_change(self, msg: ChangeEvent) -> None:
        self.take_change(msg, self.memory.note_change, ChangeNoted)

    def consolidate(self) -> None:
        if not self.active:
            return
        stamp = self.memory.latest_stamp if math.isfinite(self.memory.latest_stamp) else 0.0
        learned = self.memory.consolidate(stamp)
        for fact, confidence in learned:  # replaying these add_fact calls reproduces the consolidation
            self._record_fact(fact.subject, fact.predicate, fact.object, confidence, "consolidation", stamp)
        if learned:
            self.get_logger().debug(f"consolidation: {len(learned)} facts")

    def _add_fact(self, request: AddFact.Request, response: AddFact.Response) -> str:
        latest = self.memory.latest_stamp
        stamp = cv.optional_stamp(request.stamp, latest if math.isfinite(latest) and latest > 0
                                  else self.get_clock().now().nanoseconds * 1e-9)
        source = request.source or "planner"
        fact, superseded = self.memory.add_fact(request.subject, request.predicate, request.object,
                                                float(request.confidence), source, stamp)
        self._record_fact(request.subject, request.predicate, request.object, float(request.confidence), source, stamp)
        response.fact_id = fact.id
        response.superseded_ids = superseded
        if fact.superseded:
            return f"stored as superseded: {fact.superseded_by} is better supported"
        return f"stored {fact.id}" + (f", superseding {', '.join(superseded)}" if superseded else "")

    def _record_fact(self, subject: str, predicate: str, obj: str, confidence: float, source: str, stamp: float) -> None:
        self.record(FactAdded(subject, predicate, obj, confidence, source, stamp))

    def _query_facts(self, request: QueryFacts.Request, response: QueryFacts.Response) -> str:
        found = self.memory.query(request.subject, request.predicate, request.object, request.text,
                                  float(request.min_confidence), request.include_superseded, self._limit(request.limit))
        response.facts = [cv.fact_to_msg(f) for f, _, _ in found]
        response.scores = [float(s) for _, s, _ in found]
        return f"{len(found)} facts"

    def evidence(self, question: str, limit: int) -> list[EvidenceItem]:
        return semantic_evidence(self.memory, question, limit)

    def forget_items(self, request: Forget.Request) -> int:
        if request.older_than_s > 0 or request.radius > 0:
            raise InvalidInputError("facts are forgotten by id, not by age or region")
        forgotten = self.memory.forget(list(request.ids))
        self.record(FactsForgotten(forgotten))
        return len(forgotten)


def main(args: list[str] | None = None) -> int:
    return run_nodes(lambda: [SemanticMemoryNode()], args)
