"""The episodic memory node: events from the change stream and the planner, grouped into episodes.

Subscribes  changes (ChangeEvent: object changes and the robot entering rooms).
Serves      record_event (planner task start/success/failure, notes), recall_episodes,
            episodic/evidence (Ask), and the management services of ``MemoryNode``.
"""

from __future__ import annotations

import math

from memory_nodes.core.ask import episodic_evidence
from memory_nodes.core.episodic import PLANNER_KINDS, EpisodicConfig, EpisodicMemory, Event
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.evidence import EvidenceItem
from memory_nodes.core.text_embedding import shared_text_encoder
from memory_nodes.msg import ChangeEvent
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.memory_node import MemoryNode, run_nodes
from memory_nodes.ros.node_settings import EpisodicNodeSettings
from memory_nodes.ros.node_support import EVENTS_QOS
from memory_nodes.ros.parameters import declare_config
from memory_nodes.srv import Forget, RecallEpisodes, RecordEvent
from memory_nodes.storage.events import ChangeNarrated, EpisodesForgotten, EventAdded


class EpisodicMemoryNode(MemoryNode):
    kind = "episodic"

    def __init__(self, **kwargs) -> None:
        super().__init__("episodic_memory", **kwargs)
        node_settings = declare_config(self, EpisodicNodeSettings)
        self.config = declare_config(self, EpisodicConfig)
        self.default_limit = node_settings.default_limit
        self.text_search = node_settings.text_search
        self.subscribe(ChangeEvent, "changes", self._on_change, EVENTS_QOS)
        self.serve(RecordEvent, "record_event", self._record_event)
        self.serve(RecallEpisodes, "recall_episodes", self._recall)
        self.start()

    def create_memory(self) -> EpisodicMemory:
        return EpisodicMemory(self.config, shared_text_encoder() if self.text_search else None)

    def _on_change(self, msg: ChangeEvent) -> None:
        self.take_change(msg, self.memory.note_change, ChangeNarrated)

    def _record_event(self, request: RecordEvent.Request, response: RecordEvent.Response) -> str:
        if request.kind not in PLANNER_KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(PLANNER_KINDS)}; got {request.kind!r}")
        if len(request.text) > 4000:
            raise InvalidInputError("text is longer than 4000 characters")
        stamp = cv.optional_stamp(request.stamp, self.get_clock().now().nanoseconds * 1e-9)
        text = request.text or f"{request.kind.replace('_', ' ')}: {request.task}"
        room = self.memory.current_room
        event = Event(request.kind, stamp, text, task=request.task, place_id=request.place_id or room,
                      object_ids=tuple(request.object_ids))
        response.event_id, response.episode_id = self.memory.add_event(event, room_id=room)
        self.record(EventAdded(event, room))
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
        self.record(EpisodesForgotten(forgotten))
        return len(forgotten)


def main(args: list[str] | None = None) -> int:
    return run_nodes(lambda: [EpisodicMemoryNode()], args)
