"""Furniture the robot's map knows (``SpatialConfig.furniture``): labelled boxes that qualified
questions can name ("the mug on the kitchen table") when the detector reports no furniture, as
room polygons name rooms without a room detector.

The pieces are fixed: built once from the configuration, never observed, fused, forgotten or
persisted (the configuration is their source), and not objects of the scene graph: counts and
object queries do not report them. Their ids, ``furniture-<n>``, cannot collide with objects'.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from memory_nodes.core.geometry import OrientedBox, Pose
from memory_nodes.core.retention import Retention
from memory_nodes.core.spatial.config import SpatialConfig
from memory_nodes.core.spatial.types import ObjectNode

# A known piece of furniture exists for sure: the log-odds of a probability 1 - 1e-4.
_KNOWN_LOG_ODDS = 9.2


def configured_furniture(config: SpatialConfig) -> tuple[ObjectNode, ...]:
    """One node per configured piece, with its label and box, for the qualifiers' relation tests."""
    pieces = []
    for number, (label, box) in enumerate(config.furniture, start=1):
        low, high = np.array(box[:3], dtype=np.float64), np.array(box[3:], dtype=np.float64)
        pieces.append(ObjectNode(
            id=f"furniture-{number}",
            label_counts=Counter({label.strip().lower(): 1}),
            box=OrientedBox(Pose((low + high) / 2.0), high - low),
            points=np.zeros((0, 3)),
            appearance=None,
            first_seen=0.0,
            last_seen=0.0,
            observation_count=0,
            existence_log_odds=_KNOWN_LOG_ODDS,
            retention=Retention.new(config.retention, 0.0),
        ))
    return tuple(pieces)
