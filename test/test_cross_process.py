"""An installed executable serves the package's services to another process over DDS."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid

import numpy as np
import pytest
from conftest import SOURCE_DIR, install_prefix, own_node, start_installed

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
    process = start_installed(executable, ros_args, stdout=log)
    try:
        with own_node(f"{executable}_test") as (node, executor):
            yield process, node, executor
    finally:
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


FR1 = SOURCE_DIR.resolve().parent / "shared" / "data" / "tum_fr1_rpy"


def _perception_receives(tmp_path, environment: dict[str, str]) -> tuple[dict[str, int], int]:
    """Replay TUM fr1/rpy (87 frames, 640x480 16-bit depth and 8-bit colour) at its recorded 30 Hz
    from a memory_replay process into a memory_perception process; (what perception counted as
    received per stream, the replay's exit status)."""
    from diagnostic_msgs.msg import DiagnosticArray

    namespace = f"/frames_{uuid.uuid4().hex[:8]}"
    perception = start_installed("memory_perception", ["-r", f"__ns:={namespace}", "-p", "mode:=detections",
                                                       "-p", "diagnostics_period_s:=0.3"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    counts: dict[str, int] = {}

    def take(msg):
        for status in msg.status:
            if status.name.startswith(f"{namespace}/memory_perception"):
                counts.update({kv.key: int(kv.value) for kv in status.values if kv.key.endswith(".received")})

    try:
        with own_node("frame_counter") as (node, executor):
            node.create_subscription(DiagnosticArray, "/diagnostics", take, 50)
            deadline = time.monotonic() + 30
            while "memory_perception" not in node.get_node_names() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
            replay = subprocess.run(
                [str(PREFIX / "lib" / "memory_nodes" / "memory_replay"), "--namespace", namespace, "--rate", "1",
                 "tum", str(FR1), "--intrinsics", "517.3", "516.5", "318.6", "255.3"],
                capture_output=True, timeout=120, env=environment)
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:  # the last diagnostics after the last frame
                executor.spin_once(timeout_sec=0.1)
    finally:
        os.killpg(perception.pid, signal.SIGINT)
        perception.wait(timeout=30)
    assert perception.returncode == 0
    return counts, replay.returncode


@pytest.mark.skipif(not FR1.is_dir(), reason=f"the shared data is not at {FR1}")
def test_every_full_size_frame_from_another_process_reaches_perception(tmp_path):
    """With the package's Fast DDS profile (what every executable applies), every 640x480 frame
    replayed at 30 Hz from another process arrives."""
    environment = {k: v for k, v in os.environ.items() if k != "FASTDDS_DEFAULT_PROFILES_FILE"}
    counts, status = _perception_receives(tmp_path, environment)
    assert status == 0
    print(f"\nwith the package's profile: {counts}")
    assert counts.get("depth.received") == 87 and counts.get("rgb.received") == 87, counts


@pytest.mark.skipif(not FR1.is_dir(), reason=f"the shared data is not at {FR1}")
def test_with_the_stock_transports_frames_are_lost_but_nothing_breaks(tmp_path):
    """What goes wrong without the profile: Fast DDS's built-in transports (shared-memory segments
    of 512 KB, then fragmented UDP) lose most full-size frames on this machine (28-33 of 87
    depth and 13-18 of 87 colour images arrived in three runs). The count is machine-dependent and printed; what is
    checked is that loss is absorbed: both processes end cleanly and no more than was sent arrives."""
    stock = tmp_path / "stock_transports.xml"
    stock.write_text('<?xml version="1.0" encoding="UTF-8" ?>\n<dds xmlns="http://www.eprosima.com"><profiles>'
                     '<participant profile_name="stock" is_default_profile="true"><rtps/></participant>'
                     '</profiles></dds>\n')
    counts, status = _perception_receives(tmp_path, {**os.environ, "FASTDDS_DEFAULT_PROFILES_FILE": str(stock)})
    print(f"\nwith the stock transports: {counts}")
    assert status == 0 and counts.get("depth.received", 0) <= 87 and counts.get("rgb.received", 0) <= 87
