"""Geometric relations between objects (``on``, ``in``, ``next_to``, ``near``), kept as edges of the
scene graph and recomputed for the objects a frame touched whose box moved or whose standing changed
since their relations were last computed. A relation edge carries no confidence of its own: it is
that of the less certain of its two objects, read when the edge is (``edge_confidence``)."""

from __future__ import annotations

import networkx as nx
import numpy as np

from memory_nodes.core.spatial.config import SpatialConfig
from memory_nodes.core.spatial.state import SceneGraphState
from memory_nodes.core.spatial.types import RELATION_KINDS, SUPPORT_KINDS, ObjectNode, RelationKind

_RELATION_KEYS = frozenset(kind.value for kind in RelationKind)
# Neighbours are looked up by their centre: this margin covers half the size of any neighbour the
# exact distance test below could still accept (objects up to 4 m across, or the largest indexed
# object when all are smaller), m.
_NEIGHBOUR_MARGIN = 2.0


def relation_kinds(min_a: np.ndarray, max_a: np.ndarray, centre_a: np.ndarray, min_b: np.ndarray,
                   max_b: np.ndarray, centre_b: np.ndarray, config: SpatialConfig) -> np.ndarray:
    """The strongest geometric relation of each box a to its box b, as an index into
    RELATION_KINDS or -1 for none. Boxes are axis-aligned ((..., 3) min and max corners, ``map``)
    with their centres; leading axes broadcast, so one object is tested against many at once."""
    inside_footprint = ((min_b[..., :2] <= centre_a[..., :2]) & (centre_a[..., :2] <= max_b[..., :2])).all(axis=-1)
    on = inside_footprint & (np.abs(min_a[..., 2] - max_b[..., 2]) <= config.on_tolerance)
    span = np.minimum(max_a, max_b) - np.maximum(min_a, min_b)  # the overlap per axis, negative: the gap
    overlap = np.maximum(span, 0.0).prod(axis=-1)
    volume_a = np.maximum(max_a - min_a, 0.0).prod(axis=-1)
    volume_b = np.maximum(max_b - min_b, 0.0).prod(axis=-1)
    # The share of a's volume inside b (as ``aabb_containment``), 0 for a flat a.
    contained = np.divide(overlap, volume_a, out=np.zeros(np.shape(overlap)), where=volume_a > 1e-12)
    inside = (contained >= config.in_fraction) & (volume_a < volume_b)
    gap = np.maximum(-span, 0.0)
    next_to = (np.hypot(gap[..., 0], gap[..., 1]) <= config.next_to_distance) & (gap[..., 2] <= config.on_tolerance)
    offset = centre_a - centre_b
    near = np.sqrt((offset * offset).sum(axis=-1)) <= config.near_distance
    # Weakest first, so that a stronger relation that also holds overwrites it.
    kinds = np.full(np.shape(near), -1)
    for index, holds in ((3, near), (2, next_to), (1, inside), (0, on)):
        kinds[holds] = index
    return kinds


def relation_edges(graph: nx.MultiDiGraph, object_id: str) -> set[tuple[str, str, str]]:
    """(subject, object, relation) of every relation edge to or from ``object_id``."""
    edges = {(object_id, v, key) for v, keys in graph.succ[object_id].items() for key in keys if key in _RELATION_KEYS}
    edges.update((u, object_id, key) for u, keys in graph.pred[object_id].items() for key in keys
                 if key in _RELATION_KEYS)
    return edges


def edge_confidence(state: SceneGraphState, u: str, v: str, key: str, data: dict[str, float]) -> float:
    """The confidence of edge (``u``, ``v``, ``key``): for a relation, that of the less certain of
    its two objects now; for another edge (an object's place), its own, 1 by default."""
    if key in _RELATION_KEYS and u in state.objects and v in state.objects:
        return min(state.objects[u].confidence, state.objects[v].confidence)
    return float(data.get("confidence", 1.0))


def drop_relations(state: SceneGraphState, object_id: str) -> None:
    """Remove every relation edge to or from ``object_id`` (its place edge stays); they are
    computed afresh at its next sighting."""
    for u, v, key in relation_edges(state.graph, object_id):
        state.graph.remove_edge(u, v, key=key)
    state.relation_basis.pop(object_id, None)


