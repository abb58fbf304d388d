"""The install space is what `ros2 launch memory_nodes memory.launch.py` needs: the launch file
names only installed executables and the installed parameter file, every node of that file exists,
and every parameter in it is declared by its node. The launch file is parsed, not executed
(launch/launch_ros are not installable here)."""

from __future__ import annotations

import ast
import os

import pytest
import yaml
from conftest import SOURCE_DIR, install_prefix

PREFIX = install_prefix()
SHARE = PREFIX / "share" / "memory_nodes"
LAUNCH_FILE = SHARE / "launch" / "memory.launch.py"


def launch_nodes() -> list[dict[str, str]]:
    """The keyword arguments of each launch_ros Node(...) the launch file creates, with the
    comprehension over MEMORY_NODES expanded."""
    tree = ast.parse(LAUNCH_FILE.read_text())
    constants = {
        target.id: ast.literal_eval(node.value)
        for node in tree.body if isinstance(node, ast.Assign)
        for target in node.targets if isinstance(target, ast.Name)
    }
    nodes = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Node"):
        keywords = {k.arg: k.value for k in call.keywords}
        loop = next((c for c in ast.walk(tree) if isinstance(c, ast.ListComp) and c.elt is call), None)
        values = constants[loop.generators[0].iter.id] if loop is not None else [None]
        for value in values:
            resolved = {}
            for key, expr in keywords.items():
                if isinstance(expr, ast.Constant):
                    resolved[key] = expr.value
                elif isinstance(expr, ast.Name) and loop is not None and expr.id == loop.generators[0].target.id:
                    resolved[key] = value
            nodes.append(resolved)
    return nodes


def test_launch_file_is_installed_and_matches_the_source():
    assert LAUNCH_FILE.read_text() == (SOURCE_DIR / "launch" / "memory.launch.py").read_text()


def test_package_is_registered_in_the_ament_index():
    assert (PREFIX / "share" / "ament_index" / "resource_index" / "packages" / "memory_nodes").exists()
    from ament_index_python.packages import get_package_share_directory

    assert os.path.samefile(get_package_share_directory("memory_nodes"), SHARE)


def test_launch_file_names_installed_executables():
    nodes = launch_nodes()
    assert {n["executable"] for n in nodes} == {"spatial_memory", "temporal_memory", "episodic_memory",
                                                "semantic_memory", "memory_ask", "memory_perception", "memory_mcp",
                                                "memory_view"}
    for node in nodes:
        assert node["package"] == "memory_nodes"
        executable = PREFIX / "lib" / "memory_nodes" / node["executable"]
        assert executable.is_file() and os.access(executable, os.X_OK), executable


def test_launch_file_default_parameter_file_is_installed():
    text = LAUNCH_FILE.read_text()
    assert '"config", "memory.yaml"' in text
    assert (SHARE / "config" / "memory.yaml").is_file()


