"""JSON tool schemas are derived from the generated service types and agree with them."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import install_prefix

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.ros.client import SERVICES
from memory_nodes.ros.tool_schemas import request_from_arguments, tool_schemas
from memory_nodes.srv import QueryObjects, RecordEvent, WhereIs

JSON_TYPES = {"boolean": bool, "string": str, "integer": int, "number": float}


def check_value_against_schema(value, schema):
    if schema["type"] == "object":
        assert set(schema["properties"]) == set(value.get_fields_and_field_types())
        for name, inner in schema["properties"].items():
            check_value_against_schema(getattr(value, name), inner)
    elif schema["type"] == "array":
        assert hasattr(value, "__len__")
    else:
        assert isinstance(value, JSON_TYPES[schema["type"]]) or (schema["type"] == "number" and isinstance(value, int))


def test_every_service_has_a_schema_matching_its_request_and_response():
    schemas = {s["service"]: s for s in tool_schemas()}
    assert set(schemas) == {f"/memory/{name}" for name in SERVICES}
    for name, srv_type in SERVICES.items():
        schema = schemas[f"/memory/{name}"]
        assert schema["description"], name
        check_value_against_schema(srv_type.Request(), schema["parameters"])
        check_value_against_schema(srv_type.Response(), schema["returns"])


def test_descriptions_carry_units_and_frames_from_the_srv_comments():
    schema = next(s for s in tool_schemas() if s["name"] == "memory_query_objects")
    radius = schema["parameters"]["properties"]["radius"]
    assert radius["type"] == "number" and "metres" in radius["description"]
    assert schema["parameters"]["properties"]["center"]["properties"].keys() == {"x", "y", "z"}
    assert schema["returns"]["properties"]["objects"]["items"]["properties"]["pose"]["type"] == "object"
    assert schema["parameters"]["properties"]["start"]["properties"].keys() == {"sec", "nanosec"}


def test_tool_call_arguments_become_a_request():
    request = request_from_arguments(QueryObjects, {"text": "red mug", "center": {"x": 1.0, "y": 2.0, "z": 0.0},
                                                    "radius": 1.5, "limit": 3})
    assert request.text == "red mug" and request.center.y == 2.0 and request.limit == 3
    assert request_from_arguments(RecordEvent, {"kind": "note", "object_ids": ["obj-1"]}).object_ids == ["obj-1"]
    with pytest.raises(InvalidInputError, match="no field 'colour'"):
        request_from_arguments(WhereIs, {"colour": "red"})
    with pytest.raises(InvalidInputError, match="limit"):
        request_from_arguments(WhereIs, {"query": "mug", "limit": "three"})


def test_installed_executable_prints_the_schemas():
    result = subprocess.run([str(install_prefix() / "lib" / "memory_nodes" / "memory_tool_schemas"),
                             "--namespace", "/robot1/memory"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    schemas = json.loads(result.stdout)
    assert {s["service"] for s in schemas} == {f"/robot1/memory/{name}" for name in SERVICES}
