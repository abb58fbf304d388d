"""All memory nodes in one process on one multi-threaded executor.

The same nodes and the same parameter file as ``launch/memory.launch.py``, for machines without
``ros2 launch``:  memory_system --ros-args --params-file config/memory.yaml
Each memory node's callbacks share one mutually exclusive group (a memory is never read while it
is written), so the four memories are updated in parallel with each other; the ask node's group is
reentrant, so the executor needs a thread per memory plus threads for concurrent questions.
SIGINT or SIGTERM shuts the memory nodes down through their lifecycle, which saves them.
"""

from __future__ import annotations

from rclpy.node import Node

from memory_nodes.ros.ask_node import AskNode
from memory_nodes.ros.episodic_node import EpisodicMemoryNode
from memory_nodes.ros.memory_node import run_nodes
from memory_nodes.ros.perception_node import PerceptionNode
from memory_nodes.ros.semantic_node import SemanticMemoryNode
from memory_nodes.ros.spatial_node import SpatialMemoryNode
from memory_nodes.ros.temporal_node import TemporalMemoryNode

NODE_CLASSES = (PerceptionNode, SpatialMemoryNode, TemporalMemoryNode, EpisodicMemoryNode, SemanticMemoryNode, AskNode)
NAMESPACE = "memory"


def create_memory_nodes(namespace: str = NAMESPACE, node_classes: tuple[type, ...] = NODE_CLASSES, **kwargs) -> list[Node]:
    """One instance of each of ``node_classes`` (every memory node), in ``namespace``; parameters
    come from the context's ``--ros-args`` (e.g. ``--params-file``) or ``kwargs`` (e.g.
    ``parameter_overrides``). Nodes already built are destroyed when one fails."""
    nodes: list[Node] = []
    try:
        for node_class in node_classes:
            nodes.append(node_class(namespace=namespace, **kwargs))
    except Exception:
        for node in nodes:
            node.destroy_node()
        raise
    return nodes


def main(args: list[str] | None = None) -> int:
    return run_nodes(create_memory_nodes, args)
