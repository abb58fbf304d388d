"""ROS parameters declared once, from the core's config dataclasses.

Each node declares its memory's configuration fields as read-only parameters with a type, a
default (the dataclass default) and a description (``DESCRIPTIONS``), reads them once, and builds
the dataclass, whose validation raises ``ConfigError`` at start-up. Nested ``retention`` settings
become ``retention.<field>``. Room polygons, which ROS parameters cannot hold as nested lists, are
``rooms.names`` (strings), ``rooms.vertex_counts`` (ints) and ``rooms.vertices`` (x0, y0, x1, y1...).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node

from memory_nodes.core.errors import ConfigError
from memory_nodes.core.retention import RetentionPolicy

DESCRIPTIONS: dict[str, str] = {
    # spatial
    "voxel_size": "voxel size of the object point clouds, m",
    "max_points_per_object": "points kept per object after downsampling",
    "association_distance": "base distance gate for associating an observation with an object, m (grows with object size)",
    "min_association_score": "minimum combined score (geometry, label, appearance) to associate, [0, 1]",
    "weight_geometry": "weight of geometric overlap in the association score",
    "weight_label": "weight of label agreement in the association score",
    "weight_appearance": "weight of appearance similarity in the association score",
    "move_threshold": "displacement (to outside its box) above which an associated object counts as moved; "
                      "a move needs reid_min_appearance, m",
    "reid_min_appearance": "appearance cosine needed to re-identify a missing object elsewhere, [0, 1]",
    "reid_max_age_s": "objects last seen longer ago than this are not re-identified, s",
    "existence_hit": "log-odds added to existence per detection",
    "existence_miss": "log-odds removed per frame in which a visible object is not detected",
    "existence_max": "upper bound of the existence log-odds",
    "absent_log_odds": "existence log-odds at or below which an object is marked absent",
    "occlusion_margin": "depth in front of an object point that counts as occluding it, m",
    "border_px": "image border ignored for negative evidence, px",
    "merge_iou": "3D IoU above which two same-label objects are merged, [0, 1]",
    "fragment_containment": "share of an unmatched observation's box inside an object matched in the same frame "
                            "above which it is a fragment of that object, [0, 1]",
    "split_min_separation": "distance between alternating observation clusters that splits an object, m",
    "split_window": "recent observations examined for a split",
    "place_spacing": "distance along the robot path between places, m",
    "room_cluster_distance": "without room polygons, places within this distance of a room centre join it, m",
    "near_distance": "centre distance for the 'near' relation, m",
    "next_to_distance": "horizontal gap for the 'next_to' relation, m",
    "on_tolerance": "vertical gap allowed for the 'on' relation, m",
    "in_fraction": "share of an object's box inside another for the 'in' relation, [0, 1]",
    "capacity": "items kept before the weakest (forgetting curve) are evicted",
    # temporal
    "max_observations": "observation rows kept before the oldest are compacted",
    "compaction_interval_s": "compacted history keeps one row per entity per interval, s",
    "max_changes": "changes kept before the oldest are dropped",
    # episodic
    "episode_gap_s": "silence that ends an episode, s",
    "max_events_per_episode": "events kept in detail per episode",
    # semantic
    "exclusive_predicates": "predicates that allow one object per subject (contradictions)",
    "support_margin": "how much better supported an older fact must be to beat a newer one",
    "usually_min_share": "share of sightings in one room needed for a 'usually_in' fact, [0, 1]",
    "usually_min_support": "sightings needed for a 'usually_in' fact",
    # perception
    "min_points": "valid depth pixels needed to lift a detection",
    "max_depth": "depth beyond which pixels are ignored, m",
    "depth_band": "depth range kept around the front of a detection, m",
    "box_shrink": "fraction of a box's width/height dropped at each border when there is no mask",
    "max_points": "points kept per observation",
    "min_score": "detections below this score are ignored, [0, 1]",
    "plane_distance": "RANSAC inlier distance for supporting and dominant planes, m",
    "max_planes": "dominant planes removed before clustering (geometric mode)",
    "min_plane_fraction": "share of the points a plane needs to be removed (geometric mode)",
    "cluster_eps": "least DBSCAN radius (geometric mode), m",
    "cluster_min_points": "depth samples a cluster needs to be an object (geometric mode)",
    "min_object_size": "smallest object (largest box side) kept in geometric mode, m",
    "max_object_size": "largest object (largest box side) kept in geometric mode, m",
    "discovery_stride": "pixel stride of the depth samples in geometric mode",
    # retention
    "retention.initial_strength_s": "forgetting-curve strength S of a new item, s",
    "retention.recall_growth": "factor applied to S on each recall",
    "retention.max_strength_s": "upper bound of S, s",
}

_TYPES = {
    float: ParameterType.PARAMETER_DOUBLE,
    int: ParameterType.PARAMETER_INTEGER,
    str: ParameterType.PARAMETER_STRING,
    bool: ParameterType.PARAMETER_BOOL,
}


def declare(node: Node, name: str, default: Any, description: str, read_only: bool = True) -> Any:
    """Declare one typed parameter and return its value (numbers are coerced: 1 -> 1.0)."""
    if isinstance(default, (list, tuple)):
        kind = {str: ParameterType.PARAMETER_STRING_ARRAY, int: ParameterType.PARAMETER_INTEGER_ARRAY,
                float: ParameterType.PARAMETER_DOUBLE_ARRAY}[type(default[0]) if default else str]
    else:
        kind = _TYPES[type(default)]
    descriptor = ParameterDescriptor(description=description, type=kind, read_only=read_only,
                                     dynamic_typing=kind == ParameterType.PARAMETER_DOUBLE)
    value = node.declare_parameter(name, default, descriptor).value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"parameter {name} must be a number, got {value!r}")
        value = float(value)
    return value


def declare_config(node: Node, config_class: type, prefix: str = "") -> Any:
    """Declare every field of ``config_class`` as ``<prefix><field>`` and build the config."""
    hints = typing.get_type_hints(config_class)
    defaults = config_class()
    values: dict[str, Any] = {}
    for field in dataclasses.fields(config_class):
        default = getattr(defaults, field.name)
        name = f"{prefix}{field.name}"
        if hints[field.name] is RetentionPolicy:
            values[field.name] = declare_config(node, RetentionPolicy, prefix=f"{name}.")
        elif field.name == "rooms":
            values[field.name] = _declare_rooms(node, name)
        else:
            key = f"retention.{field.name}" if config_class is RetentionPolicy else field.name
            value = declare(node, name, list(default) if isinstance(default, tuple) else default,
                            DESCRIPTIONS.get(key, key.replace("_", " ")))
            values[field.name] = tuple(value) if isinstance(default, tuple) else value
    try:
        return config_class(**values)
    except TypeError as error:
        raise ConfigError(f"{config_class.__name__}: {error}") from error


def _declare_rooms(node: Node, name: str) -> tuple:
    names = declare(node, f"{name}.names", [""], "room names; empty: rooms are clusters of places")
    counts = declare(node, f"{name}.vertex_counts", [0], "number of polygon vertices of each room")
    vertices = declare(node, f"{name}.vertices", [0.0], "room polygons in map, x0 y0 x1 y1 ..., m")
    names = [n for n in names if n]
    counts = [c for c in counts if c]
    if not names:
        return ()
    if len(counts) != len(names) or 2 * sum(counts) != len(vertices):
        raise ConfigError(f"{name}: {len(names)} names, {len(counts)} vertex counts and {len(vertices)} coordinates "
                          "do not match (need one count per room and two coordinates per vertex)")
    rooms, offset = [], 0
    for room, count in zip(names, counts):
        flat = vertices[offset:offset + 2 * count]
        rooms.append((room, tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))))
        offset += 2 * count
    return tuple(rooms)
