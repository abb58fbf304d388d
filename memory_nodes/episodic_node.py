"""The episodic memory node: events from the change stream and the planner, grouped into episodes.

Subscribes  changes (ChangeEvent: object changes and the robot entering rooms).
Serves      record_event (planner task start/success/failure, notes), recall_episodes,
            episodic/evidence (Ask), and the management services of ``MemoryNode``.
"""

from __future__ import annotations

import math

from memory_nodes.msg import ChangeEvent
from memory_nodes.srv import Forget, RecallEpisodes, RecordEvent

from . import conversions as cv
from .ask import EvidenceItem, episodic_evidence
from .episodic_memory import PLANNER_KINDS, EpisodicConfig, EpisodicMemory, Event
from .errors import InvalidInputError
from .memory_node import MemoryNode, run_nodes
from .node_support import EVENTS_QOS
from .parameters import declare, declare_config
from .text_embedding import shared_text_encoder


class EpisodicMemoryNode(MemoryNode):
    kind = "episodic"

    def __init__(self, **kwargs) -> None:
        super().__init__("episodic_memory", **kwargs)
        self.config = declare_config(self, EpisodicConfig)
        self.default_limit = declare(self, "default_limit", 5, "results returned when a request's limit is 0")
        self.text_search = declare(self, "text_search", True, "recall episodes by sentence similarity")
        if self.default_limit <= 0:
            raise InvalidInputError("default_limit must be > 0")
        self._room = ""
        self.subscribe(ChangeEvent, "changes", self._on_change, EVENTS_QOS)
        self.serve(RecordEvent, "record_event", self._record_event)
        self.serve(RecallEpisodes, "recall_episodes", self._recall)
        self.start()

    def create_memory(self) -> EpisodicMemory:
        return EpisodicMemory(self.config, shared_text_encoder() if self.text_search else None)

    def _on_change(self, msg: ChangeEvent) -> None:
        stamp = cv.stamp_to_seconds(msg.stamp)
        if msg.kind == "entered_room":
            self._room = msg.object_id
            event = Event("entered_room", stamp, f"robot entered {msg.object_id}", place_id=msg.object_id)
        else:
            text = f"{msg.label} {msg.object_id} {msg.kind}" + (f" ({msg.detail})" if msg.detail else "")
            event = Event(msg.kind, stamp, text, place_id=self._room, object_ids=(msg.object_id,))
        try:
            self._add(event)
        except InvalidInputError as error:
            self.counters.rejected("changes", str(error))
            return
        self.counters.accepted("changes")

    def _add(self, event: Event) -> tuple[str, str]:
        ids = self.memory.add_event(event, room_id=self._room)
        self.record("event", {"kind": event.kind, "stamp": event.stamp, "text": event.text, "task": event.task,
                              "place_id": event.place_id, "object_ids": list(event.object_ids), "room": self._room})
        return ids

    def _record_event(self, request: RecordEvent.Request, response: RecordEvent.Response) -> str:
        if request.kind not in PLANNER_KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(PLANNER_KINDS)}; got {request.kind!r}")
        if len(request.text) > 4000:
            raise InvalidInputError("text is longer than 4000 characters")
        stamp = cv.optional_stamp(request.stamp, self.get_clock().now().nanoseconds * 1e-9)
        text = request.text or f"{request.kind.replace('_', ' ')}: {request.task}"
        event = Event(request.kind, stamp, text, task=request.task, place_id=request.place_id or self._room,
                      object_ids=tuple(request.object_ids))
        response.event_id, response.episode_id = self._add(event)
        return f"recorded in {response.episode_id}"

    def _recall(self, request: RecallEpisodes.Request, response: RecallEpisodes.Response) -> str:
        found = self.memory.recall(request.text, cv.optional_stamp(request.start, -math.inf),
                                   cv.optional_stamp(request.end, math.inf),
                                   {request.place_id} if request.place_id else None, request.object_id,
                                   self._limit(request.limit))
        response.episodes = [cv.episode_to_msg(e) for e, _, _ in found]
        response.scores = [float(s) for _, s, _ in found]
        return f"{len(found)} episodes"

    def evidence(self, question: str, limit: int) -> list[EvidenceItem]:
        return episodic_evidence(self.memory, question, limit)

    def forget_items(self, request: Forget.Request) -> int:
        if request.radius > 0:
            raise InvalidInputError("episodes are forgotten by id or age, not by region")
        forgotten = self.memory.forget(list(request.ids), float(request.older_than_s))
        self.record("forget", {"ids": forgotten, "older_than_s": 0.0})
        return len(forgotten)


def main(args: list[str] | None = None) -> int:
    return run_nodes(lambda: [EpisodicMemoryNode()], args)
