"""The README's main job: the installed memory_demo runs the built-in sequence and answers."""

from __future__ import annotations

import os
import subprocess

from conftest import install_prefix

PREFIX = install_prefix()


def test_installed_demo_answers_every_service():
    result = subprocess.run(
        [str(PREFIX / "lib" / "memory_nodes" / "memory_demo"), "--ros-args", "--log-level", "warn",
         "--params-file", str(PREFIX / "share" / "memory_nodes" / "config" / "memory.yaml")],
        capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for service in ("where_is", "query_objects", "get_scene_graph", "query_changes", "object_history",
                    "recall_episodes", "add_fact", "query_facts", "ask"):
        assert f"== {service}(" in out, service
    assert "mug present in room-office" in out
    assert "memories ['spatial', 'temporal', 'episodic', 'semantic']" in out
    assert "terminate called" not in result.stderr
