"""All memory nodes in one process on one multi-threaded executor.

The same nodes and the same parameter file as ``launch/memory.launch.py``, for machines without
``ros2 launch``:  memory_system --ros-args --params-file config/memory.yaml
Each memory node's callbacks share one mutually exclusive group (a memory is never read while it
is written); the ask node's group is reentrant, so the executor needs a thread per memory plus
threads for concurrent questions.
"""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from .ask_node import AskNode
from .episodic_node import EpisodicMemoryNode
from .semantic_node import SemanticMemoryNode
from .spatial_node import SpatialMemoryNode
from .temporal_node import TemporalMemoryNode

NODE_CLASSES = (SpatialMemoryNode, TemporalMemoryNode, EpisodicMemoryNode, SemanticMemoryNode, AskNode)
NAMESPACE = "memory"


def create_memory_nodes(namespace: str = NAMESPACE, **kwargs) -> list[Node]:
    """One instance of every memory node, in ``namespace``; parameters come from the context's
    ``--ros-args`` (e.g. ``--params-file``) or ``kwargs`` (e.g. ``parameter_overrides``)."""
    nodes: list[Node] = []
    try:
        for node_class in NODE_CLASSES:
            nodes.append(node_class(namespace=namespace, **kwargs))
    except Exception:
        for node in nodes:
            node.destroy_node()
        raise
    return nodes


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=sys.argv if args is None else args)
    nodes = create_memory_nodes()
    executor = MultiThreadedExecutor(num_threads=len(nodes) + 3)
    for node in nodes:
        executor.add_node(node)
    nodes[0].get_logger().info(f"memory system up: {', '.join(n.get_fully_qualified_name() for n in nodes)}")
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
