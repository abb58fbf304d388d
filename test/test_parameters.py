"""Parameters are declared once with descriptors; bad values fail at start-up with a clear error."""

from __future__ import annotations

import pytest
from rclpy.parameter import Parameter

from memory_nodes.core.errors import ConfigError
from memory_nodes.ros.ask_node import AskNode
from memory_nodes.ros.spatial_node import SpatialMemoryNode
from memory_nodes.ros.temporal_node import TemporalMemoryNode


def make(node_class, context, **overrides):
    if node_class is not AskNode:  # nothing of these tests belongs in the shared default memory directory
        overrides.setdefault("persistence", False)
    return node_class(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


def test_defaults_come_from_the_core_config_with_descriptions(rclpy_context):
    node = make(SpatialMemoryNode, rclpy_context, text_search=False)
    assert node.memory.config.voxel_size == node.get_parameter("voxel_size").value == 0.02
    descriptor = node.describe_parameter("association_distance")
    assert "m" in descriptor.description and descriptor.read_only
    assert node.get_parameter("retention.recall_growth").value == 1.5
    node.destroy_node()


def test_overrides_reach_the_memory(rclpy_context):
    node = make(SpatialMemoryNode, rclpy_context, text_search=False, place_spacing=3, capacity=7)
    assert node.memory.config.place_spacing == 3.0 and node.memory.config.capacity == 7
    node.destroy_node()


def test_room_polygons_from_flat_parameters(rclpy_context):
    node = make(SpatialMemoryNode, rclpy_context, text_search=False, **{
        "rooms.names": ["hall"], "rooms.vertex_counts": [3], "rooms.vertices": [0.0, 0.0, 4.0, 0.0, 0.0, 4.0]})
    assert node.memory.config.rooms == (("hall", ((0.0, 0.0), (4.0, 0.0), (0.0, 4.0))),)
    node.destroy_node()


def test_a_furniture_map_from_flat_parameters(rclpy_context):
    node = make(SpatialMemoryNode, rclpy_context, text_search=False, **{
        "furniture.labels": ["kitchen table", "counter"],
        "furniture.boxes": [0.0, 0.0, 0.0, 1.2, 0.8, 0.75, 2.0, 0.0, 0.0, 2.6, 2.4, 0.9]})
    assert node.memory.config.furniture == (("kitchen table", (0.0, 0.0, 0.0, 1.2, 0.8, 0.75)),
                                            ("counter", (2.0, 0.0, 0.0, 2.6, 2.4, 0.9)))
    node.destroy_node()


@pytest.mark.parametrize("overrides,error", [
    ({"voxel_size": -0.1}, ConfigError),
    ({"min_association_score": 1.5}, ConfigError),
    ({"capacity": 0}, ConfigError),
    ({"voxel_size": "small"}, Exception),
    ({"rooms.names": ["a", "b"], "rooms.vertex_counts": [3], "rooms.vertices": [0.0] * 6}, ConfigError),
    ({"furniture.labels": ["table"], "furniture.boxes": [0.0, 0.0, 0.0, 1.0, 1.0]}, ConfigError),
    ({"furniture.labels": ["table"], "furniture.boxes": [0.0, 0.0, 0.0, 1.0, -1.0, 0.7]}, ConfigError),
    ({"snapshot_period_s": 0.0}, ConfigError),
])
def test_bad_spatial_parameters_fail_at_start(rclpy_context, overrides, error):
    with pytest.raises(error):
        make(SpatialMemoryNode, rclpy_context, text_search=False, **overrides)


def test_bad_temporal_and_ask_parameters_fail_at_start(rclpy_context):
    with pytest.raises(ConfigError):
        make(TemporalMemoryNode, rclpy_context, text_search=False, max_observations=3)
    with pytest.raises(ConfigError):
        make(AskNode, rclpy_context, memories=["spatial", "dreams"])
    with pytest.raises(ConfigError):
        make(AskNode, rclpy_context, timeout_s=-1.0)