def test_every_parameter_in_the_file_is_declared_by_its_node(rclpy_context, tmp_path, monkeypatch):
    # The file's memory_directory is the default, $ROS_HOME/memory_nodes: this test's journals go
    # to a folder of its own, not to the one every test run shares.
    monkeypatch.setenv("ROS_HOME", str(tmp_path))
    from memory_nodes.ros.mcp_node import McpNode
    from memory_nodes.ros.memory_system import NODE_CLASSES
    from memory_nodes.ros.view_node import ViewNode

    params = yaml.safe_load((SHARE / "config" / "memory.yaml").read_text())
    nodes_by_name = {f"/**/{n['name']}": n for n in launch_nodes()}
    assert set(params) == set(nodes_by_name), "sections of memory.yaml must match the launched nodes"

    def flatten(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from flatten(f"{prefix}.{key}" if prefix else key, inner)
        else:
            yield prefix, value

    import rclpy

    for node_class in (*NODE_CLASSES, McpNode, ViewNode):
        # a fresh context per node so the file is read exactly as at start-up
        context = rclpy.Context()
        rclpy.init(context=context, args=["--ros-args", "--params-file", str(SHARE / "config" / "memory.yaml")])
        try:
            node = node_class(namespace="memory", context=context)
            section = params[f"/**/{node.get_name()}"]["ros__parameters"]
            for name, value in flatten("", section):
                assert node.has_parameter(name), f"{node.get_name()} does not declare {name}"
                actual = node.get_parameter(name).value
                if isinstance(value, list):
                    assert list(actual) == value, name
                elif isinstance(value, float):
                    assert actual == pytest.approx(value), name
                else:
                    assert actual == value, name
            node.destroy_node()
        finally:
            rclpy.try_shutdown(context=context)


def test_the_readme_parameter_table_is_generated_from_the_declarations():
    """The table is rendered from the same settings the nodes declare; regenerate it with
    `python -m memory_nodes.ros.parameters README.md` when a setting changes."""
    from memory_nodes.ros.parameters import TABLE_BEGIN, TABLE_END, parameter_table

    readme = (SOURCE_DIR / "README.md").read_text()
    documented = readme[readme.index(TABLE_BEGIN):readme.index(TABLE_END) + len(TABLE_END)]
    assert documented == parameter_table(), "README parameter table is out of date"
    assert "`association_distance` | 0.6 | m |" in documented and "[0, 1]" in documented


def test_declared_parameters_carry_unit_and_range_and_bad_values_fail_with_one_error_type(rclpy_context, tmp_path):
    from rclpy.parameter import Parameter

    from memory_nodes.core.errors import ConfigError
    from memory_nodes.ros.ask_node import AskNode
    from memory_nodes.ros.spatial_node import SpatialMemoryNode

    node = SpatialMemoryNode(context=rclpy_context, parameter_overrides=[
        Parameter("memory_directory", value=str(tmp_path)), Parameter("autostart", value=False)])
    descriptor = node.describe_parameter("min_association_score")
    assert descriptor.read_only and descriptor.additional_constraints == "[0, 1]"
    assert "[m]" in node.describe_parameter("association_distance").description
    node.destroy_node()
    for node_class, name, value in ((SpatialMemoryNode, "min_association_score", 1.5),
                                    (SpatialMemoryNode, "snapshot_period_s", 0.0),
                                    (SpatialMemoryNode, "durability", "sometimes"),
                                    (AskNode, "memories", ["spatial", "dreams"]),
                                    (AskNode, "timeout_s", -1.0)):
        with pytest.raises(ConfigError, match=name):
            node_class(context=rclpy_context, parameter_overrides=[
                Parameter("memory_directory", value=str(tmp_path)), Parameter(name, value=value)])


def test_every_declared_parameter_is_documented_in_the_readme(rclpy_context, tmp_path):
    from rclpy.parameter import Parameter

    from memory_nodes.ros.mcp_node import McpNode
    from memory_nodes.ros.memory_system import NODE_CLASSES
    from memory_nodes.ros.view_node import ViewNode

    readme = (SOURCE_DIR / "README.md").read_text()
    missing = []
    for node_class in (*NODE_CLASSES, McpNode, ViewNode):
        overrides = [Parameter("memory_directory", value=str(tmp_path)), Parameter("autostart", value=False),
                     Parameter("recording_path", value=str(tmp_path / "view.rrd"))]
        node = node_class(context=rclpy_context, parameter_overrides=overrides)
        for name in node._parameters:
            if name not in ("use_sim_time", "start_type_description_service") and f"`{name}`" not in readme:
                missing.append(f"{node.get_name()}: {name}")
        node.destroy_node()
    assert not missing, f"parameters missing from the README table: {missing}"


def test_launch_file_gives_every_node_the_large_data_profile():
    """The launch file sets FASTDDS_DEFAULT_PROFILES_FILE (kept from the environment when set,
    else the installed profile) before its nodes start; the installed profile is the default
    participant profile and carries the shared-memory segment that holds whole frames."""
    import xml.etree.ElementTree as ElementTree

    tree = ast.parse(LAUNCH_FILE.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    set_env = [c for c in calls if getattr(c.func, "id", "") == "SetEnvironmentVariable"]
    assert [c.args[0].value for c in set_env] == ["FASTDDS_DEFAULT_PROFILES_FILE"]
    assert any(isinstance(a, ast.Constant) and a.value == "fastdds_large_data.xml" for c in calls for a in c.args)
    profile = SHARE / "config" / "fastdds_large_data.xml"
    namespace = {"dds": "http://www.eprosima.com"}
    root = ElementTree.parse(profile).getroot()
    participant = root.find("dds:profiles/dds:participant", namespace)
    assert participant.get("is_default_profile") == "true"
    assert participant.find("dds:rtps/dds:useBuiltinTransports", namespace).text == "false"
    segment = root.find("dds:profiles/dds:transport_descriptors/dds:transport_descriptor/dds:segment_size", namespace)
    assert int(segment.text) >= 16 * 2 ** 20  # a burst of 640x480 RGB-D frames (1.5 MB each)


def test_a_fresh_shell_sourcing_setup_env_runs_the_executables_as_the_readme_shows():
    """The README's real-data commands (`source setup_env.bash`, then `memory_system`,
    `memory_replay`) from a shell with nothing set: the executables are found on PATH, import
    the installed package with its generated interfaces, and get the large-data profile."""
    import subprocess

    script = (f"source {SOURCE_DIR / 'setup_env.bash'} && command -v memory_system memory_replay && "
              "memory_replay --help && echo profile=$FASTDDS_DEFAULT_PROFILES_FILE && "
              "cd " + str(SOURCE_DIR) + " && python -c 'from memory_nodes.msg import SceneGraph; print(SceneGraph.__name__)'")
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                           env={"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert shell.returncode == 0, shell.stderr
    lines = shell.stdout.splitlines()
    assert lines[0].endswith("lib/memory_nodes/memory_system") and lines[1].endswith("lib/memory_nodes/memory_replay")
    assert "usage: memory_replay" in shell.stdout
    assert f"profile={SOURCE_DIR / 'config' / 'fastdds_large_data.xml'}" in lines
    assert lines[-1] == "SceneGraph"  # from the repository root too, where the source folder comes first
