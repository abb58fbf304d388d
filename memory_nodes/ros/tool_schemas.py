"""Every planner-facing service as a JSON tool schema, derived from the interfaces themselves.

Field names and types come from the generated service classes (``get_fields_and_field_types``,
recursively for nested messages); the purpose of each service and the meaning and units of each
field come from the comments of the installed ``.srv`` files. Nothing is written by hand beside the
interfaces, so a schema cannot drift from them (test/test_tool_schemas.py checks both ways).

    memory_tool_schemas [--namespace /memory] > memory_tools.json

``request_from_arguments`` turns a tool call's JSON arguments back into the ROS request.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from ament_index_python.packages import get_package_share_directory

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.ros.client import SERVICES

_SCALARS = {
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    **{t: {"type": "integer"} for t in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                                        "octet", "byte", "char")},
}


def _message_class(type_name: str) -> type:
    package, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _field_schema(type_name: str) -> dict[str, Any]:
    """JSON schema of one field type as rosidl names it ('int32', 'sequence<string>', 'geometry_msgs/Point')."""
    sequence = re.fullmatch(r"sequence<(.+?)(?:, \d+)?>", type_name)
    if sequence:
        return {"type": "array", "items": _field_schema(sequence.group(1))}
    array = re.fullmatch(r"(.+)\[(\d+)\]", type_name)
    if array:
        size = int(array.group(2))
        return {"type": "array", "items": _field_schema(array.group(1)), "minItems": size, "maxItems": size}
    bounded = re.fullmatch(r"string<\d+>", type_name)
    if type_name in _SCALARS or bounded:
        return dict(_SCALARS["string" if bounded else type_name])
    message = _message_class(type_name)
    return {
        "type": "object",
        "properties": {name: _field_schema(t) for name, t in message.get_fields_and_field_types().items()},
    }


def _srv_comments(srv_file: Path) -> tuple[str, dict[str, str], dict[str, str]]:
    """(purpose, request field -> comment, response field -> comment) of a .srv file."""
    purpose_lines: list[str] = []
    sections: list[dict[str, str]] = [{}, {}]
    part = 0
    for raw in srv_file.read_text().splitlines():
        line = raw.strip()
        if line == "---":
            part = 1
            continue
        if line.startswith("#"):
            if part == 0 and not sections[0]:
                purpose_lines.append(line.lstrip("# "))
            continue
        if not line:
            continue
        code, _, comment = line.partition("#")
        fields = code.split()
        if len(fields) >= 2:
            sections[part][fields[1]] = comment.strip()
    return " ".join(purpose_lines), sections[0], sections[1]


def service_schema(name: str, srv_type: type, namespace: str = "/memory") -> dict[str, Any]:
    """The tool schema of one service: name, description, parameters (the request), returns."""
    srv_file = Path(get_package_share_directory("memory_nodes")) / "srv" / f"{srv_type.__name__}.srv"
    purpose, request_comments, response_comments = _srv_comments(srv_file)

    def properties(message: type, comments: dict[str, str]) -> dict[str, Any]:
        result = {}
        for field, type_name in message.get_fields_and_field_types().items():
            schema = _field_schema(type_name)
            if comments.get(field):
                schema["description"] = comments[field]
            result[field] = schema
        return result

    return {
        "name": f"memory_{name.replace('/', '_')}",
        "service": f"{namespace.rstrip('/')}/{name}",
        "type": f"memory_nodes/srv/{srv_type.__name__}",
        "description": purpose,
        "parameters": {"type": "object", "properties": properties(srv_type.Request, request_comments),
                       "additionalProperties": False},
        "returns": {"type": "object", "properties": properties(srv_type.Response, response_comments)},
    }


def tool_schemas(namespace: str = "/memory") -> list[dict[str, Any]]:
    """Schemas of every planner-facing service (``client.SERVICES``)."""
    return [service_schema(name, srv_type, namespace) for name, srv_type in SERVICES.items()]


def _checked(value: Any, schema: dict[str, Any], path: str) -> Any:
    """``value`` converted to what a field of ``schema`` holds, or InvalidInputError. The generated
    setters do not check types unless ROS_PYTHON_CHECK_FIELDS is set, so this does."""
    kind = schema["type"]
    if kind == "array":
        if not isinstance(value, list):
            raise InvalidInputError(f"{path} must be a list, got {type(value).__name__}")
        return [_checked(item, schema["items"], f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    expected = {"boolean": bool, "string": str, "integer": int}[kind]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise InvalidInputError(f"{path} must be {kind}, got {value!r}")
    return value


def _assign(message: Any, arguments: dict[str, Any], path: str) -> None:
    fields = message.get_fields_and_field_types()
    if not isinstance(arguments, dict):
        raise InvalidInputError(f"{path or 'request'} must be an object")
    for key, value in arguments.items():
        if key not in fields:
            raise InvalidInputError(f"{path or 'request'} has no field {key!r}; fields: {', '.join(fields)}")
        schema = _field_schema(fields[key])
        if schema["type"] == "object":
            _assign(getattr(message, key), value, f"{path}{key}.")
            continue
        try:
            setattr(message, key, _checked(value, schema, f"{path}{key}"))
        except (TypeError, ValueError, AssertionError) as error:
            raise InvalidInputError(f"{path}{key}: {error}") from error


def request_from_arguments(srv_type: type, arguments: dict[str, Any]) -> Any:
    """The ``srv_type`` request filled from a tool call's JSON ``arguments``; unknown fields and
    wrong types raise ``InvalidInputError`` naming the field."""
    request = srv_type.Request()
    _assign(request, arguments, "")
    return request


def _json_value(value: Any, type_name: str) -> Any:
    sequence = re.fullmatch(r"sequence<(.+?)(?:, \d+)?>", type_name) or re.fullmatch(r"(.+)\[\d+\]", type_name)
    if sequence:
        return [_json_value(item, sequence.group(1)) for item in value]
    if type_name in ("float", "double"):
        number = float(value)
        return number if math.isfinite(number) else None  # JSON has no NaN or infinity
    if type_name in _SCALARS or re.fullmatch(r"string<\d+>", type_name):
        if isinstance(value, bytes):  # octet and byte fields
            return int.from_bytes(value, "little")
        return value if isinstance(value, (bool, str)) else int(value)
    return message_to_json(value)


def message_to_json(message: Any) -> dict[str, Any]:
    """A ROS message (a service response) as the JSON object its ``returns`` schema describes: the
    inverse of ``request_from_arguments``. Non-finite floats become null."""
    return {field: _json_value(getattr(message, field), type_name)
            for field, type_name in message.get_fields_and_field_types().items()}


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the memory services as JSON tool schemas.")
    parser.add_argument("--namespace", default="/memory")
    options = parser.parse_args(args if args is not None else [a for a in sys.argv[1:] if a != "--ros-args"])
    json.dump(tool_schemas(options.namespace), sys.stdout, indent=2)
    print()
    return 0