def needs_relations(state: SceneGraphState, node: ObjectNode, box: list[float]) -> bool:
    """``node``'s relations may have changed since they were computed: it is new, it became counted
    or stopped being so, or its indexed ``box`` moved more than ``relation_refresh_distance`` (a
    static object seen again keeps its relations; any neighbour that moved recomputes the pair itself)."""
    basis = state.relation_basis.get(node.id)
    if basis is None or basis[0] != node.counted:
        return True
    refresh = state.config.relation_refresh_distance
    return any(abs(a - b) > refresh for a, b in zip(box, basis[1]))


def update_relations(state: SceneGraphState, object_ids: set[str]) -> None:
    """Recompute the relations of those of ``object_ids`` that ``needs_relations`` with every
    present neighbour, each pair once, all pairs in both directions in one vectorised test. Edges
    that still hold stay; only those that changed are removed or added."""
    config, graph = state.config, state.graph
    updated: list[str] = []
    stale: set[tuple[str, str, str]] = set()
    for object_id in sorted(object_ids):
        node = state.objects.get(object_id)
        if node is None:
            continue
        box = state.index.box_row(object_id).tolist()  # read once: to compare, then as the new basis
        if needs_relations(state, node, box):
            updated.append(object_id)
            stale |= relation_edges(graph, object_id)
            state.relation_basis[object_id] = (node.counted, box)
    state.counters["relations_recomputed"] += len(updated)
    heads = [node for node in map(state.objects.__getitem__, updated) if node.counted]
    pairs: list[tuple[ObjectNode, ObjectNode]] = []
    if heads:
        sizes = np.array([node.size for node in heads])
        reaches = config.near_distance + sizes + np.minimum(_NEIGHBOUR_MARGIN, 0.5 * (state.index.largest_size - sizes))
        near_ids = sorted(set().union(*(state.index.near(node.position, reach)
                                        for node, reach in zip(heads, reaches.tolist()))))
        boxes = state.index.boxes(near_ids)
        # Beyond this, no relation can hold: "near" needs the centres, the others the boxes, close.
        limit = config.near_distance + 0.5 * (sizes[:, None] + boxes.sizes[None, :])
        offsets = boxes.centres[None, :, :] - np.array([node.position for node in heads])[:, None, :]
        rank = {node.id: k for k, node in enumerate(heads)}
        for i, j in zip(*(axis.tolist() for axis in np.nonzero((offsets * offsets).sum(axis=2) <= limit * limit))):
            other_id = near_ids[j]
            if rank.get(other_id, len(heads)) <= i:
                continue  # itself, or a pair of two updated objects already taken from the other side
            other = state.objects[other_id]
            if other.counted:
                pairs.append((heads[i], other))
    edges: set[tuple[str, str, str]] = set()
    if pairs:
        boxes = state.index.boxes([node.id for pair in pairs for node in pair])
        # Rows 2k and 2k + 1 are the two objects of pair k; test a to b and b to a together.
        order = np.arange(len(boxes.centres)).reshape(-1, 2)
        first, second = np.concatenate([order[:, 0], order[:, 1]]), np.concatenate([order[:, 1], order[:, 0]])
        kinds = relation_kinds(boxes.lows[first], boxes.highs[first], boxes.centres[first], boxes.lows[second],
                               boxes.highs[second], boxes.centres[second], config).reshape(2, -1).T.tolist()
        for (node, other), (ahead, back) in zip(pairs, kinds):
            if ahead in SUPPORT_KINDS and back not in SUPPORT_KINDS:
                back = -1
            elif back in SUPPORT_KINDS and ahead not in SUPPORT_KINDS:
                ahead = -1
            if ahead >= 0:
                edges.add((node.id, other.id, RELATION_KINDS[ahead].value))
            if back >= 0:
                edges.add((other.id, node.id, RELATION_KINDS[back].value))
    for u, v, key in stale - edges:
        graph.remove_edge(u, v, key=key)
    for u, v, key in sorted(edges - stale):  # in a fixed order: the graph's edge order is its output's
        graph.add_edge(u, v, key=key)
