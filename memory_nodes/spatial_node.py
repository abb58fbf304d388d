"""The spatial memory node: object observations in, scene graph and changes out, queries served.

Subscribes  observations (ObjectObservationArray, sensor QoS), robot_pose (PoseStamped in map).
Publishes   scene_graph (SceneGraph snapshot, latched), scene_graph_updates (SceneGraph per
            frame), changes (ChangeEvent).
Serves      query_objects, where_is, get_scene_graph, spatial/evidence (Ask), spatial/forget,
            spatial/reset.
"""

from __future__ import annotations

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from memory_nodes.msg import ChangeEvent, ObjectObservationArray, SceneGraph, WhereCandidate
from memory_nodes.srv import Ask, Forget, GetSceneGraph, QueryObjects, Reset, WhereIs

from . import conversions as cv
from .ask import EvidenceItem, spatial_evidence, validate_question
from .errors import InvalidInputError
from .node_support import EVENTS_QOS, LATCHED_QOS, SENSOR_QOS, InputCounters, guarded_reply
from .parameters import declare, declare_config
from .spatial_memory import SpatialConfig, SpatialMemory
from .text_embedding import shared_text_encoder


class SpatialMemoryNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("spatial_memory", **kwargs)
        config = declare_config(self, SpatialConfig)
        self.map_frame = declare(self, "map_frame", "map", "fixed frame of every pose (REP-105)")
        self.default_limit = declare(self, "default_limit", 10, "results returned when a request's limit is 0")
        snapshot_period = declare(self, "snapshot_period_s", 2.0, "period of the latched full scene graph, s")
        text_search = declare(self, "text_search", True, "match free text to labels with sentence embeddings")
        if snapshot_period <= 0 or self.default_limit <= 0:
            raise InvalidInputError("snapshot_period_s and default_limit must be > 0")
        self.memory = SpatialMemory(config, shared_text_encoder() if text_search else None)
        self.counters = InputCounters(self)
        self._sequence = 0
        self._dirty = True

        # One group: ingestion and queries take turns, so a query never sees half a frame.
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(ObjectObservationArray, "observations", self._on_observations, SENSOR_QOS,
                                 callback_group=group)
        self.create_subscription(PoseStamped, "robot_pose", self._on_robot_pose, SENSOR_QOS, callback_group=group)
        self.snapshot_pub = self.create_publisher(SceneGraph, "scene_graph", LATCHED_QOS)
        self.update_pub = self.create_publisher(SceneGraph, "scene_graph_updates", EVENTS_QOS)
        self.change_pub = self.create_publisher(ChangeEvent, "changes", EVENTS_QOS)
        self.create_service(QueryObjects, "query_objects", self._query_objects, callback_group=group)
        self.create_service(WhereIs, "where_is", self._where_is, callback_group=group)
        self.create_service(GetSceneGraph, "get_scene_graph", self._get_scene_graph, callback_group=group)
        self.create_service(Ask, "spatial/evidence", self._evidence, callback_group=group)
        self.create_service(Forget, "spatial/forget", self._forget, callback_group=group)
        self.create_service(Reset, "spatial/reset", self._reset, callback_group=group)
        self.create_timer(snapshot_period, self._publish_snapshot, callback_group=group)

    # ----------------------------------------------------------------- inputs
    def _on_observations(self, msg: ObjectObservationArray) -> None:
        try:
            observations, view, stamp = cv.frame_from_msg(msg)
            # The camera rides on the robot: its floor projection places the robot in this frame, so
            # room entries are ordered with the frame's object changes.
            robot = None if view is None else view.pose.position * np.array([1.0, 1.0, 0.0])
            result = self.memory.integrate(observations, stamp, view, robot)
        except InvalidInputError as error:
            self.counters.rejected("observations", str(error))
            return
        self.counters.accepted("observations")
        self._publish_frame(msg.header.stamp, set(result.object_ids), result.changes)

    def _on_robot_pose(self, msg: PoseStamped) -> None:
        if msg.header.frame_id not in (self.map_frame, ""):
            self.counters.rejected("robot_pose", f"frame {msg.header.frame_id!r} is not {self.map_frame!r}")
            return
        try:
            position = cv.point_from_msg(msg.pose.position)
            _, changes = self.memory.observe_robot(position, cv.stamp_to_seconds(msg.header.stamp))
        except InvalidInputError as error:
            self.counters.rejected("robot_pose", str(error))
            return
        self.counters.accepted("robot_pose")
        for change in changes:
            self.change_pub.publish(cv.change_to_msg(change))

    def _publish_frame(self, stamp, object_ids: set[str], changes) -> None:
        removed = [c.detail.split(" ")[0] for c in changes if c.kind == "merged"]
        touched = object_ids | {c.object_id for c in changes}
        update = cv.scene_graph_to_msg(self.memory, touched, removed)
        update.header.stamp, update.header.frame_id = stamp, self.map_frame
        self._sequence += 1
        update.sequence = self._sequence
        self.update_pub.publish(update)
        for change in changes:
            self.change_pub.publish(cv.change_to_msg(change))
        self._dirty = True

    def _publish_snapshot(self) -> None:
        if not self._dirty:
            return
        snapshot = cv.scene_graph_to_msg(self.memory, None, [])
        snapshot.header.stamp = cv.seconds_to_stamp(self.memory.latest_stamp)
        snapshot.header.frame_id = self.map_frame
        self._sequence += 1
        snapshot.sequence = self._sequence
        self.snapshot_pub.publish(snapshot)
        self._dirty = False

    # ----------------------------------------------------------------- services
    def _limit(self, limit: int) -> int:
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        return limit or self.default_limit

    def _query_objects(self, request: QueryObjects.Request, response: QueryObjects.Response):
        def fill(response):
            center = cv.point_from_msg(request.center) if request.radius > 0 else None
            end = cv.stamp_to_seconds(request.end) if (request.end.sec or request.end.nanosec) else float("inf")
            found = self.memory.query_objects(
                label=request.label, text=request.text, center=center, radius=float(request.radius),
                place_id=request.place_id, start=cv.stamp_to_seconds(request.start), end=end,
                include_absent=request.include_absent, limit=self._limit(request.limit))
            response.objects = [cv.object_to_msg(node, self.memory) for node, _ in found]
            response.scores = [float(score) for _, score in found]
            return f"{len(found)} objects"
        return guarded_reply(self, self.counters, "query_objects", response, fill)

    def _where_is(self, request: WhereIs.Request, response: WhereIs.Response):
        def fill(response):
            for node, score, components in self.memory.where_is(request.query, self._limit(request.limit)):
                candidate = WhereCandidate(object_id=node.id, label=node.label, pose=cv.pose_to_msg(node.box.pose),
                                           last_seen=cv.seconds_to_stamp(node.last_seen), place_id=node.place_id,
                                           room_id=self.memory.room_of(node.place_id), status=node.status,
                                           score=float(score))
                candidate.evidence = [cv.evidence_to_msg(item) for item in spatial_evidence_for(self.memory, node, score, components)]
                response.candidates.append(candidate)
            return f"{len(response.candidates)} candidates"
        return guarded_reply(self, self.counters, "where_is", response, fill)

    def _get_scene_graph(self, request: GetSceneGraph.Request, response: GetSceneGraph.Response):
        def fill(response):
            if request.depth < 0:
                raise InvalidInputError(f"depth must be >= 0, got {request.depth}")
            if request.root_id:
                subgraph = self.memory.subgraph(request.root_id, request.depth or 1)
                ids = {n for n in subgraph.nodes if subgraph.nodes[n].get("layer") == "object"}
                response.graph = cv.scene_graph_to_msg(self.memory, ids, [])
                response.graph.places = [p for p in response.graph.places if p.id in subgraph.nodes]
            else:
                response.graph = cv.scene_graph_to_msg(self.memory, None, [])
            response.graph.header.frame_id = self.map_frame
            response.graph.header.stamp = cv.seconds_to_stamp(self.memory.latest_stamp)
            response.graph.sequence = self._sequence
            return f"{len(response.graph.objects)} objects, {len(response.graph.places)} places"
        return guarded_reply(self, self.counters, "get_scene_graph", response, fill)

    def _evidence(self, request: Ask.Request, response: Ask.Response):
        def fill(response):
            question = validate_question(request.question, request.limit)
            response.answers = [cv.evidence_to_msg(e) for e in spatial_evidence(self.memory, question, self._limit(request.limit))]
            response.memories_answered = ["spatial"]
        return guarded_reply(self, self.counters, "spatial/evidence", response, fill)

    def _forget(self, request: Forget.Request, response: Forget.Response):
        def fill(response):
            center = cv.point_from_msg(request.center) if request.radius > 0 else None
            forgotten = self.memory.forget(list(request.ids), float(request.older_than_s), center, float(request.radius))
            response.forgotten_count = len(forgotten)
            if forgotten:
                self._dirty = True
            return f"forgot {', '.join(forgotten) or 'nothing'}"
        return guarded_reply(self, self.counters, "spatial/forget", response, fill)

    def _reset(self, request: Reset.Request, response: Reset.Response):
        def fill(response):
            if not request.confirm:
                raise InvalidInputError("reset needs confirm=true")
            self.memory.reset()
            self._dirty = True
            return "spatial memory cleared"
        return guarded_reply(self, self.counters, "spatial/reset", response, fill)


def spatial_evidence_for(memory: SpatialMemory, node, score: float, components: dict[str, float]) -> list[EvidenceItem]:
    return [EvidenceItem("spatial", node.id, memory.describe(node), score, components)]


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = SpatialMemoryNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()

