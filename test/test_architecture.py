"""The layout is the architecture: core/ <- storage/ <- ros/ <- apps/, imports pointing one way.

Walks the whole source tree (no hand-written list of modules): a module may import its own layer
and the layers below it, never one above; nothing under core/ or storage/ imports rclpy, a message
package or the generated interfaces. Also checks the promises that follow: the ROS-free core
installs alone with `pip install .`, and the planner client loads no heavy libraries.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import SOURCE_DIR

LAYERS = ("core", "storage", "ros", "apps")  # lowest first
ROS_FREE = ("core", "storage")
ROS_MODULES = ("rclpy", "rosidl", "rcl_interfaces", "builtin_interfaces", "std_msgs", "std_srvs", "sensor_msgs",
               "geometry_msgs", "nav_msgs", "visualization_msgs", "diagnostic_msgs", "tf2_ros", "ament_index_python",
               "launch", "launch_ros", "memory_nodes.msg", "memory_nodes.srv")


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file at ``path`` of ``package``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if module == "memory_nodes"]
    return found


def violations(root: Path) -> list[str]:
    """Every import in the package at ``root`` (a ``memory_nodes`` folder) that breaks the layering."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if len(parts) == 1:
            if parts != ("__init__",):
                problems.append(f"{path.name}: every module belongs to a layer folder ({', '.join(LAYERS)})")
            continue
        layer = parts[0]
        if layer not in LAYERS:
            problems.append(f"{'/'.join(parts)}: {layer}/ is not a layer ({', '.join(LAYERS)})")
            continue
        package = ".".join(("memory_nodes", *parts[:-1]))
        for line, module in imported_modules(path, package):
            name = f"{'/'.join(parts)}.py:{line}"
            if layer in ROS_FREE and module.startswith(ROS_MODULES):
                problems.append(f"{name} imports {module}: {layer}/ must stay free of ROS")
            if module.startswith("memory_nodes.") and not module.startswith(("memory_nodes.msg", "memory_nodes.srv")):
                target = module.split(".")[1]
                if target in LAYERS and LAYERS.index(target) > LAYERS.index(layer):
                    problems.append(f"{name} imports {module}: {layer}/ may not import the layer above it ({target}/)")
    return problems


def test_imports_point_down_the_layers_only():
    assert violations(SOURCE_DIR / "memory_nodes") == []


def test_the_check_sees_an_upward_import_and_ros_in_the_core(tmp_path):
    root = tmp_path / "memory_nodes"
    for layer in LAYERS:
        (root / layer).mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "core" / "bad.py").write_text("from memory_nodes.ros.client import MemoryClient\n")
    (root / "storage" / "worse.py").write_text("import rclpy\nfrom ..ros import conversions\n")
    (root / "ros" / "fine.py").write_text("from memory_nodes.core.errors import ConfigError\nimport rclpy\n")
    (root / "loose.py").write_text("")
    found = violations(root)
    assert any("core/bad.py:1" in v and "layer above" in v for v in found)
    assert any("storage/worse.py:1" in v and "free of ROS" in v for v in found)
    assert any("storage/worse.py:2" in v and "memory_nodes.ros" in v for v in found)
    assert any("loose.py" in v for v in found)
    assert not any("fine.py" in v for v in found)


BLOCK_ROS = (
    "import importlib.abc, sys\n"
    f"BLOCKED = {ROS_MODULES!r}\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.startswith(BLOCKED):\n"
    "            raise ImportError(f'{name} is blocked: this import must not need ROS')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def test_every_core_and_storage_module_imports_without_ros():
    names = sorted(
        ".".join(("memory_nodes", *p.relative_to(SOURCE_DIR / "memory_nodes").with_suffix("").parts))
        for layer in ROS_FREE for p in (SOURCE_DIR / "memory_nodes" / layer).rglob("*.py") if p.name != "__init__.py")
    assert len(names) > 20
    code = BLOCK_ROS + "".join(f"import {name}\n" for name in names) + "print('ok')\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=SOURCE_DIR)  # the source tree: what pip install . would give
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_pip_install_gives_the_ros_free_core_alone(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(SOURCE_DIR / "setup.py", source)
    shutil.copytree(SOURCE_DIR / "memory_nodes", source / "memory_nodes",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                             "--disable-pip-version-check", "--target", str(target), str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    layers = sorted(p.name for p in (target / "memory_nodes").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert layers == ["core", "storage"]
    code = BLOCK_ROS + (
        f"sys.path.insert(0, {str(target)!r})\n"
        "import memory_nodes.core.spatial, memory_nodes.storage.journal, memory_nodes.storage.portable\n"
        "assert memory_nodes.core.spatial.__file__.startswith(sys.path[0]), memory_nodes.core.spatial.__file__\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_the_planner_client_loads_no_heavy_library():
    code = ("import sys\nfrom memory_nodes.ros.client import MemoryClient\n"
            "print(','.join(sorted(m for m in ('faiss', 'open3d', 'scipy', 'networkx', 'cv2', 'onnxruntime', 'torch')"
            " if m in sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "", f"importing MemoryClient loaded {result.stdout.strip()}"
