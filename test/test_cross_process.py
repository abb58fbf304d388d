"""An installed executable serves the package's services to another process over DDS."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid

import numpy as np
import rclpy
from conftest import install_prefix
from rclpy.executors import SingleThreadedExecutor

from memory_nodes.core.geometry import Pose
from memory_nodes.core.spatial import Observation
from memory_nodes.msg import ObjectObservationArray
from memory_nodes.ros import conversions as cv
from memory_nodes.srv import WhereIs

PREFIX = install_prefix()


@contextlib.contextmanager
def installed_process(executable: str, tmp_path, ros_args: list[str], stop_timeout_s: float):
    """Start an installed executable with ``ros_args`` (its output in tmp_path/<executable>.log) and a
    client node of our own; on exit, SIGINT the executable (as Ctrl-C would) and wait for it."""
    log = open(tmp_path / f"{executable}.log", "w")
    process = subprocess.Popen([str(PREFIX / "lib" / "memory_nodes" / executable), "--ros-args", *ros_args],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy())
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f"{executable}_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield process, node, executor
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=stop_timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_installed_spatial_node_answers_where_is_from_another_process(tmp_path):
    namespace = f"/xproc_{uuid.uuid4().hex[:8]}"
    ros_args = ["-r", f"__ns:={namespace}", "-p", "text_search:=false", "-p", f"memory_directory:={tmp_path}"]
    with installed_process("spatial_memory", tmp_path, ros_args, 10.0) as (process, node, executor):
        client = node.create_client(WhereIs, f"{namespace}/where_is")
        assert client.wait_for_service(timeout_sec=30.0), (tmp_path / "spatial_memory.log").read_text()
        publisher = node.create_publisher(ObjectObservationArray, f"{namespace}/observations", 10)
        deadline = time.monotonic() + 10
        while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        observation = Observation("mug", Pose(np.array([1.0, 2.0, 0.8])), np.array([0.1, 0.1, 0.12]))
        candidates = []
        while not candidates and time.monotonic() < deadline:
            publisher.publish(cv.frame_to_msg([observation], None, 42.0))
            future = client.call_async(WhereIs.Request(query="mug", limit=1))
            executor.spin_until_future_complete(future, timeout_sec=5.0)
            assert future.done() and future.result().success, future.result()
            candidates = future.result().candidates
        assert candidates and candidates[0].label == "mug"
        assert abs(candidates[0].pose.position.y - 2.0) < 1e-6
        assert cv.stamp_to_seconds(candidates[0].last_seen) == 42.0
        refused = client.call_async(WhereIs.Request(query="mug", limit=-3))
        executor.spin_until_future_complete(refused, timeout_sec=5.0)
        assert refused.result().success is False and "limit" in refused.result().message
    assert process.returncode == 0, (tmp_path / "spatial_memory.log").read_text()
    assert (tmp_path / "spatial.sqlite3").is_file(), "SIGINT must shut the node down through its lifecycle (saving it)"


def test_installed_memory_system_serves_every_memory_in_one_process(tmp_path):
    """The one-process entry point (the stand-in for ros2 launch): ask reaches all four memories."""
    from memory_nodes.srv import Ask

    namespace = f"/system_{uuid.uuid4().hex[:8]}"
    ros_args = ["-r", f"__ns:={namespace}", "-p", f"memory_directory:={tmp_path}"]
    with installed_process("memory_system", tmp_path, ros_args, 15.0) as (process, node, executor):
        client = node.create_client(Ask, f"{namespace}/ask")
        assert client.wait_for_service(timeout_sec=60.0), (tmp_path / "memory_system.log").read_text()
        answered = []
        deadline = time.monotonic() + 30
        while len(answered) < 4 and time.monotonic() < deadline:  # the evidence services come up one by one
            future = client.call_async(Ask.Request(question="where is the mug?", limit=3))
            executor.spin_until_future_complete(future, timeout_sec=10.0)
            if future.done() and future.result().success:
                answered = list(future.result().memories_answered)
        assert answered == ["spatial", "temporal", "episodic", "semantic"]
    assert process.returncode == 0, (tmp_path / "memory_system.log").read_text()
    memories = ("spatial", "temporal", "episodic", "semantic")
    assert {p.name for p in tmp_path.glob("*.sqlite3")} == {f"{m}.sqlite3" for m in memories}
