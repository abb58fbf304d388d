"""Memory nodes are lifecycle nodes: opened on configure, fed while active, saved on cleanup and
shutdown, restored on the next configure; management services obey their allow_* parameters."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from memory_nodes.core.geometry import Pose
from memory_nodes.core.spatial import Observation
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.semantic_node import SemanticMemoryNode
from memory_nodes.ros.spatial_node import SpatialMemoryNode
from memory_nodes.srv import AddFact, Reset, Save, WhereIs


def call(executor, node, srv_type, name, request):
    client = node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(request)
    executor.spin_until_future_complete(future, timeout_sec=10.0)
    node.destroy_client(client)
    return future.result()


def spatial(context, tmp_path, **overrides):
    parameters = {"text_search": False, "memory_directory": str(tmp_path), **overrides}
    return SpatialMemoryNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in parameters.items()])


def test_unmanaged_node_waits_and_refuses_until_activated(rclpy_context, tmp_path):
    node = spatial(rclpy_context, tmp_path, autostart=False)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    refused = call(executor, node, WhereIs, "where_is", WhereIs.Request(query="mug"))
    assert not refused.success and "not active" in refused.message
    assert node.memory is None
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.memory is not None and not node.active
    node.trigger_activate()
    assert call(executor, node, WhereIs, "where_is", WhereIs.Request(query="mug")).success
    node.destroy_node()


def deliver(node, frame):
    """An observation frame through the subscription's callback, as the executor calls it, and
    applied from the queue as the executor does when woken."""
    next(s for s in node.subscriptions if s.topic_name.endswith("observations")).callback(frame)
    node.take_waiting()


def test_inputs_while_inactive_are_dropped_and_counted(rclpy_context, tmp_path):
    node = spatial(rclpy_context, tmp_path)
    node.trigger_deactivate()
    frame = cv.frame_to_msg([Observation("mug", Pose(np.array([1.0, 1.0, 0.8])), np.ones(3) * 0.1)], None, 1.0)
    deliver(node, frame)
    assert node.counters.counts["observations.dropped_inactive"] == 1 and len(node.memory) == 0
    node.trigger_activate()
    deliver(node, frame)
    assert len(node.memory) == 1
    node.destroy_node()


def feed(node, label, x, stamp):
    """Two frames that detect ``label`` at x: enough to confirm it."""
    for at in (stamp, stamp + 0.5):
        frame = cv.frame_to_msg([Observation(label, Pose(np.array([x, 1.0, 0.8])), np.ones(3) * 0.1)], None, at)
        deliver(node, frame)


def test_cleanup_saves_and_the_next_configure_restores(rclpy_context, tmp_path):
    first = spatial(rclpy_context, tmp_path)
    feed(first, "mug", 1.0, 5.0)
    first.trigger_deactivate()
    first.trigger_cleanup()
    assert (tmp_path / "spatial.sqlite3").is_file() and first.memory is None
    first.destroy_node()
    second = spatial(rclpy_context, tmp_path)
    assert [o.label for o in second.memory.objects()] == ["mug"]
    feed(second, "apple", 3.0, 6.0)
    second.trigger_shutdown()  # shutdown saves too
    second.destroy_node()
    third = spatial(rclpy_context, tmp_path)
    assert sorted(o.label for o in third.memory.objects()) == ["apple", "mug"]
    feed(third, "vase", 5.0, 7.0)
    third.journal.commit()
    third.destroy_node()  # no shutdown, as after a crash: what was committed is there
    fourth = spatial(rclpy_context, tmp_path)
    assert sorted(o.label for o in fourth.memory.objects()) == ["apple", "mug", "vase"]
    fourth.destroy_node()
    fresh = spatial(rclpy_context, tmp_path, restore_on_configure=False)
    assert len(fresh.memory) == 0
    fresh.destroy_node()
    assert len(spatial(rclpy_context, tmp_path).memory) == 0  # starting over replaced the journal's base


def test_a_corrupt_journal_fails_configure_and_is_left_alone(rclpy_context, tmp_path):
    (tmp_path / "spatial.sqlite3").write_bytes(b"garbage" * 200)
    node = spatial(rclpy_context, tmp_path, autostart=False)
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert (tmp_path / "spatial.sqlite3").read_bytes() == b"garbage" * 200
    node.destroy_node()


def test_management_services_obey_their_parameters(rclpy_context, tmp_path):
    node = SemanticMemoryNode(context=rclpy_context, parameter_overrides=[
        Parameter("text_search", value=False), Parameter("memory_directory", value=str(tmp_path)),
        Parameter("allow_reset", value=False), Parameter("allow_save", value=False)])
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    assert call(executor, node, AddFact, "add_fact", AddFact.Request(subject="a", predicate="likes", object="b",
                                                                     confidence=1.0)).success
    reset = call(executor, node, Reset, "semantic/reset", Reset.Request(confirm=True))
    assert not reset.success and "allow_reset" in reset.message and len(node.memory) == 1
    save = call(executor, node, Save, "semantic/save", Save.Request(name="x"))
    assert not save.success and "allow_save" in save.message and not (tmp_path / "x.npz").exists()
    node.destroy_node()


def test_a_bad_snapshot_name_fails_at_start(rclpy_context, tmp_path):
    with pytest.raises(Exception, match="plain file name"):
        spatial(rclpy_context, tmp_path, snapshot_name="../outside")
