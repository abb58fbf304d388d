"""ROS parameters from the settings declared once (``core.settings``).

``declare_config`` declares every field of a settings dataclass as a read-only parameter with its
type, default, description, unit and accepted range (``ParameterDescriptor``), reads the values
once, and builds the dataclass, whose validation raises ``ConfigError`` at start-up. Nested
settings (``retention``, ``base_to_camera``) become ``<field>.<name>``. Room polygons, which ROS
parameters cannot hold as nested lists, are ``rooms.names`` (strings), ``rooms.vertex_counts``
(ints) and ``rooms.vertices`` (x0, y0, x1, y1...); furniture boxes are ``furniture.labels``
(strings) and ``furniture.boxes`` (min x, y, z, max x, y, z of each).

``parameter_table()`` renders the same declarations as the README's parameter table;
``python -m memory_nodes.ros.parameters README.md`` rewrites that table in place.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node

from memory_nodes.core.episodic import EpisodicConfig
from memory_nodes.core.errors import ConfigError
from memory_nodes.core.perception import PerceptionConfig
from memory_nodes.core.semantic import SemanticConfig
from memory_nodes.core.settings import SettingRow, setting_rows, spec_of
from memory_nodes.core.spatial import SpatialConfig
from memory_nodes.core.temporal import TemporalConfig
from memory_nodes.ros.node_settings import (
    AskNodeSettings,
    EpisodicNodeSettings,
    FleetNodeSettings,
    McpNodeSettings,
    MemoryNodeSettings,
    PerceptionNodeSettings,
    SemanticNodeSettings,
    SpatialNodeSettings,
    TemporalNodeSettings,
    ViewNodeSettings,
)

_TYPES = {
    float: ParameterType.PARAMETER_DOUBLE,
    int: ParameterType.PARAMETER_INTEGER,
    str: ParameterType.PARAMETER_STRING,
    bool: ParameterType.PARAMETER_BOOL,
}
_ARRAY_TYPES = {
    str: ParameterType.PARAMETER_STRING_ARRAY,
    int: ParameterType.PARAMETER_INTEGER_ARRAY,
    float: ParameterType.PARAMETER_DOUBLE_ARRAY,
}

# Which settings each executable declares, in the order of the README's table.
NODE_SETTINGS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("every memory node", (MemoryNodeSettings,)),
    ("spatial_memory", (SpatialNodeSettings, SpatialConfig)),
    ("temporal_memory", (TemporalNodeSettings, TemporalConfig)),
    ("episodic_memory", (EpisodicNodeSettings, EpisodicConfig)),
    ("semantic_memory", (SemanticNodeSettings, SemanticConfig)),
    ("memory_ask", (AskNodeSettings,)),
    ("memory_perception", (PerceptionNodeSettings, PerceptionConfig)),
    ("memory_mcp", (McpNodeSettings,)),
    ("memory_view", (ViewNodeSettings,)),
    ("memory_fleet", (FleetNodeSettings,)),
)


def declare(node: Node, name: str, default: Any, description: str, constraints: str = "") -> Any:
    """Declare one typed, read-only parameter and return its value (numbers are coerced: 1 -> 1.0)."""
    if isinstance(default, (list, tuple)):
        kind = _ARRAY_TYPES[type(default[0]) if default else str]
    else:
        kind = _TYPES[type(default)]
    descriptor = ParameterDescriptor(description=description, type=kind, read_only=True,
                                     additional_constraints=constraints,
                                     dynamic_typing=kind == ParameterType.PARAMETER_DOUBLE)
    value = node.declare_parameter(name, list(default) if isinstance(default, tuple) else default, descriptor).value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"parameter {name} must be a number, got {value!r}")
        value = float(value)
    if isinstance(default, tuple):
        value = tuple(float(v) for v in value) if default and isinstance(default[0], float) else tuple(value)
    return value


def declare_config(node: Node, config_class: type, prefix: str = "", defaults: Any = None) -> Any:
    """Declare every field of the settings dataclass ``config_class`` as ``<prefix><field>`` (with
    the defaults of ``defaults`` if given) and build it; a bad value raises ``ConfigError``."""
    defaults = defaults if defaults is not None else config_class()
    values: dict[str, Any] = {}
    for field in dataclasses.fields(config_class):
        default = getattr(defaults, field.name)
        name = f"{prefix}{field.name}"
        spec = spec_of(field)
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            values[field.name] = declare_config(node, type(default), f"{name}.", default)
        elif field.name == "rooms":
            values[field.name] = _declare_rooms(node, name)
        elif field.name == "furniture":
            values[field.name] = _declare_furniture(node, name)
        elif spec is not None:
            unit = f" [{spec.unit}]" if spec.unit else ""
            values[field.name] = declare(node, name, default, f"{spec.description}{unit}", spec.range_text())
    try:
        return config_class(**values)
    except TypeError as error:
        raise ConfigError(f"{config_class.__name__}: {error}") from error


def _declare_rooms(node: Node, name: str) -> tuple[tuple[str, tuple[tuple[float, float], ...]], ...]:
    names = declare(node, f"{name}.names", ("",), "room names; empty: rooms are clusters of places")
    counts = declare(node, f"{name}.vertex_counts", (0,), "number of polygon vertices of each room")
    vertices = declare(node, f"{name}.vertices", (0.0,), "room polygons in map, x0 y0 x1 y1 ... [m]")
    names = [n for n in names if n]
    counts = [c for c in counts if c]
    if not names:
        return ()
    if len(counts) != len(names) or 2 * sum(counts) != len(vertices):
        raise ConfigError(f"{name}: {len(names)} names, {len(counts)} vertex counts and {len(vertices)} coordinates "
                          "do not match (need one count per room and two coordinates per vertex)")
    rooms, offset = [], 0
    for room, count in zip(names, counts):
        flat = vertices[offset:offset + 2 * count]
        rooms.append((room, tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))))
        offset += 2 * count
    return tuple(rooms)


def _declare_furniture(node: Node, name: str) -> tuple[tuple[str, tuple[float, ...]], ...]:
    labels = declare(node, f"{name}.labels", ("",), "furniture labels; empty: no furniture map")
    boxes = declare(node, f"{name}.boxes", (0.0,), "furniture boxes in map, min x y z max x y z of each [m]")
    labels = [label for label in labels if label]
    if not labels:
        return ()
    if len(boxes) != 6 * len(labels):
        raise ConfigError(f"{name}: {len(labels)} labels and {len(boxes)} box coordinates do not match (need six "
                          "per piece: min x y z max x y z)")
    return tuple((label, tuple(float(v) for v in boxes[6 * i:6 * i + 6])) for i, label in enumerate(labels))


# ----------------------------------------------------------------- the README's table
TABLE_BEGIN = "<!-- parameter table: generated by `python -m memory_nodes.ros.parameters README.md` -->"
TABLE_END = "<!-- end of parameter table -->"


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_format(v) for v in value) + "]" if value else "[]"
    if isinstance(value, str):
        return f"`{value}`" if value else "''"
    return repr(value) if isinstance(value, float) else str(value)


def _escape(text: str) -> str:
    """Table-safe Markdown: no column breaks, and <name> shown rather than taken for an HTML tag."""
    return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")


def _rows() -> Iterator[tuple[str, SettingRow]]:
    for node, classes in NODE_SETTINGS:
        for config_class in classes:
            for row in setting_rows(config_class):
                yield node, row


def parameter_table() -> str:
    """Every parameter of every node as a Markdown table: node, name, default, unit, meaning."""
    lines = [TABLE_BEGIN, "| node | parameter | default | unit | meaning (accepted values) |", "|---|---|---|---|---|"]
    for node, row in _rows():
        if row.name == "rooms":
            lines.append(f"| {node} | `rooms.names`, `rooms.vertex_counts`, `rooms.vertices` | none | m | "
                         f"{row.description}; without them rooms are clusters of places |")
            continue
        if row.name == "furniture":
            lines.append(f"| {node} | `furniture.labels`, `furniture.boxes` | none | m | {_escape(row.description)} |")
            continue
        meaning = row.description + (f" ({row.accepted})" if row.accepted else "")
        lines.append(f"| {node} | `{row.name}` | {_format(row.default)} | {row.unit} | {_escape(meaning)} |")
    lines.append(TABLE_END)
    return "\n".join(lines)


def rewrite_readme(path: Path) -> bool:
    """Replace the table between the markers in ``path``; True if the file changed."""
    text = path.read_text()
    start, end = text.index(TABLE_BEGIN), text.index(TABLE_END) + len(TABLE_END)
    updated = text[:start] + parameter_table() + text[end:]
    if updated != text:
        path.write_text(updated)
    return updated != text


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print("updated" if rewrite_readme(Path(sys.argv[1])) else "up to date")
    else:
        print(parameter_table())
