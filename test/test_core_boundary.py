"""The core memories are plain Python: importing them must not import rclpy or message types."""

import subprocess
import sys

CORE_MODULES = [
    "memory_nodes.core.spatial.memory", "memory_nodes.core.temporal", "memory_nodes.core.episodic",
    "memory_nodes.core.semantic", "memory_nodes.core.ask", "memory_nodes.core.geometry", "memory_nodes.core.retention",
    "memory_nodes.core.text_embedding", "memory_nodes.core.vector_index", "memory_nodes.apps.synthetic_scene",
]


def test_core_modules_do_not_import_rclpy():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE_MODULES)
        + "bad = sorted(m for m in sys.modules if m.startswith(('rclpy', 'rosidl', 'memory_nodes.msg', 'memory_nodes.srv')))\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core imports ROS modules: {result.stdout}"
