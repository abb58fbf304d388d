"""The scene graph as a JSON-able document plus numpy arrays (point clouds), and back; what
``SnapshotStore`` and the journal's snapshots hold. Nothing is pickled."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from memory_nodes.core.geometry import OrientedBox, Pose
from memory_nodes.core.retention import Retention
from memory_nodes.core.spatial.config import SpatialConfig
from memory_nodes.core.spatial.relations import edge_confidence
from memory_nodes.core.spatial.state import SceneGraphState
from memory_nodes.core.spatial.types import (
    GraphLayer,
    LostSighting,
    ObjectNode,
    ObjectStatus,
    PlaceNode,
    RecentSighting,
)

Arrays = dict[str, np.ndarray]


def snapshot(state: SceneGraphState) -> tuple[dict[str, Any], Arrays]:
    """(JSON-able state, arrays) of the whole scene graph."""
    objects, clouds = [], []
    for node in state.objects.values():
        objects.append({
            "id": node.id, "label_counts": dict(node.label_counts),
            "position": node.box.pose.position.tolist(), "orientation": node.box.pose.orientation.tolist(),
            "extent": node.box.extent.tolist(),
            "appearance": None if node.appearance is None else node.appearance.tolist(),
            "first_seen": node.first_seen, "last_seen": node.last_seen,
            "observation_count": node.observation_count, "existence_log_odds": node.existence_log_odds,
            "retention": [node.retention.strength_s, node.retention.reinforced_at],
            "status": node.status.value, "state": node.state, "place_id": node.place_id,
            "tentative": node.tentative, "evidence": node.evidence, "appeared": node.appeared,
            "moved_to": node.moved_to, "partial": node.partial, "label_tiebreak": node.label_tiebreak,
            "travelled_at_last_seen": node.travelled_at_last_seen, "marked_absent_at": node.marked_absent_at,
            "recent": [[r.stamp, *np.asarray(r.position).tolist()] for r in node.recent],
        })
        clouds.append(np.asarray(node.points, dtype=np.float32).reshape(-1, 3))
    places = [{"id": p.id, "layer": p.layer.value, "position": p.position.tolist(), "name": p.name,
               "parent_id": p.parent_id} for p in state.places.nodes.values()]
    edges = [[u, v, k, edge_confidence(state, u, v, k, d)] for u, v, k, d in state.graph.edges(keys=True, data=True)]
    document = {
        "objects": objects, "places": places, "edges": edges,
        "next_object": state.next_object_number, "next_place": state.places.next_place_number,
        "last_place_id": state.places.last_place_id, "robot_room": state.places.robot_room,
        "travelled": state.places.travelled,
        "last_robot_position": (None if state.places.last_robot_position is None
                                else state.places.last_robot_position.tolist()),
        "latest_stamp": state.latest_stamp, "evicted_summary": dict(state.evicted_summary),
        "lost_sightings": [{
            "label": lost.label, "position": lost.position.tolist(),
            "appearance": None if lost.appearance is None else lost.appearance.tolist(), "size": lost.size,
            "evidence": lost.evidence, "observation_count": lost.observation_count, "last_seen": lost.last_seen,
            "sighting_stamps": list(lost.sighting_stamps),
        } for lost in state.lost_sightings],
    }
    counts = np.array([len(c) for c in clouds], dtype=np.int64)
    points = np.vstack(clouds) if clouds else np.zeros((0, 3), np.float32)
    document["observed_stamps"], observed_cells, observed_looks = state.observed.snapshot()
    return document, {"points": points, "point_counts": counts, "observed_cells": observed_cells,
                      "observed_looks": observed_looks}


def restore(config: SpatialConfig, document: dict[str, Any], arrays: Arrays) -> SceneGraphState:
    """A new state equal to the one ``snapshot`` wrote."""
    state = SceneGraphState(config, configured_rooms=False)
    offsets = np.concatenate([[0], np.cumsum(arrays["point_counts"])]).astype(int)
    for index, item in enumerate(document["objects"]):
        node = ObjectNode(
            id=item["id"], label_counts=Counter(item["label_counts"]),
            box=OrientedBox(Pose(np.array(item["position"]), np.array(item["orientation"])), np.array(item["extent"])),
            points=arrays["points"][offsets[index]:offsets[index + 1]].astype(np.float32),
            appearance=None if item["appearance"] is None else np.array(item["appearance"], dtype=np.float32),
            first_seen=item["first_seen"], last_seen=item["last_seen"],
            observation_count=item["observation_count"], existence_log_odds=item["existence_log_odds"],
            retention=Retention(*item["retention"]), status=ObjectStatus(item["status"]), state=item["state"],
            place_id=item["place_id"], tentative=bool(item.get("tentative", False)),
            evidence=float(item.get("evidence", item["observation_count"])), appeared=bool(item.get("appeared", False)),
            moved_to=str(item.get("moved_to", "")), partial=bool(item.get("partial", False)),
            label_tiebreak=str(item.get("label_tiebreak", "")),
            travelled_at_last_seen=float(item.get("travelled_at_last_seen", 0.0)),
            marked_absent_at=None if item.get("marked_absent_at") is None else float(item["marked_absent_at"]),
        )
        node.recent.extend(RecentSighting(r[0], np.array(r[1:4]), node.appearance) for r in item["recent"])
        state.add_object(node)
    for item in document["places"]:
        state.places.add(PlaceNode(item["id"], GraphLayer(item["layer"]), np.array(item["position"]), item["name"],
                                   item["parent_id"]))
    for u, v, key, confidence in document["edges"]:
        state.graph.add_edge(u, v, key=key, confidence=confidence)
    state.next_object_number = int(document["next_object"])
    state.places.next_place_number = int(document["next_place"])
    state.places.last_place_id = document["last_place_id"]
    state.places.robot_room = document["robot_room"]
    state.places.travelled = float(document.get("travelled", 0.0))
    last_robot = document.get("last_robot_position")
    state.places.last_robot_position = None if last_robot is None else np.array(last_robot, dtype=np.float64)
    state.latest_stamp = document["latest_stamp"]
    state.evicted_summary = Counter(document["evicted_summary"])
    state.lost_sightings = [  # snapshots before lost sightings were kept have none
        LostSighting(item["label"], np.array(item["position"], dtype=np.float64),
                     None if item["appearance"] is None else np.array(item["appearance"], dtype=np.float32),
                     float(item["size"]), float(item["evidence"]), int(item["observation_count"]),
                     float(item["last_seen"]), tuple(float(t) for t in item["sighting_stamps"]))
        for item in document.get("lost_sightings", [])]
    if "observed_cells" in arrays:  # snapshots before the record of observed space have none
        state.observed.restore(document["observed_stamps"], arrays["observed_cells"], arrays["observed_looks"])
    return state
