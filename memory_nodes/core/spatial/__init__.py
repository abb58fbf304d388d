"""The spatial memory: a layered 3D scene graph (objects, places, rooms) with re-identification.

Public names are re-exported here; each lives in the module named for what it does (see
``memory.py``'s docstring for the map of the subpackage)."""

from memory_nodes.core.spatial.config import SpatialConfig
from memory_nodes.core.spatial.memory import SpatialMemory
from memory_nodes.core.spatial.relations import relation_kinds
from memory_nodes.core.spatial.types import (
    RELATION_KINDS,
    UNKNOWN_LABEL,
    ChangeKind,
    ChangeRecord,
    FrameResult,
    GraphLayer,
    ObjectNode,
    ObjectStatus,
    Observation,
    PlaceNode,
    RelationKind,
)

__all__ = [
    "RELATION_KINDS", "UNKNOWN_LABEL", "ChangeKind", "ChangeRecord", "FrameResult", "GraphLayer", "ObjectNode",
    "ObjectStatus", "Observation", "PlaceNode", "RelationKind", "SpatialConfig", "SpatialMemory", "relation_kinds",
]
