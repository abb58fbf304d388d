"""Start every memory node in the /memory namespace with config/memory.yaml.

    ros2 launch memory_nodes memory.launch.py [params_file:=/path/to/memory.yaml] [namespace:=memory]
        [autostart:=true] [dds_profile:=/path/to/fastdds.xml] [mcp:=false] [view:=false]

autostart:=false leaves the memory nodes unconfigured for a lifecycle manager to bring up.
mcp:=true also starts memory_mcp, the MCP server for LLM agents, on streamable HTTP (port and path
from the params file's memory_mcp section, default http://127.0.0.1:8765/mcp); an agent that starts
the server itself over stdio runs `memory_mcp` directly instead.
view:=true also starts memory_view, which streams the memory to a rerun viewer (start `rerun` first;
the URL is the params file's memory_view.viewer_url) with a timeline to scrub back.
dds_profile defaults to $FASTDDS_DEFAULT_PROFILES_FILE, else the package's large-data profile.

Without ros2 launch, the same nodes and file run in one process:
    memory_system --ros-args --params-file <share>/memory_nodes/config/memory.yaml
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

MEMORY_NODES = ("spatial_memory", "temporal_memory", "episodic_memory", "semantic_memory", "memory_ask",
                "memory_perception")
MANAGED = ("spatial_memory", "temporal_memory", "episodic_memory", "semantic_memory")


def generate_launch_description():
    share = get_package_share_directory("memory_nodes")
    default_params = os.path.join(share, "config", "memory.yaml")
    # Camera frames between processes need shared-memory segments that hold a whole frame; a
    # profile the environment names already is kept.
    default_dds_profile = EnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                                              default_value=os.path.join(share, "config", "fastdds_large_data.xml"))
    params_file = LaunchConfiguration("params_file")
    namespace = LaunchConfiguration("namespace")
    autostart = LaunchConfiguration("autostart")
    nodes = [
        Node(
            package="memory_nodes",
            executable=executable,
            name=executable,
            namespace=namespace,
            parameters=[params_file, {"autostart": autostart}] if executable in MANAGED else [params_file],
            output="screen",
        )
        for executable in MEMORY_NODES
    ]
    mcp_server = Node(
        package="memory_nodes",
        executable="memory_mcp",
        name="memory_mcp",
        namespace=namespace,
        parameters=[params_file, {"transport": "streamable-http", "services_namespace": ["/", namespace]}],
        output="screen",
        condition=IfCondition(LaunchConfiguration("mcp")),
    )
    view = Node(
        package="memory_nodes",
        executable="memory_view",
        name="memory_view",
        namespace=namespace,
        parameters=[params_file],
        output="screen",
        condition=IfCondition(LaunchConfiguration("view")),
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("params_file", default_value=default_params, description="memory parameters"),
            DeclareLaunchArgument("namespace", default_value="memory", description="namespace of every node"),
            DeclareLaunchArgument("autostart", default_value="true", description="configure and activate at start"),
            DeclareLaunchArgument("dds_profile", default_value=default_dds_profile,
                                  description="Fast DDS profile of every node (large camera frames between processes)"),
            DeclareLaunchArgument("mcp", default_value="false",
                                  description="also start the MCP server for LLM agents (streamable HTTP)"),
            DeclareLaunchArgument("view", default_value="false",
                                  description="also stream the memory to a rerun viewer (memory_view)"),
            SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("dds_profile")),
            *nodes,
            mcp_server,
            view,
        ]
    )
