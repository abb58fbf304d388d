"""Shared fixtures. Tests run from the colcon build folder against the install space (see
CMakeLists.txt), so ``memory_nodes`` below is the installed package with its generated msg/srv."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("ROS_HOME", tempfile.mkdtemp(prefix="memory_nodes_ros_home_"))
os.environ.setdefault("ROS_LOG_DIR", os.path.join(os.environ["ROS_HOME"], "log"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

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
