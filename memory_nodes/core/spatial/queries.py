"""Questions to the scene graph: objects by label, text, region, place and time; where something
is; a sentence about an object; the neighbourhood of a node. Answers recalled strengthen their
items on the forgetting curve (MemoryBank)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import networkx as nx
import numpy as np

from memory_nodes.core.errors import InvalidInputError, UnknownItemError
from memory_nodes.core.spatial.qualifiers import (
    SATISFIED,
    ParsedQuery,
    parse_query,
    qualifier_factor,
    qualifier_scores,
    relation_score,
    room_names,
)
from memory_nodes.core.spatial.relations import edge_confidence
from memory_nodes.core.spatial.state import SceneGraphState
from memory_nodes.core.spatial.types import ObjectNode, ObjectStatus, RelationKind
from memory_nodes.core.text_embedding import TextEncoder, label_similarity

ScoreComponents = dict[str, float]
# Labels this close to the best match of a relation's target all count ("the table" names every table).
_TARGET_LABEL_SLACK = 0.05


def query_objects(state: SceneGraphState, encoder: TextEncoder | None, label: str = "", text: str = "",
                  center: np.ndarray | None = None, radius: float = 0.0, place_id: str = "",
                  start: float = -math.inf, end: float = math.inf, include_absent: bool = False,
                  limit: int = 20) -> list[tuple[ObjectNode, float]]:
    """Objects matching every given filter, best first with a score in [0, 1]: label (exact),
    free ``text`` (sentence similarity to the label), sphere (``center`` in ``map``, ``radius``
    metres), place or room id, known during [``start``, ``end``] seconds (first seen before the
    end, last seen after the start). Qualifiers in ``text`` ("mugs in the kitchen", "the cup on the
    table") filter, a colour ranks. Tentative (unconfirmed) objects are never reported."""
    if limit < 0:
        raise InvalidInputError(f"limit must be >= 0, got {limit}")
    if radius < 0 or not math.isfinite(radius):
        raise InvalidInputError(f"radius must be finite and >= 0, got {radius}")
    config = state.config
    places = state.places.region(place_id) if place_id else None
    label = label.strip().lower()
    parsed: ParsedQuery | None = parse_query(text, room_names(state)) if text else None
    label_match = matching_labels(state, encoder, parsed.head) if parsed is not None else {}
    if label:
        pool = [state.objects[i] for i in sorted(state.index.with_label(label))]
    elif center is not None and radius > 0:
        pool = [state.objects[i] for i in sorted(state.index.near(center, radius))]
    elif parsed is not None and config.min_label_match > 0:  # only labels close enough to the text answer (``keep``)
        wanted = [known for known, match in label_match.items() if match >= config.min_label_match]
        pool = [state.objects[i] for i in sorted(set().union(*(state.index.with_label(k) for k in wanted)))]
    else:
        pool = list(state.objects.values())
    candidates = [
        o for o in pool
        if not o.tentative and (include_absent or o.present)
        and (not label or o.label == label)
        and (center is None or radius == 0 or np.linalg.norm(o.position - center) <= radius)
        and (places is None or o.place_id in places)
        and o.first_seen <= end and o.last_seen >= start
    ]
    if not candidates:
        return []
    scores = np.array([o.confidence for o in candidates])
    if parsed is not None:
        similarity = np.array([label_match.get(o.label, 0.0) for o in candidates])
        scores = scores * similarity
        keep = similarity >= config.min_label_match
        if parsed.qualified:
            # A filter: "cups in the kitchen" are only those; a colour ranks, it does not exclude.
            targets = _target_finder(state, encoder)
            for index, node in enumerate(candidates):
                if not keep[index]:
                    continue
                qualifiers = qualifier_scores(state, node, parsed, targets, state.last_answers.get(node.label, ""))
                keep[index] = all(v >= SATISFIED for k, v in qualifiers.items() if k != parsed.colour)
                scores[index] *= qualifier_factor(qualifiers)
        candidates = [o for o, k in zip(candidates, keep) if k]
        scores = scores[keep]
    order = np.argsort(-scores, kind="stable")[:limit]
    now = state.latest_stamp
    for index in order:
        candidates[index].retention.reinforce(config.retention, now)
    return [(candidates[i], float(scores[i])) for i in order]


def where_is(state: SceneGraphState, encoder: TextEncoder | None, query: str,
             limit: int = 5) -> list[tuple[ObjectNode, float, ScoreComponents]]:
    """Where objects matching ``query`` (a label or free text, with qualifiers: "the mug on the
    kitchen table", "the red cup", "the book in the bedroom", "the other mug"; see
    ``qualifiers``) were last seen, best first, with the score and its components (label match,
    existence confidence, recency, retention, and "qualifier: ..." for each qualifier, 1 when the
    candidate satisfies it). Tentative objects are not reported."""
    if limit < 0:
        raise InvalidInputError(f"limit must be >= 0, got {limit}")
    if not query.strip():
        raise InvalidInputError("where_is needs a non-empty query")
    config = state.config
    labels = state.index.labels()
    if not labels:
        return []
    parsed = parse_query(query, room_names(state))
    label_match = matching_labels(state, encoder, parsed.head)
    targets = _target_finder(state, encoder)
    now = state.latest_stamp
    # Every component is at most 1 and qualifiers only lower a score, so no object of a label
    # scores above its match times the summed weights: labels are taken best match first, and
    # once that bound falls below the limit-th best score found, the rest cannot reach the answer
    # (a free-text question matches dozens of labels a little; scoring all their objects cost ms).
    ceiling = config.where_weight_existence + config.where_weight_recency + config.where_weight_retention
    label_rank = {label: rank for rank, label in enumerate(label_match)}
    qualified = parsed.qualified
    best: list[float] = []  # min-heap of the ``limit`` best scores so far
    scored = []  # (label rank, node, score, its components): the dicts are made for the answers only
    for label, match in sorted(label_match.items(), key=lambda item: -item[1]):
        if match < config.min_label_match:
            break
        if limit and len(best) == limit and match * ceiling < best[0]:
            break
        for object_id in sorted(state.index.with_label(label)):
            node = state.objects[object_id]
            if node.tentative:
                continue
            existence = node.confidence if node.present else config.absent_score_factor * node.confidence
            recency = math.exp(-max(0.0, now - node.last_seen) / config.recency_scale_s)
            retention = node.retention.value(now)
            score = match * (config.where_weight_existence * existence + config.where_weight_recency * recency
                             + config.where_weight_retention * retention)
            qualifiers = None
            if qualified:
                qualifiers = qualifier_scores(state, node, parsed, targets, state.last_answers.get(node.label, ""))
                score *= qualifier_factor(qualifiers)
            scored.append((label_rank[label], node, score, (match, existence, recency, retention, qualifiers)))
            if limit:
                (heapq.heappush if len(best) < limit else heapq.heappushpop)(best, score)
    # Equal scores in the order a full scan would have found them (label order, then object id),
    # so they rank as they always did.
    scored.sort(key=lambda r: (-r[2], r[0]))
    answers = []
    for _, node, score, (match, existence, recency, retention, qualifiers) in scored[:limit]:
        components = {"label_match": float(match), "existence": existence, "recency": recency, "retention": retention}
        if qualifiers is not None:
            components.update({f"qualifier: {name}": value for name, value in qualifiers.items()})
        answers.append((node, score, components))
        node.retention.reinforce(config.retention, now)
    if answers:
        state.last_answers[answers[0][0].label] = answers[0][0].id  # what "the other <label>" then excludes
    return answers


def matching_labels(state: SceneGraphState, encoder: TextEncoder | None, head: str) -> dict[str, float]:
    """Known label -> similarity in [0, 1] of a question's ``head`` ("mug", "something to drink
    from") to it. When the head names a kind the memory knows ("the mug on the counter"), only
    that kind answers: a cup is not a mug, however well it satisfies the qualifiers."""
    labels = state.index.labels()
    if not labels:
        return {}
    label_match = dict(zip(labels, label_similarity(encoder, head, labels).tolist()))
    if any(match >= 1.0 for match in label_match.values()):
        label_match = {label: match for label, match in label_match.items() if match >= 1.0}
    return label_match


def _target_finder(state: SceneGraphState, encoder: TextEncoder | None) -> Callable[[str], list[ObjectNode]]:
    """text -> the present objects, and the configured furniture (``furniture_map``), whose labels
    match it best (a relation's target: "the table")."""
    labels = state.index.labels()
    labels += [label for label in dict.fromkeys(piece.label for piece in state.furniture) if label not in labels]

    def find(text: str) -> list[ObjectNode]:
        if not labels:
            return []
        similarity = label_similarity(encoder, text, labels, uses=False)
        best = float(similarity.max())
        if best < state.config.min_target_match:
            return []  # "the counter" is not the bottle that happens to be its nearest word
        chosen = [label for label, value in zip(labels, similarity) if value >= best - _TARGET_LABEL_SLACK]
        seen = [state.objects[i] for label in chosen for i in sorted(state.index.with_label(label))
                if state.objects[i].counted]
        return seen + [piece for piece in state.furniture if piece.label in chosen]

    return find


def describe(state: SceneGraphState, node: ObjectNode) -> str:
    """One sentence about ``node`` for planners."""
    where = node.place_id or "an unknown place"
    room = state.places.room_of(node.place_id)
    if room:
        where += f" in {room}"
    x, y, z = node.position
    verb = "is" if node.present else "was last seen"
    if node.status is ObjectStatus.MAYBE_MOVED:
        verb = f"may have moved to where {node.moved_to} was seen; it was last seen"
    supports = (RelationKind.ON.value, RelationKind.IN.value)
    relations = [f"{k} {v}" for _, v, k in state.graph.out_edges(node.id, keys=True) if k in supports]
    relations += [f"{RelationKind.ON.value} {piece.label}" for piece in state.furniture
                  if relation_score(state, node, RelationKind.ON, [piece]) >= 1.0]
    extra = f", {relations[0]}" if relations else ""
    condition = f" ({node.state})" if node.state else ""
    return f"{node.label} {node.id}{condition} {verb} at ({x:.2f}, {y:.2f}, {z:.2f}) m near {where}{extra}"


def subgraph(state: SceneGraphState, root_id: str = "", depth: int = 1) -> nx.MultiDiGraph:
    """The whole graph, or the nodes within ``depth`` hops (either direction) of ``root_id``."""
    if not root_id:
        return state.graph.copy()
    if root_id not in state.graph:
        raise UnknownItemError(f"no node {root_id!r} in the scene graph")
    if depth < 0:
        raise InvalidInputError(f"depth must be >= 0, got {depth}")
    nodes = nx.single_source_shortest_path_length(state.graph.to_undirected(as_view=True), root_id, cutoff=depth)
    found: nx.MultiDiGraph = state.graph.subgraph(nodes).copy()
    return found


def relations(state: SceneGraphState, object_ids: set[str] | None = None) -> list[tuple[str, str, str, float]]:
    """(subject, predicate, object, confidence) of every edge touching ``object_ids`` (all if None)."""
    graph = state.graph
    if object_ids is None:
        return [(u, key, v, edge_confidence(state, u, v, key, data)) for u, v, key, data in graph.edges(keys=True, data=True)]
    # The edges of the given objects only: a frame's update asks for a few objects of thousands.
    found: dict[tuple[str, str, str], float] = {}
    for object_id in object_ids:
        if object_id not in graph:
            continue
        for u, v, key, data in [*graph.out_edges(object_id, keys=True, data=True),
                                *graph.in_edges(object_id, keys=True, data=True)]:
            found[(u, key, v)] = edge_confidence(state, u, v, key, data)
    return [(u, key, v, confidence) for (u, key, v), confidence in found.items()]
