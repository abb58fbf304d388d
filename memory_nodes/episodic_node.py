"""The episodic memory node: events from the change stream and the planner, grouped into episodes.

Subscribes  changes (ChangeEvent: object changes and the robot entering rooms).
Serves      record_event (planner task start/success/failure, notes), recall_episodes,
            episodic/evidence (Ask), episodic/forget, episodic/reset.
"""

from __future__ import annotations

import math

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from memory_nodes.msg import ChangeEvent
from memory_nodes.srv import Ask, Forget, RecallEpisodes, RecordEvent, Reset

from . import conversions as cv
from .ask import episodic_evidence, validate_question
from .episodic_memory import PLANNER_KINDS, EpisodicConfig, EpisodicMemory, Event
from .errors import InvalidInputError
from .node_support import EVENTS_QOS, InputCounters, guarded_reply
from .parameters import declare, declare_config
from .text_embedding import shared_text_encoder


class EpisodicMemoryNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("episodic_memory", **kwargs)
        config = declare_config(self, EpisodicConfig)
        self.default_limit = declare(self, "default_limit", 5, "results returned when a request's limit is 0")
        text_search = declare(self, "text_search", True, "recall episodes by sentence similarity")
        if self.default_limit <= 0:
            raise InvalidInputError("default_limit must be > 0")
        self.memory = EpisodicMemory(config, shared_text_encoder() if text_search else None)
        self.counters = InputCounters(self)
        self._room = ""
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(ChangeEvent, "changes", self._on_change, EVENTS_QOS, callback_group=group)
        self.create_service(RecordEvent, "record_event", self._record_event, callback_group=group)
        self.create_service(RecallEpisodes, "recall_episodes", self._recall, callback_group=group)
        self.create_service(Ask, "episodic/evidence", self._evidence, callback_group=group)
        self.create_service(Forget, "episodic/forget", self._forget, callback_group=group)
        self.create_service(Reset, "episodic/reset", self._reset, callback_group=group)

    def _on_change(self, msg: ChangeEvent) -> None:
        stamp = cv.stamp_to_seconds(msg.stamp)
        if msg.kind == "entered_room":
            self._room = msg.object_id
            event = Event("entered_room", stamp, f"robot entered {msg.object_id}", place_id=msg.object_id)
        else:
            text = f"{msg.label} {msg.object_id} {msg.kind}" + (f" ({msg.detail})" if msg.detail else "")
            event = Event(msg.kind, stamp, text, place_id=self._room, object_ids=(msg.object_id,))
        try:
            self.memory.add_event(event, room_id=self._room)
        except InvalidInputError as error:
            self.counters.rejected("changes", str(error))
            return
        self.counters.accepted("changes")

    def _limit(self, limit: int) -> int:
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        return limit or self.default_limit

    def _record_event(self, request: RecordEvent.Request, response: RecordEvent.Response):
        def fill(response):
            if request.kind not in PLANNER_KINDS:
                raise InvalidInputError(f"kind must be one of {', '.join(PLANNER_KINDS)}; got {request.kind!r}")
            if len(request.text) > 4000:
                raise InvalidInputError("text is longer than 4000 characters")
            stamp = cv.optional_stamp(request.stamp, self.get_clock().now().nanoseconds * 1e-9)
            text = request.text or f"{request.kind.replace('_', ' ')}: {request.task}"
            event = Event(request.kind, stamp, text, task=request.task, place_id=request.place_id or self._room,
                          object_ids=tuple(request.object_ids))
            response.event_id, response.episode_id = self.memory.add_event(event, room_id=self._room)
            return f"recorded in {response.episode_id}"
        return guarded_reply(self, self.counters, "record_event", response, fill)

    def _recall(self, request: RecallEpisodes.Request, response: RecallEpisodes.Response):
        def fill(response):
            start = cv.optional_stamp(request.start, -math.inf)
            end = cv.optional_stamp(request.end, math.inf)
            found = self.memory.recall(request.text, start, end, {request.place_id} if request.place_id else None,
                                       request.object_id, self._limit(request.limit))
            response.episodes = [cv.episode_to_msg(e) for e, _, _ in found]
            response.scores = [float(s) for _, s, _ in found]
            return f"{len(found)} episodes"
        return guarded_reply(self, self.counters, "recall_episodes", response, fill)

    def _evidence(self, request: Ask.Request, response: Ask.Response):
        def fill(response):
            question = validate_question(request.question, request.limit)
            response.answers = [cv.evidence_to_msg(e) for e in episodic_evidence(self.memory, question, self._limit(request.limit))]
            response.memories_answered = ["episodic"]
        return guarded_reply(self, self.counters, "episodic/evidence", response, fill)

    def _forget(self, request: Forget.Request, response: Forget.Response):
        def fill(response):
            forgotten = self.memory.forget(list(request.ids), float(request.older_than_s))
            response.forgotten_count = len(forgotten)
            return f"forgot {', '.join(forgotten) or 'nothing'}"
        return guarded_reply(self, self.counters, "episodic/forget", response, fill)

    def _reset(self, request: Reset.Request, response: Reset.Response):
        def fill(response):
            if not request.confirm:
                raise InvalidInputError("reset needs confirm=true")
            self.memory.reset()
            return "episodic memory cleared"
        return guarded_reply(self, self.counters, "episodic/reset", response, fill)


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = EpisodicMemoryNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
