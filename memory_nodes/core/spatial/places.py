"""The place and room layers (Hydra): places along the robot's path, rooms from the configured
polygons or, without polygons, clusters of places; objects are attached to the place they were
seen from, or the nearest one, in the room whose polygon holds them."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import numpy as np

from memory_nodes.core.errors import InvalidInputError, UnknownItemError
from memory_nodes.core.spatial.config import SpatialConfig
from memory_nodes.core.spatial.index import CentreTable
from memory_nodes.core.spatial.types import ChangeKind, ChangeRecord, GraphLayer, ObjectNode, PlaceNode

PART_OF = "part_of"
ADJACENT = "adjacent"
AT = "at"


def point_in_polygon(x: float, y: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


class PlaceLayer:
    """Places and rooms of one scene graph, kept in its ``graph`` (``part_of``, ``adjacent`` and
    object-to-place ``at`` edges)."""

    def __init__(self, config: SpatialConfig, graph: nx.MultiDiGraph, configured_rooms: bool = True) -> None:
        """``configured_rooms``: start with the rooms of ``config.rooms`` (a restore brings its own)."""
        self.config = config
        self.graph = graph
        self.nodes: dict[str, PlaceNode] = {}
        self._places = CentreTable()
        self._rooms = CentreTable()  # rooms clustered from places: centres kept for nearest queries
        self._room_size: Counter[str] = Counter()  # room id -> places in it
        self.next_place_number = 1
        self.last_place_id = ""
        self.robot_room = ""
        # The robot's odometer (metres along its path in the map plane): how far it went between
        # two sightings says whether they share one visit's localisation error.
        self.travelled = 0.0
        self.last_robot_position: np.ndarray | None = None
        for name, polygon in config.rooms if configured_rooms else ():
            centre = np.array([np.mean([p[0] for p in polygon]), np.mean([p[1] for p in polygon]), 0.0])
            self.add(PlaceNode(f"room-{name}", GraphLayer.ROOM, centre, name=name))

    def add(self, place: PlaceNode) -> None:
        self.nodes[place.id] = place
        self.graph.add_node(place.id, layer=place.layer.value)
        (self._places if place.layer is GraphLayer.PLACE else self._rooms).append(place.id, place.position)
        if place.parent_id:
            self._room_size[place.parent_id] += 1

    def rooms(self) -> list[PlaceNode]:
        """The room nodes, without a scan of every place (a large map has thousands)."""
        return [self.nodes[room_id] for room_id in self._rooms.ids]

    def nearest_place(self, position: np.ndarray) -> tuple[str | None, float]:
        return self._places.nearest(position)

    def _new_place(self, position: np.ndarray) -> str:
        place_id = f"place-{self.next_place_number}"
        self.next_place_number += 1
        self.add(PlaceNode(place_id, GraphLayer.PLACE, np.array([position[0], position[1], 0.0])))
        self._assign_room(place_id)
        return place_id

    def _assign_room(self, place_id: str) -> None:
        place = self.nodes[place_id]
        in_polygon = self.polygon_room(place.position)
        if in_polygon:
            self._set_parent(place, in_polygon)
            return
        if self.config.rooms:
            return
        # No room polygons: rooms are clusters of places (leader clustering on the room centres).
        room_id, distance = self._rooms.nearest(place.position)
        if room_id is None or distance > self.config.room_cluster_distance:
            room_id = f"room-{len(self._rooms) + 1}"
            self.add(PlaceNode(room_id, GraphLayer.ROOM, place.position.copy()))
        room = self.nodes[room_id]
        self._set_parent(place, room_id)
        room.position = room.position + (place.position - room.position) / self._room_size[room_id]  # member mean
        self._rooms.move(room_id, room.position)

    def _set_parent(self, place: PlaceNode, room_id: str) -> None:
        place.parent_id = room_id
        self._room_size[room_id] += 1
        self.graph.add_edge(place.id, room_id, key=PART_OF, confidence=1.0)

    def observe_robot(self, position: np.ndarray, stamp: float) -> tuple[str, list[ChangeRecord]]:
        """Extend the place layer with the robot at ``position`` (``map``, metres) at ``stamp``
        (seconds): the place the robot is at (a new one if none lies within ``place_spacing``)
        and an "entered_room" change when its room changed."""
        position = np.asarray(position, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(position)):
            raise InvalidInputError(f"robot position contains NaN or infinity: {position.tolist()}")
        if self.last_robot_position is not None:
            self.travelled += float(np.hypot(*(position[:2] - self.last_robot_position[:2])))
        self.last_robot_position = position.copy()
        place_id, distance = self.nearest_place(position)
        if place_id is None or distance > self.config.place_spacing:
            place_id = self._new_place(position)
        last = self.last_place_id
        if last and last != place_id and last in self.nodes and not self.graph.has_edge(last, place_id, key=ADJACENT):
            self.graph.add_edge(last, place_id, key=ADJACENT, confidence=1.0)
            self.graph.add_edge(place_id, last, key=ADJACENT, confidence=1.0)
        self.last_place_id = place_id
        changes = []
        room_id = self.room_of(place_id)
        if room_id and room_id != self.robot_room:
            changes.append(ChangeRecord(ChangeKind.ENTERED_ROOM, room_id, "robot", stamp, position.copy(),
                                        position.copy(),
                                        f"robot entered {room_id} from {self.robot_room or 'nowhere known'}"))
            self.robot_room = room_id
        return place_id, changes

    def polygon_room(self, position: np.ndarray) -> str:
        """The id of the configured room whose polygon holds ``position`` ("" if none does)."""
        for name, polygon in self.config.rooms:
            if point_in_polygon(float(position[0]), float(position[1]), polygon):
                return f"room-{name}"
        return ""

    def attach(self, node: ObjectNode, viewpoint: str = "") -> None:
        """Put ``node`` at a place: the place it was seen from (``viewpoint``, the robot's place
        when the camera saw it) when that is near enough, else its nearest place; with room
        polygons, only a place of the room whose polygon holds the object (a wall between the
        robot's path and the object does not move the object to the robot's room). Objects with no
        such place near get a place of their own, in their room."""
        reach = self.config.own_place_factor * self.config.place_spacing
        room = self.polygon_room(node.position)

        def fits(place_id: str) -> bool:
            place = self.nodes.get(place_id)
            return (place is not None and place.layer is GraphLayer.PLACE and (not room or place.parent_id == room)
                    and float(np.linalg.norm(place.position[:2] - node.position[:2])) <= reach)

        place_id: str | None = viewpoint if viewpoint and fits(viewpoint) else None
        if place_id is None:
            nearest, _ = self.nearest_place(node.position)
            if nearest is not None and fits(nearest):
                place_id = nearest
            elif room:
                in_room = [p for p in self.nodes.values() if p.layer is GraphLayer.PLACE and p.parent_id == room]
                if in_room:
                    best = min(in_room, key=lambda p: float(np.linalg.norm(p.position[:2] - node.position[:2])))
                    place_id = best.id if fits(best.id) else None
        if place_id is None:
            place_id = self._new_place(node.position)
        if node.place_id and self.graph.has_edge(node.id, node.place_id, key=AT):
            self.graph.remove_edge(node.id, node.place_id, key=AT)
        node.place_id = place_id
        self.graph.add_edge(node.id, place_id, key=AT, confidence=1.0)

    def room_of(self, place_id: str) -> str:
        place = self.nodes.get(place_id)
        return place.parent_id if place is not None else ""

    def region(self, place_id: str) -> set[str]:
        """The place ids that ``place_id`` covers: itself, or every place of a room."""
        if place_id not in self.nodes:
            raise UnknownItemError(f"no place or room {place_id!r}")
        if self.nodes[place_id].layer is GraphLayer.ROOM:
            return {p.id for p in self.nodes.values() if p.parent_id == place_id}
        return {place_id}
