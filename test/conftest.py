"""Shared fixtures. Tests run from the colcon build folder against the install space (see
CMakeLists.txt), so ``memory_nodes`` below is the installed package with its generated msg/srv."""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("ROS_HOME", tempfile.mkdtemp(prefix="memory_nodes_ros_home_"))
os.environ.setdefault("ROS_LOG_DIR", os.path.join(os.environ["ROS_HOME"], "log"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# A ROS domain of this test run's own, reserved with domain_coordinator (what ament_cmake_ros'
# isolated tests use) for as long as the run lasts and in which no DDS participant on the host is
# live (memory_nodes/apps/ros_domain.py), so another ROS graph on the host (a robot's stack on the default
# domain 0 or any other, or a second checkout's tests) neither feeds nor hears the nodes under
# test. Set before any test initialises rclpy; subprocesses inherit it.
# (A run that was given a domain explicitly, e.g. by an isolated test runner, keeps it.)
if "MEMORY_NODES_TEST_DOMAIN" not in os.environ:
    from domain_coordinator import domain_id

    from memory_nodes.apps.ros_domain import quiet_domain_selector

    _DOMAIN_RESERVATION = domain_id(quiet_domain_selector())
    os.environ["ROS_DOMAIN_ID"] = str(_DOMAIN_RESERVATION.__enter__())
    os.environ["MEMORY_NODES_TEST_DOMAIN"] = os.environ["ROS_DOMAIN_ID"]
    atexit.register(_DOMAIN_RESERVATION.__exit__, None, None, None)

def _path_from_env(name: str) -> Path | None:
    """A directory named by an environment variable; CTest may prefix it with a path separator."""
    parts = [p for p in os.environ.get(name, "").split(os.pathsep) if p]
    return Path(parts[-1]) if parts else None


SOURCE_DIR = _path_from_env("MEMORY_NODES_SOURCE_DIR") or Path(__file__).resolve().parents[1]


def install_prefix() -> Path:
    """The package's install prefix (colcon: install/memory_nodes)."""
    prefix = _path_from_env("MEMORY_NODES_INSTALL_PREFIX")
    if prefix is not None:
        return prefix
    import memory_nodes

    # <prefix>/lib/python3.X/site-packages/memory_nodes/__init__.py
    return Path(memory_nodes.__file__).resolve().parents[4]


def start_installed(executable: str, ros_args: list[str], stdout: Any, stderr: Any = subprocess.STDOUT,
                    env: dict[str, str] | None = None) -> subprocess.Popen:
    """An installed executable of the package (``lib/memory_nodes/<executable>``, as ``ros2 run``
    starts it) with ``ros_args``, in a session of its own, so that a test can signal it and whatever
    it started as ``ros2 launch`` would (``os.killpg``); ``env`` replaces the test's environment."""
    return subprocess.Popen([str(install_prefix() / "lib" / "memory_nodes" / executable), "--ros-args", *ros_args],
                            stdout=stdout, stderr=stderr, start_new_session=True, env=env)


@pytest.fixture(scope="session")
def encoder():
    from memory_nodes.core.text_embedding import shared_text_encoder

    return shared_text_encoder()


@pytest.fixture
def rclpy_context():
    """An rclpy context of its own, shut down after the test."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


@contextlib.contextmanager
def own_node(name: str) -> Iterator[tuple[Any, Any]]:
    """A node of the test's own in a context of its own (its own DDS participant, as another
    process would have), with a single-threaded executor the test spins; (node, executor),
    destroyed and shut down on exit."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


@contextlib.contextmanager
def spinning(*nodes: Any, executor: Any) -> Iterator[None]:
    """``nodes`` spun by ``executor`` on a thread of its own; on exit the executor is shut down, its
    thread joined and the nodes destroyed (their context stays the caller's)."""
    import threading

    for node in nodes:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        for node in nodes:
            node.destroy_node()


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the fleet tests (test/postgres_server.py); each test makes
    a database of its own with ``create_database``."""
    from postgres_server import ThrowawayPostgres

    cluster = ThrowawayPostgres()
    cluster.initialise()
    cluster.start()
    yield cluster
    cluster.remove()


@contextlib.contextmanager
def spun_client(name: str, namespace: str = "/memory", timeout_s: float = 10.0) -> Iterator[Any]:
    """A ``MemoryClient`` on a node of its own context (as another process would have), spun on a
    thread; closed, destroyed and shut down on exit."""
    import threading

    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from memory_nodes.ros.client import MemoryClient

    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    node = rclpy.create_node(name, context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    client = MemoryClient(node=node, namespace=namespace, timeout_s=timeout_s)
    try:
        yield client
    finally:
        client.close()
        executor.shutdown()
        spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def journaled_flat_scenario(directory: Path) -> Any:
    """The synthetic flat scenario integrated by a spatial memory (rooms from polygons) that journals
    every frame to ``directory``/spatial.sqlite3, as a stopped node leaves it; returns the memory."""
    from memory_nodes.apps.synthetic_scene import ROOMS, flat_scenario
    from memory_nodes.core.spatial import SpatialConfig, SpatialMemory
    from memory_nodes.storage.event_store import SqliteEventStore
    from memory_nodes.storage.events import FrameIntegrated
    from memory_nodes.storage.journal import Journal

    memory = SpatialMemory(SpatialConfig(rooms=ROOMS))
    journal = Journal(memory, "spatial", SqliteEventStore(directory / "spatial.sqlite3", "spatial"))
    for frame in flat_scenario().frames:
        memory.integrate(frame.observations, frame.stamp, frame.view, frame.robot_position)
        journal.record(FrameIntegrated(frame.observations, frame.stamp, frame.view, frame.robot_position))
    journal.store.close()
    return memory
