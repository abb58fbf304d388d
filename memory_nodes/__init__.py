"""memory_nodes: four robot memories behind ROS 2 services (see the README)."""

from pkgutil import extend_path

# Python started in the repository root imports this source folder before the installed package,
# and only the installed one holds the interfaces rosidl generates (msg, srv): with the installed
# folder on the package's path too, `memory_nodes.msg` resolves wherever Python was started.
__path__ = extend_path(__path__, __name__)
