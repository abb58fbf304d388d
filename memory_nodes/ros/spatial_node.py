"""The spatial memory node: object observations in, scene graph and changes out, queries served.

Subscribes  observations (ObjectObservationArray, sensor QoS), robot_pose (PoseStamped in map).
Publishes   scene_graph (SceneGraph snapshot, latched), scene_graph_updates (SceneGraph per
            frame, with a sequence number), changes (ChangeEvent), scene_graph_markers
            (visualization_msgs/MarkerArray for RViz, latched).
Serves      query_objects, where_is, get_scene_graph, spatial/evidence (Ask), and the management
            services of ``MemoryNode``.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from visualization_msgs.msg import MarkerArray

from memory_nodes.core.ask import spatial_evidence
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.evidence import EvidenceItem
from memory_nodes.core.spatial import SpatialConfig, SpatialMemory
from memory_nodes.core.spatial.types import ChangeKind, GraphLayer
from memory_nodes.core.text_embedding import shared_text_encoder
from memory_nodes.msg import ChangeEvent, ObjectObservationArray, SceneGraph, WhereCandidate
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.memory_node import MemoryNode, run_nodes
from memory_nodes.ros.node_settings import SpatialNodeSettings
from memory_nodes.ros.node_support import EVENTS_QOS, LATCHED_QOS, SENSOR_QOS
from memory_nodes.ros.parameters import declare_config
from memory_nodes.srv import Forget, GetSceneGraph, QueryObjects, WhereIs
from memory_nodes.storage.events import FrameIntegrated, ObjectsForgotten, RobotMoved


class SpatialMemoryNode(MemoryNode):
    kind = "spatial"

    def __init__(self, **kwargs) -> None:
        super().__init__("spatial_memory", **kwargs)
        node_settings = declare_config(self, SpatialNodeSettings)
        self.config = declare_config(self, SpatialConfig)
        self.map_frame = node_settings.map_frame
        self.default_limit = node_settings.default_limit
        snapshot_period = node_settings.snapshot_period_s
        self.text_search = node_settings.text_search
        self._sequence = 0
        self._dirty = True
        self.subscribe(ObjectObservationArray, "observations", self._on_observations, SENSOR_QOS,
                       backlog=node_settings.max_backlog_observations)
        self.subscribe(PoseStamped, "robot_pose", self._on_robot_pose, SENSOR_QOS)
        self.snapshot_pub = self.create_lifecycle_publisher(SceneGraph, "scene_graph", LATCHED_QOS)
        self.update_pub = self.create_lifecycle_publisher(SceneGraph, "scene_graph_updates", EVENTS_QOS)
        self.change_pub = self.create_lifecycle_publisher(ChangeEvent, "changes", EVENTS_QOS)
        self.marker_pub = self.create_lifecycle_publisher(MarkerArray, "scene_graph_markers", LATCHED_QOS)
        self.serve(QueryObjects, "query_objects", self._query_objects)
        self.serve(WhereIs, "where_is", self._where_is)
        self.serve(GetSceneGraph, "get_scene_graph", self._get_scene_graph)
        self.create_timer(snapshot_period, self._publish_snapshot, callback_group=self.group)
        self.start()

    def create_memory(self) -> SpatialMemory:
        return SpatialMemory(self.config, shared_text_encoder() if self.text_search else None)

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
        self.record(FrameIntegrated(observations, stamp, view, robot))
        self.counters.accepted("observations")
        self._publish_frame(msg.header.stamp, set(result.object_ids), result.changes)

    def _on_robot_pose(self, msg: PoseStamped) -> None:
        if msg.header.frame_id not in (self.map_frame, ""):
            self.counters.rejected("robot_pose", f"frame {msg.header.frame_id!r} is not {self.map_frame!r}")
            return
        try:
            position = cv.point_from_msg(msg.pose.position)
            stamp = cv.stamp_to_seconds(msg.header.stamp)
            _, changes = self.memory.observe_robot(position, stamp)
        except InvalidInputError as error:
            self.counters.rejected("robot_pose", str(error))
            return
        self.record(RobotMoved(position, stamp))
        self.counters.accepted("robot_pose")
        for change in changes:
            self.change_pub.publish(cv.change_to_msg(change))

    def _publish_frame(self, stamp, object_ids: set[str], changes) -> None:
        removed = [c.merged_id for c in changes if c.kind is ChangeKind.MERGED]
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
        if not self._dirty or not self.active:
            return
        snapshot = cv.scene_graph_to_msg(self.memory, None, [])
        snapshot.header.stamp = cv.seconds_to_stamp(self.memory.latest_stamp)
        snapshot.header.frame_id = self.map_frame
        self._sequence += 1
        snapshot.sequence = self._sequence
        self.snapshot_pub.publish(snapshot)
        self.marker_pub.publish(cv.scene_graph_to_markers(self.memory, snapshot.header))
        self._dirty = False

    def after_replace(self) -> None:
        self._dirty = True

    # ----------------------------------------------------------------- services
    def _query_objects(self, request: QueryObjects.Request, response: QueryObjects.Response) -> str:
        center = cv.point_from_msg(request.center) if request.radius > 0 else None
        found = self.memory.query_objects(
            label=request.label, text=request.text, center=center, radius=float(request.radius),
            place_id=request.place_id, start=cv.optional_stamp(request.start, float("-inf")),
            end=cv.optional_stamp(request.end, float("inf")), include_absent=request.include_absent,
            limit=self._limit(request.limit))
        response.objects = [cv.object_to_msg(node, self.memory) for node, _ in found]
        response.scores = [float(score) for _, score in found]
        return f"{len(found)} objects"

    def _where_is(self, request: WhereIs.Request, response: WhereIs.Response) -> str:
        query = request.query.strip()
        if query in self.memory:  # an id: that object, nothing else
            node = self.memory.get(query)
            found = [(node, 1.0, {"id_match": 1.0, "existence": node.confidence})]
        else:
            found = self.memory.where_is(query, self._limit(request.limit))
        for node, score, components in found:
            candidate = WhereCandidate(object_id=node.id, label=node.label, pose=cv.pose_to_msg(node.box.pose),
                                       last_seen=cv.seconds_to_stamp(node.last_seen), place_id=node.place_id,
                                       room_id=self.memory.room_of(node.place_id), status=node.status,
                                       score=float(score))
            candidate.evidence = [cv.evidence_to_msg(
                EvidenceItem("spatial", node.id, self.memory.describe(node), score, components))]
            response.candidates.append(candidate)
        return f"{len(response.candidates)} candidates"

    def _get_scene_graph(self, request: GetSceneGraph.Request, response: GetSceneGraph.Response) -> str:
        if request.depth < 0:
            raise InvalidInputError(f"depth must be >= 0, got {request.depth}")
        if request.root_id:
            subgraph = self.memory.subgraph(request.root_id, request.depth or 1)
            ids = {n for n in subgraph.nodes if subgraph.nodes[n].get("layer") == GraphLayer.OBJECT}
            response.graph = cv.scene_graph_to_msg(self.memory, ids, [])
            response.graph.places = [p for p in response.graph.places if p.id in subgraph.nodes]
            response.graph.relations = [r for r in response.graph.relations
                                        if r.subject_id in subgraph.nodes and r.object_id in subgraph.nodes]
        else:
            response.graph = cv.scene_graph_to_msg(self.memory, None, [])
        response.graph.is_full_snapshot = not request.root_id
        response.graph.header.frame_id = self.map_frame
        response.graph.header.stamp = cv.seconds_to_stamp(self.memory.latest_stamp)
        response.graph.sequence = self._sequence
        return f"{len(response.graph.objects)} objects, {len(response.graph.places)} places"

    def evidence(self, question: str, limit: int) -> list[EvidenceItem]:
        return spatial_evidence(self.memory, question, limit)

    def forget_items(self, request: Forget.Request) -> int:
        center = cv.point_from_msg(request.center) if request.radius > 0 else None
        forgotten = self.memory.forget(list(request.ids), float(request.older_than_s), center, float(request.radius))
        self.record(ObjectsForgotten(forgotten))
        return len(forgotten)


def main(args: list[str] | None = None) -> int:
    return run_nodes(lambda: [SpatialMemoryNode()], args)
