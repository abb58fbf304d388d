"""Geometric relations between objects (``on``, ``in``, ``next_to``, ``near``), kept as edges of the
scene graph and recomputed for the objects a frame touched."""

from __future__ import annotations

import networkx as nx
import numpy as np

from memory_nodes.core.geometry import aabb_containment
from memory_nodes.core.spatial.config import SpatialConfig
from memory_nodes.core.spatial.state import SceneGraphState
from memory_nodes.core.spatial.types import RELATION_KINDS, SUPPORT_KINDS, ObjectNode, RelationKind

_RELATION_KEYS = frozenset(kind.value for kind in RelationKind)
# Neighbours are looked up by their centre: this margin covers half the size of any neighbour the
# exact distance test below could still accept (objects up to 4 m across), m.
_NEIGHBOUR_MARGIN = 2.0


def relation_kinds(min_a: np.ndarray, max_a: np.ndarray, centre_a: np.ndarray, min_b: np.ndarray,
                   max_b: np.ndarray, centre_b: np.ndarray, config: SpatialConfig) -> np.ndarray:
    """The strongest geometric relation of each box a to its box b, as an index into
    RELATION_KINDS or -1 for none. Boxes are axis-aligned ((..., 3) min and max corners, ``map``)
    with their centres; leading axes broadcast, so one object is tested against many at once."""
    inside_footprint = np.all((min_b[..., :2] <= centre_a[..., :2]) & (centre_a[..., :2] <= max_b[..., :2]), axis=-1)
    on = inside_footprint & (np.abs(min_a[..., 2] - max_b[..., 2]) <= config.on_tolerance)
    volume_a = np.prod(np.clip(max_a - min_a, 0.0, None), axis=-1)
    volume_b = np.prod(np.clip(max_b - min_b, 0.0, None), axis=-1)
    inside = (aabb_containment(min_a, max_a, min_b, max_b) >= config.in_fraction) & (volume_a < volume_b)
    gap = np.clip(np.maximum(min_a, min_b) - np.minimum(max_a, max_b), 0.0, None)
    next_to = (np.hypot(gap[..., 0], gap[..., 1]) <= config.next_to_distance) & (gap[..., 2] <= config.on_tolerance)
    near = np.linalg.norm(centre_a - centre_b, axis=-1) <= config.near_distance
    kinds: np.ndarray = np.select([on, inside, next_to, near], [0, 1, 2, 3], default=-1)
    return kinds


def drop_relations(graph: nx.MultiDiGraph, object_id: str) -> None:
    """Remove every relation edge to or from ``object_id`` (its place edge stays)."""
    edges = list(graph.out_edges(object_id, keys=True)) + list(graph.in_edges(object_id, keys=True))
    for u, v, key in edges:
        if key in _RELATION_KEYS:
            graph.remove_edge(u, v, key=key)


def update_relations(state: SceneGraphState, object_ids: set[str]) -> None:
    """Recompute the relations of ``object_ids`` with every present neighbour, each pair once,
    all pairs in both directions in one vectorised test."""
    config = state.config
    updated = sorted(object_id for object_id in object_ids if object_id in state.objects)
    for object_id in updated:
        drop_relations(state.graph, object_id)
    done: set[str] = set()  # a pair of two updated objects is handled from its first side
    pairs: list[tuple[ObjectNode, ObjectNode]] = []
    for object_id in updated:
        node = state.objects[object_id]
        if not node.counted:
            continue
        done.add(object_id)
        size = float(np.linalg.norm(node.box.extent))
        reach = config.near_distance + size + _NEIGHBOUR_MARGIN
        others = [state.objects[other_id] for other_id in sorted(state.index.near(node.position, reach))
                  if other_id not in done and state.objects[other_id].counted]
        if not others:
            continue
        # Beyond this, no relation can hold: "near" needs the centres, the others the boxes, close.
        limit = config.near_distance + 0.5 * (size + np.linalg.norm([other.box.extent for other in others], axis=1))
        offsets = np.array([other.position for other in others]) - node.position
        pairs += [(node, others[k]) for k in np.flatnonzero((offsets * offsets).sum(axis=1) <= limit * limit)]
    if not pairs:
        return
    mins, maxs = (np.array(corners) for corners in zip(*(node.bounds() for pair in pairs for node in pair)))
    centres = np.array([node.position for pair in pairs for node in pair])
    # Rows 2k and 2k + 1 are the two objects of pair k; test a to b and b to a together.
    order = np.arange(len(centres)).reshape(-1, 2)
    first, second = np.concatenate([order[:, 0], order[:, 1]]), np.concatenate([order[:, 1], order[:, 0]])
    kinds = relation_kinds(mins[first], maxs[first], centres[first], mins[second], maxs[second], centres[second],
                           config).reshape(2, -1).T.tolist()
    for (node, other), (ahead, back) in zip(pairs, kinds):
        if ahead in SUPPORT_KINDS and back not in SUPPORT_KINDS:
            back = -1
        elif back in SUPPORT_KINDS and ahead not in SUPPORT_KINDS:
            ahead = -1
        confidence = min(node.confidence, other.confidence)
        if ahead >= 0:
            state.graph.add_edge(node.id, other.id, key=RELATION_KINDS[ahead].value, confidence=confidence)
        if back >= 0:
            state.graph.add_edge(other.id, node.id, key=RELATION_KINDS[back].value, confidence=confidence)
