"""The temporal memory node: what was where when.

Subscribes  scene_graph_updates (SceneGraph: every object observed in a frame), changes
            (ChangeEvent), robot_pose (PoseStamped in map; recorded as entity "robot").
Serves      query_changes, object_history, temporal/evidence (Ask), and the management services
            of ``MemoryNode``.
"""

from __future__ import annotations

import math

import numpy as np
from geometry_msgs.msg import PoseStamped

from memory_nodes.core.ask import temporal_evidence
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.evidence import EvidenceItem
from memory_nodes.core.geometry import IDENTITY_QUATERNION, Pose
from memory_nodes.core.spatial.types import ObjectStatus
from memory_nodes.core.temporal import TemporalConfig, TemporalMemory
from memory_nodes.core.text_embedding import shared_text_encoder
from memory_nodes.msg import ChangeEvent, SceneGraph, TimedPose
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.memory_node import MemoryNode, run_nodes
from memory_nodes.ros.node_settings import TemporalNodeSettings
from memory_nodes.ros.node_support import EVENTS_QOS, SENSOR_QOS
from memory_nodes.ros.parameters import declare_config
from memory_nodes.srv import Forget, ObjectHistory, QueryChanges, SeenBetween
from memory_nodes.storage.events import ChangeRecorded, EntitiesForgotten, ObservationsAdded

ROBOT = "robot"


class TemporalMemoryNode(MemoryNode):
    kind = "temporal"

    def __init__(self, **kwargs) -> None:
        super().__init__("temporal_memory", **kwargs)
        node_settings = declare_config(self, TemporalNodeSettings)
        self.config = declare_config(self, TemporalConfig)
        self.map_frame = node_settings.map_frame
        self.default_limit = node_settings.default_limit
        self.settings = node_settings
        self.encoder = shared_text_encoder() if node_settings.text_search else None
        self.subscribe(SceneGraph, "scene_graph_updates", self._on_update, EVENTS_QOS)
        self.subscribe(ChangeEvent, "changes", self._on_change, EVENTS_QOS)
        self.subscribe(PoseStamped, "robot_pose", self._on_robot_pose, SENSOR_QOS)
        self.serve(QueryChanges, "query_changes", self._query_changes)
        self.serve(ObjectHistory, "object_history", self._object_history)
        self.serve(SeenBetween, "seen_between", self._seen_between)
        self.start()

    def create_memory(self) -> TemporalMemory:
        return TemporalMemory(self.config)

    def _on_update(self, msg: SceneGraph) -> None:
        stamp = cv.stamp_to_seconds(msg.header.stamp)
        seen = [o for o in msg.objects
                if o.status == ObjectStatus.PRESENT and abs(cv.stamp_to_seconds(o.last_seen) - stamp) < 1e-6]
        if not seen:
            self.counters.accepted("scene_graph_updates")  # valid, with no object seen at its stamp
            return
        positions = np.array([[o.pose.position.x, o.pose.position.y, o.pose.position.z] for o in seen])
        stamps, entities, labels = np.full(len(seen), stamp), [o.id for o in seen], [o.label for o in seen]
        stored = self.memory.add_observations(stamps, entities, positions, labels)
        self.record(ObservationsAdded(stamps, entities, positions, labels))
        if stored < len(seen):
            self.counters.rejected("scene_graph_updates", f"{len(seen) - stored} object poses with NaN")
        self.counters.accepted("scene_graph_updates")

    def _on_change(self, msg: ChangeEvent) -> None:
        # The change is journaled as it came: replaying add_change gives it the same id again.
        self.take_change(msg, self.memory.add_change, ChangeRecorded)

    def _on_robot_pose(self, msg: PoseStamped) -> None:
        if msg.header.frame_id not in (self.map_frame, ""):
            self.counters.rejected("robot_pose", f"frame {msg.header.frame_id!r} is not {self.map_frame!r}")
            return
        p = msg.pose.position
        stamps, positions = np.array([cv.stamp_to_seconds(msg.header.stamp)]), np.array([[p.x, p.y, p.z]])
        if self.memory.add_observations(stamps, [ROBOT], positions, [ROBOT]) == 0:
            self.counters.rejected("robot_pose", "NaN in the pose")
            return
        self.record(ObservationsAdded(stamps, [ROBOT], positions, [ROBOT]))

    def _query_changes(self, request: QueryChanges.Request, response: QueryChanges.Response) -> str:
        if not math.isfinite(request.radius) or request.radius < 0:
            raise InvalidInputError(f"radius must be finite and >= 0, got {request.radius}")
        center = cv.point_from_msg(request.center) if request.radius > 0 else None
        found = self.memory.changes(cv.optional_stamp(request.start, -math.inf), cv.optional_stamp(request.end, math.inf),
                                    request.object_id, request.kind, center, float(request.radius),
                                    self._limit(request.limit))
        response.changes = [cv.change_to_msg(c) for c in found]
        return f"{len(found)} changes"

    def _seen_between(self, request: SeenBetween.Request, response: SeenBetween.Response) -> str:
        if not (request.start.sec or request.start.nanosec) or not (request.end.sec or request.end.nanosec):
            raise InvalidInputError("start and end are required")
        limit = self._limit(request.limit)
        # One more than asked: the robot's own track is in the same memory and is not an object.
        found = self.memory.seen_between(cv.stamp_to_seconds(request.start), cv.stamp_to_seconds(request.end),
                                         request.label, limit + 1)
        found = [s for s in found if s.entity != ROBOT][:limit]
        response.object_ids = [s.entity for s in found]
        response.labels = [s.label for s in found]
        response.first_seen = [cv.seconds_to_stamp(s.first_seen) for s in found]
        response.last_seen = [cv.seconds_to_stamp(s.last_seen) for s in found]
        response.positions = [cv.point_to_msg(s.position) for s in found]
        return f"{len(found)} objects seen"

    def _object_history(self, request: ObjectHistory.Request, response: ObjectHistory.Response) -> str:
        if not request.object_id:
            raise InvalidInputError("object_id is empty")
        rows = self.memory.history(request.object_id, limit=self._limit(request.limit))
        response.poses = [self._timed_pose(row[0], row[1:]) for row in rows]
        if request.at_time.sec or request.at_time.nanosec:
            found = self.memory.pose_at(request.object_id, cv.stamp_to_seconds(request.at_time))
            response.has_pose_at_time = found is not None
            if found is not None:
                response.pose_at_time = self._timed_pose(*found)
        return f"{len(rows)} poses"

    @staticmethod
    def _timed_pose(stamp: float, position: np.ndarray) -> TimedPose:
        return TimedPose(stamp=cv.seconds_to_stamp(float(stamp)), pose=cv.pose_to_msg(Pose(position, IDENTITY_QUATERNION)))

    def evidence(self, question: str, limit: int) -> list[EvidenceItem]:
        return temporal_evidence(self.memory, self.encoder, question, limit, self.settings.min_label_match,
                                 self.settings.recency_scale_s)

    def forget_items(self, request: Forget.Request) -> int:
        center = cv.point_from_msg(request.center) if request.radius > 0 else None
        entities = self.memory.select_forgettable(list(request.ids), float(request.older_than_s), center,
                                                  float(request.radius))
        forgotten = self.memory.forget(entities)
        self.record(EntitiesForgotten(entities))
        return forgotten


def main(args: list[str] | None = None) -> int:
    return run_nodes(lambda: [TemporalMemoryNode()], args)
