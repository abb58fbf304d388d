"""The spatial memory as a Spark-DSG ``DynamicSceneGraph`` (Hydra's format), and back.

Export writes what MIT-SPARK's tools read natively: objects in the ``OBJECTS`` layer (name = our
id, semantic label from the layer's labelspace, position, an oriented bounding box,
``world_R_object``, last update time), places in ``PLACES``, rooms in ``ROOMS``, parent-to-child
edges room -> place -> object, place-to-place edges along the robot's path and object-to-object
edges for the geometric relations (on, in, next to, near). Each object's point cloud becomes
vertices of the graph's mesh, referenced by the object's ``mesh_connections``, as Hydra does.
Everything a Hydra node has no field for (label votes, status, existence log-odds, retention, first
seen, move links, the directed keyed edges) is kept in the node's and edge's JSON ``metadata``
under ``memory_nodes``, so an export imports back into the same memory. The record of which space
was looked at (``ObservedSpace``) is not part of a scene graph and is not carried.

Import also takes a graph Hydra built: objects without our metadata become confirmed, present
objects labelled from the labelspace (or their name), with the mesh vertices they reference as
points; places and rooms keep their positions and parent edges. Such a map seeds the memory.

Both directions work on the spatial memory's snapshot (``SpatialMemory.snapshot``/``restore``), so
this module needs no ROS and no access to the memory's internals:

    memory_export --format spark-dsg MEMORY_DIRECTORY graph.json
    memory_import --format spark-dsg graph.json MEMORY_DIRECTORY
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import spark_dsg as dsg

from memory_nodes.core.errors import SnapshotError
from memory_nodes.core.geometry import matrix_to_quaternion, quaternion_to_matrix
from memory_nodes.core.spatial.places import ADJACENT, AT, PART_OF
from memory_nodes.core.spatial.types import UNKNOWN_LABEL, GraphLayer

METADATA_KEY = "memory_nodes"
FORMAT_VERSION = 1
# Hydra's node symbol categories: objects 'O', places 'p', rooms 'R'.
_CATEGORY = {GraphLayer.OBJECT: "O", GraphLayer.PLACE: "p", GraphLayer.ROOM: "R"}
_LAYER = {GraphLayer.OBJECT: dsg.DsgLayers.OBJECTS, GraphLayer.PLACE: dsg.DsgLayers.PLACES,
          GraphLayer.ROOM: dsg.DsgLayers.ROOMS}
# An object of a foreign map is one Hydra kept, i.e. seen consistently: present with this
# existence log-odds (probability 0.88), so a few clear views of its empty place still remove it.
FOREIGN_OBJECT_LOG_ODDS = 2.0
FOREIGN_RETENTION_S = 86400.0
FOREIGN_MIN_EXTENT_M = 0.05  # a foreign object without a valid box: a small cube around its position


def to_spark_dsg(document: dict[str, Any], arrays: dict[str, np.ndarray]) -> dsg.DynamicSceneGraph:
    """The Spark-DSG graph of a spatial snapshot (``SpatialMemory.snapshot()``)."""
    graph = dsg.DynamicSceneGraph()
    symbols: dict[str, dsg.NodeSymbol] = {}
    layers: dict[str, GraphLayer] = {}
    labels = sorted({label for item in document["objects"] for label in item["label_counts"]})
    label_ids = {label: index for index, label in enumerate(labels)}
    graph.set_labelspace(dsg.Labelspace(dict(enumerate(labels))), "OBJECTS")

    offsets = np.concatenate([[0], np.cumsum(arrays["point_counts"])]).astype(int)
    points = np.asarray(arrays["points"], dtype=np.float64).reshape(-1, 3)
    for index, item in enumerate(document["objects"]):
        attributes = dsg.ObjectNodeAttributes()
        x, y, z, w = np.asarray(item["orientation"], dtype=np.float64)
        rotation = quaternion_to_matrix(np.array([x, y, z, w]))
        attributes.name = item["id"]
        attributes.position = np.asarray(item["position"], dtype=np.float64)
        attributes.bounding_box = dsg.BoundingBox(
            dsg.BoundingBoxType.OBB, np.asarray(item["extent"], np.float32), np.asarray(item["position"], np.float32),
            rotation.astype(np.float32))
        attributes.world_R_object = dsg.Quaternion(w, x, y, z)
        label = Counter(item["label_counts"]).most_common(1)[0][0]
        attributes.semantic_label = label_ids[label]
        attributes.last_update_time_ns = round(item["last_seen"] * 1e9)
        attributes.mesh_connections = list(range(offsets[index], offsets[index + 1]))
        extra = {key: value for key, value in item.items() if key not in ("id", "position", "orientation", "extent")}
        attributes.metadata.set({METADATA_KEY: extra})
        symbols[item["id"]] = dsg.NodeSymbol(_CATEGORY[GraphLayer.OBJECT], index)
        layers[item["id"]] = GraphLayer.OBJECT
        graph.add_node(_LAYER[GraphLayer.OBJECT], symbols[item["id"]], attributes)

    counts: Counter[GraphLayer] = Counter()
    for item in document["places"]:
        layer = GraphLayer(item["layer"])
        attributes = dsg.RoomNodeAttributes() if layer is GraphLayer.ROOM else dsg.PlaceNodeAttributes()
        attributes.name = item["id"]
        attributes.position = np.asarray(item["position"], dtype=np.float64)
        attributes.metadata.set({METADATA_KEY: {"name": item["name"], "parent_id": item["parent_id"]}})
        symbols[item["id"]] = dsg.NodeSymbol(_CATEGORY[layer], counts[layer])
        layers[item["id"]] = layer
        counts[layer] += 1
        graph.add_node(_LAYER[layer], symbols[item["id"]], attributes)

    if len(points):
        mesh = dsg.Mesh(False, False, False, False)
        mesh.set_vertices(np.vstack([points.T, np.zeros((3, len(points)))]))  # position rows, colour rows
        graph.mesh = mesh

    # Spark-DSG keeps one undirected edge per pair; ours are directed and keyed (a mug "on" a table,
    # the table "next_to" nothing): the pair's edge carries them all in its metadata.
    pairs: dict[tuple[str, str], list[list[Any]]] = defaultdict(list)
    for u, v, key, confidence in document["edges"]:
        if u in symbols and v in symbols:
            pairs[tuple(sorted((u, v)))].append([u, v, key, confidence])
    order = list(GraphLayer)
    for (a, b), edges in pairs.items():
        parent, child = (a, b) if order.index(layers[a]) >= order.index(layers[b]) else (b, a)
        attributes = dsg.EdgeAttributes()
        attributes.weight = float(max(edge[3] for edge in edges))
        attributes.metadata.set({METADATA_KEY: edges})
        graph.insert_edge(symbols[parent], symbols[child], attributes)

    graph.metadata.add({METADATA_KEY: {
        "format_version": FORMAT_VERSION,
        **{key: document[key] for key in ("next_object", "next_place", "last_place_id", "robot_room", "latest_stamp",
                                          "evicted_summary")},
    }})
    return graph


def _foreign_object(node: Any, label_names: dict[int, str], object_id: str) -> dict[str, Any]:
    attributes = node.attributes
    label = label_names.get(int(attributes.semantic_label)) or attributes.name or UNKNOWN_LABEL
    box = attributes.bounding_box
    position = np.asarray(attributes.position, dtype=np.float64)
    if box.is_valid():
        extent = np.maximum(np.asarray(box.dimensions, dtype=np.float64), 0.0)
        rotation = np.asarray(box.world_R_center, dtype=np.float64) if box.has_rotation() else np.eye(3)
    else:
        extent, rotation = np.full(3, FOREIGN_MIN_EXTENT_M), np.eye(3)
    stamp = (attributes.last_update_time_ns or 0) * 1e-9
    return {
        "id": object_id, "label_counts": {label: 1}, "position": position.tolist(),
        "orientation": matrix_to_quaternion(rotation).tolist(), "extent": extent.tolist(), "appearance": None,
        "first_seen": stamp, "last_seen": stamp, "observation_count": 1,
        "existence_log_odds": FOREIGN_OBJECT_LOG_ODDS, "retention": [FOREIGN_RETENTION_S, stamp],
        "status": "present", "state": "", "place_id": "", "tentative": False, "evidence": 1.0, "appeared": False,
        "moved_to": "", "partial": False, "recent": [],
    }


def from_spark_dsg(graph: dsg.DynamicSceneGraph) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A spatial snapshot (for ``SpatialMemory.restore``) of a Spark-DSG graph: one this module
    exported, or one Hydra built."""
    graph_metadata = dict(graph.metadata.get()).get(METADATA_KEY, {})
    if graph_metadata.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise SnapshotError(f"scene graph written by a newer memory_nodes (format {graph_metadata['format_version']}, "
                            f"this one reads {FORMAT_VERSION})")
    vertices = graph.mesh.get_vertices()[:3].T if graph.has_mesh() else np.zeros((0, 3))
    label_names = dict(graph.get_labelspace("OBJECTS").labels_to_names)
    ids: dict[int, str] = {}
    objects, clouds = [], []
    foreign_number = 0
    for node in graph.get_layer(dsg.DsgLayers.OBJECTS).nodes:
        extra = dict(node.attributes.metadata.get()).get(METADATA_KEY)
        if extra is not None:
            attributes = node.attributes
            rotation = np.asarray(attributes.bounding_box.world_R_center, dtype=np.float64)
            item = {"id": attributes.name, "position": np.asarray(attributes.position).tolist(),
                    "orientation": matrix_to_quaternion(rotation).tolist(),
                    "extent": np.asarray(attributes.bounding_box.dimensions, dtype=np.float64).tolist(), **extra}
        else:
            foreign_number += 1
            item = _foreign_object(node, label_names, f"obj-h{foreign_number}")
        connections = np.asarray(node.attributes.mesh_connections, dtype=np.int64)
        connections = connections[(connections >= 0) & (connections < len(vertices))]
        clouds.append(vertices[connections].astype(np.float32))
        ids[node.id.value] = item["id"]
        objects.append(item)

    places: list[dict[str, Any]] = []
    for layer in (GraphLayer.PLACE, GraphLayer.ROOM):
        if not graph.has_layer(_LAYER[layer]):
            continue
        for node in graph.get_layer(_LAYER[layer]).nodes:
            extra = dict(node.attributes.metadata.get()).get(METADATA_KEY)
            if extra is not None:
                place_id, name = node.attributes.name, extra["name"]
            else:  # a Hydra room's name is its label ("kitchen"): the id our configured rooms would have
                name = node.attributes.name if layer is GraphLayer.ROOM else ""
                place_id = f"room-{name}" if name and f"room-{name}" not in ids.values() \
                    else f"{layer.value}-h{node.id.category_id}"
            ids[node.id.value] = place_id
            places.append({"id": place_id, "layer": layer.value, "position": np.asarray(node.attributes.position).tolist(),
                           "name": name, "parent_id": extra["parent_id"] if extra is not None else ""})

    edges: list[list[Any]] = []
    layer_of = {item["id"]: item["layer"] for item in places}
    place_items = {item["id"]: item for item in places}
    object_items = {item["id"]: item for item in objects}
    for edge in graph.edges:
        if edge.source not in ids or edge.target not in ids:
            continue  # an agent or building node: not part of this memory
        ours = dict(edge.info.metadata.get()).get(METADATA_KEY)
        if ours is not None:
            edges.extend(ours)
            continue
        a, b = ids[edge.source], ids[edge.target]
        kinds = (layer_of.get(a, GraphLayer.OBJECT.value), layer_of.get(b, GraphLayer.OBJECT.value))
        if kinds == (GraphLayer.PLACE.value, GraphLayer.PLACE.value):
            edges += [[a, b, ADJACENT, 1.0], [b, a, ADJACENT, 1.0]]
        elif set(kinds) == {GraphLayer.PLACE.value, GraphLayer.ROOM.value}:
            place, room = (a, b) if kinds[0] == GraphLayer.PLACE.value else (b, a)
            place_items[place]["parent_id"] = room
            edges.append([place, room, PART_OF, 1.0])
        elif set(kinds) == {GraphLayer.OBJECT.value, GraphLayer.PLACE.value}:
            obj, place = (a, b) if kinds[0] == GraphLayer.OBJECT.value else (b, a)
            object_items[obj]["place_id"] = place
            edges.append([obj, place, AT, 1.0])
        # Hydra's object-to-object edges carry no relation kind; ours are recomputed from geometry.

    numbers = [int(item["id"].split("-")[1]) for item in objects if item["id"].split("-")[-1].isdigit()
               and item["id"].startswith("obj-")]
    place_numbers = [int(item["id"].split("-")[1]) for item in places
                     if item["id"].startswith("place-") and item["id"].split("-")[1].isdigit()]
    document = {
        "objects": objects, "places": places, "edges": edges,
        "next_object": graph_metadata.get("next_object", max(numbers, default=0) + 1),
        "next_place": graph_metadata.get("next_place", max(place_numbers, default=0) + 1),
        "last_place_id": graph_metadata.get("last_place_id", ""),
        "robot_room": graph_metadata.get("robot_room", ""),
        "latest_stamp": graph_metadata.get("latest_stamp", max((o["last_seen"] for o in objects), default=0.0)),
        "evicted_summary": graph_metadata.get("evicted_summary", {}),
        "observed_stamps": [],
    }
    counts = np.array([len(c) for c in clouds], dtype=np.int64)
    points = np.vstack(clouds) if clouds else np.zeros((0, 3), np.float32)
    return document, {"points": points.astype(np.float32), "point_counts": counts}


def save_spark_dsg(document: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Write the graph of a spatial snapshot to ``path`` (``.json``, or Spark-DSG binary otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_spark_dsg(document, arrays).save(str(path), include_mesh=True)
    return path


def load_spark_dsg(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The spatial snapshot of a Spark-DSG file; ``SnapshotError`` when it cannot be read."""
    if not path.is_file():
        raise SnapshotError(f"{path}: no such scene graph file")
    try:
        graph = dsg.DynamicSceneGraph.load(str(path))
    except (RuntimeError, ValueError) as error:
        raise SnapshotError(f"{path}: not a Spark-DSG scene graph ({error})") from error
    return from_spark_dsg(graph)
