"""The fleet view: one memory built from every robot's events on the fleet's server.

``memory_fleet`` runs the memory nodes (spatial, temporal, episodic, semantic, ask) in the ``fleet``
namespace, without a journal of their own, and feeds them from the server: each robot's camera
frames (``frame`` events of its spatial journal) and positions (``robot``) are published to the
fleet's spatial memory as if one robot had made them all, in stamp order across robots, so two
robots seeing the same mug make one object and a mug one robot saw moved is moved for the fleet;
the temporal, episodic and semantic memories follow from the fleet's own scene-graph updates and
changes, exactly as on a robot. Planner events (``event``) and planner facts (``fact`` from a
planner) are forwarded with the robot named in them. Consolidated facts and each robot's derived
temporal memory are not copied: the fleet derives its own.

Every planner service answers across the fleet under ``/fleet`` (``where_is``, ``query_objects``,
``query_changes``, ``object_history``, ``recall_episodes``, ``query_facts``, ``ask``...), plus
``last_seen_by`` (LastSeenBy): which robot's frame last showed an object, and when.

The view is rebuilt from the server at every start (it keeps no journal): the server is its store.
A robot that was offline ships its frames late; they are integrated when they arrive, so an old
frame can arrive after newer ones of other robots (the memory takes it with its own stamp).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy

from memory_nodes.core.errors import ConfigError, InvalidInputError
from memory_nodes.msg import ObjectObservationArray, SceneGraph
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.ask_node import AskNode
from memory_nodes.ros.client import MemoryClient, MemoryServiceError
from memory_nodes.ros.episodic_node import EpisodicMemoryNode
from memory_nodes.ros.memory_node import run_nodes
from memory_nodes.ros.memory_system import create_memory_nodes
from memory_nodes.ros.node_settings import FleetNodeSettings
from memory_nodes.ros.node_support import EVENTS_QOS, InputCounters, guarded_reply
from memory_nodes.ros.parameters import declare_config
from memory_nodes.ros.semantic_node import SemanticMemoryNode
from memory_nodes.ros.spatial_node import SpatialMemoryNode
from memory_nodes.ros.temporal_node import TemporalMemoryNode
from memory_nodes.srv import LastSeenBy
from memory_nodes.storage.events import EVENTS, EventAdded, FactAdded, FrameIntegrated, RobotMoved
from memory_nodes.storage.postgres_store import ServerDatabase, ServerUnavailableError, read_events, streams

FLEET_NAMESPACE = "fleet"
FLEET_MEMORY_NODES = (SpatialMemoryNode, TemporalMemoryNode, EpisodicMemoryNode, SemanticMemoryNode, AskNode)
FED_MEMORIES = ("spatial", "episodic", "semantic")
BATCH = 200
# Facts a robot's memory derived itself (about its own object ids, or its own regularities): the
# fleet derives its own from the fleet's scene graph.
DERIVED_SOURCES = ("consolidation", "perception")


@dataclass
class Sighting:
    robot_id: str
    stamp: float


class FleetFeeder(Node):
    """Reads the server and feeds the fleet's memory nodes; serves ``last_seen_by``."""

    def __init__(self, spatial: SpatialMemoryNode, **kwargs: Any) -> None:
        super().__init__("memory_fleet", **kwargs)
        self.settings = declare_config(self, FleetNodeSettings)
        if not self.settings.server:
            raise ConfigError("memory_fleet needs server: the connection string of the fleet's database")
        self.spatial = spatial
        self.robots = {r for r in self.settings.robots if r}
        self.database = ServerDatabase(self.settings.server, connect_timeout_s=self.settings.server_timeout_s)
        self.cursors: dict[tuple[str, str], int] = {}
        self.last_seen: dict[str, Sighting] = {}
        self.counters = InputCounters(self)
        self.counters.report_on_diagnostics(1.0, self._diagnostic_values)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.frames = self.create_publisher(ObjectObservationArray, "observations", reliable)
        self.poses = self.create_publisher(PoseStamped, "robot_pose", reliable)
        self._updates: list[SceneGraph] = []
        self._update_arrived = threading.Condition()
        self.create_subscription(SceneGraph, "scene_graph_updates", self._on_update, EVENTS_QOS)
        self.client = MemoryClient(node=self, namespace=self.get_namespace(), timeout_s=10.0)
        self.create_service(LastSeenBy, "last_seen_by", self._last_seen_by)
        self.connected: bool | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fleet_feeder")
        self._thread.start()

    def _diagnostic_values(self) -> dict[str, Any]:
        return {"server_reachable": bool(self.connected), "streams": len(self.cursors),
                "objects_with_provenance": len(self.last_seen)}

    # ----------------------------------------------------------------- reading the server
    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                while self._poll() and not self._stop.is_set():
                    pass
                if self.connected is False:
                    self.get_logger().info("fleet server reachable again")
                self.connected = True
            except ServerUnavailableError as error:
                if self.connected is not False:
                    self.get_logger().warning(f"fleet server unreachable, the view waits: {error}")
                self.connected = False
            self._stop.wait(max(0.0, self.settings.poll_period_s - (time.monotonic() - started)))

    def _poll(self) -> int:
        """Read and apply the next events of every stream; returns how many were applied."""
        pending: list[tuple[float, str, int, str, str, dict[str, Any], dict[str, Any]]] = []
        with self.database.run() as connection:
            for robot, memory, _ in streams(connection):
                if memory not in FED_MEMORIES or (self.robots and robot not in self.robots):
                    continue
                after = self.cursors.get((robot, memory), 0)
                for seq, kind, payload, arrays in read_events(connection, robot, memory, after, BATCH):
                    stamp = float(payload.get("stamp", 0.0) or 0.0)
                    pending.append((stamp, robot, seq, memory, kind, payload, arrays))
        # Across robots in stamp order; within a robot's stream its own order is kept (seq).
        pending.sort(key=lambda item: item[:3])
        for _, robot, seq, memory, kind, payload, arrays in pending:
            self._apply(robot, memory, kind, payload, arrays)
            self.cursors[(robot, memory)] = max(self.cursors.get((robot, memory), 0), seq)
        return len(pending)

    def _apply(self, robot: str, memory: str, kind: str, payload: dict[str, Any], arrays: dict[str, Any]) -> None:
        event_type = EVENTS[memory].get(kind)
        if event_type is None:
            return
        try:
            event = event_type.decode(payload, arrays)
            if isinstance(event, FrameIntegrated):
                self._integrate(robot, event)
            elif isinstance(event, RobotMoved):
                self.poses.publish(self._pose(event.position, event.stamp))
            elif isinstance(event, EventAdded):
                e = event.event
                self.client.record_event(e.kind, e.task, f"{e.text} (robot {robot})", stamp=e.stamp, place_id=e.place_id)
            elif isinstance(event, FactAdded) and event.source not in DERIVED_SOURCES:
                self.client.add_fact(event.subject, event.predicate, event.object, event.confidence,
                                     f"{robot}/{event.source or 'planner'}", stamp=event.stamp)
            else:
                return
            self.counters.accepted(f"{memory}.{kind}")
        except (InvalidInputError, MemoryServiceError, KeyError, ValueError) as error:
            self.counters.rejected(f"{memory}.{kind}", f"{robot}: {error}")

    def _pose(self, position: Any, stamp: float) -> PoseStamped:
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = cv.seconds_to_stamp(stamp), "map"
        pose.pose.position = cv.point_to_msg(position)
        pose.pose.orientation.w = 1.0
        return pose

    def _integrate(self, robot: str, event: FrameIntegrated) -> None:
        """Publish one robot frame to the fleet's spatial memory and wait until it is integrated."""
        if event.robot is not None:
            self.poses.publish(self._pose(event.robot, event.stamp))
        message = cv.frame_to_msg(event.observations, event.view, event.stamp)
        with self._update_arrived:
            self._updates.clear()
        for _ in range(2):  # one retry: a frame lost on the way is published again
            self.frames.publish(message)
            deadline = time.monotonic() + self.settings.frame_timeout_s
            with self._update_arrived:
                while not self._stop.is_set():
                    done = next((u for u in self._updates if abs(cv.stamp_to_seconds(u.header.stamp) - event.stamp) < 1e-6),
                                None)
                    if done is not None:
                        self._note_sightings(robot, done, event.stamp)
                        return
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._update_arrived.wait(left)
        raise InvalidInputError(f"frame at t={event.stamp:.3f} was not integrated within {self.settings.frame_timeout_s} s")

    def _on_update(self, msg: SceneGraph) -> None:
        with self._update_arrived:
            self._updates.append(msg)
            self._update_arrived.notify_all()

    def _note_sightings(self, robot: str, update: SceneGraph, stamp: float) -> None:
        for object_id in update.removed_ids:
            self.last_seen.pop(object_id, None)
        for item in update.objects:
            if abs(cv.stamp_to_seconds(item.last_seen) - stamp) < 1e-6:
                self.last_seen[item.id] = Sighting(robot, stamp)

    # ----------------------------------------------------------------- service
    def _last_seen_by(self, request: LastSeenBy.Request, response: LastSeenBy.Response) -> LastSeenBy.Response:
        def fill(response: LastSeenBy.Response) -> str:
            if request.limit < 0:
                raise InvalidInputError(f"limit must be >= 0, got {request.limit}")
            if not request.query.strip():
                raise InvalidInputError("query is empty")
            memory = self.spatial.memory
            if memory is None:
                raise InvalidInputError("the fleet's spatial memory is not active")
            if request.query in memory:
                nodes = [memory.get(request.query)]
            else:
                nodes = [node for node, _, _ in memory.where_is(request.query, request.limit or self.settings.default_limit)]
            known = [node for node in nodes if node.id in self.last_seen]
            response.object_ids = [node.id for node in known]
            response.labels = [node.label for node in known]
            response.robot_ids = [self.last_seen[node.id].robot_id for node in known]
            response.stamps = [cv.seconds_to_stamp(self.last_seen[node.id].stamp) for node in known]
            return f"{len(known)} objects"
        return guarded_reply(self, self.counters, "last_seen_by", response, fill)

    def destroy_node(self) -> None:
        self._stop.set()
        with self._update_arrived:
            self._update_arrived.notify_all()
        self._thread.join(timeout=10.0)
        self.client.close()
        self.database.close()
        super().destroy_node()


def create_fleet_nodes(**kwargs: Any) -> list[Node]:
    """The fleet's memory nodes (no journal, no perception) and its feeder, in ``/fleet``."""
    overrides = [Parameter("persistence", value=False), Parameter("store", value="sqlite"),
                 *kwargs.pop("parameter_overrides", [])]
    nodes = create_memory_nodes(FLEET_NAMESPACE, FLEET_MEMORY_NODES, parameter_overrides=overrides, **kwargs)
    spatial = next(n for n in nodes if isinstance(n, SpatialMemoryNode))
    try:
        nodes.append(FleetFeeder(spatial, namespace=FLEET_NAMESPACE, parameter_overrides=overrides, **kwargs))
    except Exception:
        for node in nodes:
            node.destroy_node()
        raise
    return nodes


def main(args: list[str] | None = None) -> int:
    return run_nodes(create_fleet_nodes, args)
