"""The state one scene graph is made of, shared by the pipeline, relations, queries and persistence:
the graph of ids and edges, the object nodes with their index, the place layer, counters."""

from __future__ import annotations

import math
from collections import Counter

import networkx as nx

from memory_nodes.core.spatial.config import SpatialConfig
from memory_nodes.core.spatial.furniture_map import configured_furniture
from memory_nodes.core.spatial.index import ObjectIndex
from memory_nodes.core.spatial.observed_space import ObservedSpace
from memory_nodes.core.spatial.places import PlaceLayer
from memory_nodes.core.spatial.types import GraphLayer, LostSighting, ObjectNode, ObjectStatus

LOST_SIGHTINGS_KEPT = 256  # a bound on memory; a household drops a few dozen ghosts and glimpses in a day


class SceneGraphState:
    """Objects, places, rooms and their edges. ``graph`` holds every node id (with its ``layer``)
    and every edge (keyed by relation; the confidence of an object relation is read from its two
    objects, ``relations.edge_confidence``); ``objects`` the object nodes."""

    def __init__(self, config: SpatialConfig, configured_rooms: bool = True) -> None:
        self.config = config
        self.graph = nx.MultiDiGraph()
        self.objects: dict[str, ObjectNode] = {}
        self.tentative_ids: set[str] = set()  # objects not yet confirmed (see ObjectNode.tentative)
        # No tentative object can be too old before this stamp (a lower bound: sightings only delay it).
        self.tentative_expiry_due = math.inf
        self.index = ObjectIndex(config.index_cell_size)
        self.places = PlaceLayer(config, self.graph, configured_rooms)
        self.observed = ObservedSpace(config.observed_cell_size, config.observed_range)
        self.next_object_number = 1
        self.latest_stamp = 0.0
        self.evicted_summary: Counter[str] = Counter()  # label -> objects dropped at the capacity bound
        self.counters: Counter[str] = Counter()
        self.last_answers: dict[str, str] = {}  # label -> id where_is answered first ("the other mug")
        # object id -> (counted, its index box row) when its relations were last computed
        self.relation_basis: dict[str, tuple[bool, list[float]]] = {}
        # Unconfirmed objects dropped because their place was seen changed, oldest first, waiting for
        # a look-alike elsewhere (see LostSighting); kept ``tentative_max_age_s``, at most LOST_SIGHTINGS_KEPT.
        self.lost_sightings: list[LostSighting] = []
        # Furniture the map knows (``SpatialConfig.furniture``): named by qualifiers, not objects of the graph.
        self.furniture = configured_furniture(config)

    def new_object_id(self) -> str:
        object_id = f"obj-{self.next_object_number}"
        self.next_object_number += 1
        return object_id

    def add_object(self, node: ObjectNode) -> None:
        self.objects[node.id] = node
        if node.tentative:
            self.tentative_ids.add(node.id)
            self.tentative_expiry_due = min(self.tentative_expiry_due,
                                            node.last_seen + self.config.tentative_max_age_s)
        self.index.update(node)
        self.graph.add_node(node.id, layer=GraphLayer.OBJECT.value)

    def release_moves_to(self, object_id: str) -> None:
        """``object_id`` is gone or no longer a separate sighting: objects that may have moved to it
        are where they were (PRESENT) again."""
        for node in self.objects.values():
            if node.moved_to == object_id:
                node.moved_to = ""
                if node.status is ObjectStatus.MAYBE_MOVED:
                    node.status = ObjectStatus.PRESENT

    def remove_object(self, object_id: str) -> None:
        if object_id not in self.tentative_ids:  # only confirmed objects are anybody's new place
            self.release_moves_to(object_id)
        self.objects.pop(object_id, None)
        self.tentative_ids.discard(object_id)
        self.index.remove(object_id)
        self.relation_basis.pop(object_id, None)
        if self.graph.has_node(object_id):
            self.graph.remove_node(object_id)
