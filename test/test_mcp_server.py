"""The installed ``memory_mcp`` server, reached with the MCP SDK's own client over stdio, forwards to
memory nodes fed by the simulator: tools listed from the .srv-derived schemas, answers checked
against the simulator's truth, service refusals returned as tool errors, the scene graph and the
latest episodes as resources."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import anyio
import numpy as np
import pytest
from conftest import install_prefix
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from simulated_memory import fed_by_simulator

from memory_nodes.ros.client import SERVICES
from memory_nodes.ros.tool_schemas import tool_schemas

FRAMES = 8  # the kitchen table and the counter: two mugs, an apple, a bottle and a bowl, nothing moved yet


@pytest.fixture(scope="module")
def fed_memory():
    """The memory nodes in this process, fed the first frames of the flat scenario by the simulator;
    yields the simulator's labels and positions of the objects seen."""
    with fed_by_simulator(FRAMES) as fed:
        yield fed.truth


def run_client(session_steps):
    """Start the installed memory_mcp over stdio (the SDK's client spawns it) and run
    ``session_steps(session)``; returns what it returns."""
    parameters = StdioServerParameters(command=str(install_prefix() / "lib" / "memory_nodes" / "memory_mcp"),
                                       args=["--ros-args", "-p", "timeout_s:=10.0"], env=dict(os.environ))
    result = {}

    async def main():
        async with stdio_client(parameters, errlog=sys.stderr) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result["value"] = await session_steps(session)

    anyio.run(main)
    return result["value"]


def structured(result):
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def test_agent_lists_tools_from_the_interfaces_and_gets_answers_from_the_fed_memory(fed_memory):
    async def steps(session):
        tools = (await session.list_tools()).tools
        where = structured(await session.call_tool("memory_where_is", {"query": "mug"}))
        bottle = structured(await session.call_tool("memory_where_is", {"query": "something to drink water from"}))
        on_counter = structured(await session.call_tool("memory_where_is", {"query": "the mug on the counter"}))
        event = structured(await session.call_tool("memory_record_event", {
            "kind": "task_started", "task": "fetch the mug", "text": "bring a mug to the sofa"}))
        fact = structured(await session.call_tool("memory_add_fact", {
            "subject": "mug", "predicate": "belongs_to", "object": "alice", "confidence": 0.9}))
        asked = structured(await session.call_tool("memory_ask", {"question": "where is the bowl?"}))
        facts = structured(await session.call_tool("memory_query_facts", {"subject": "mug"}))
        return tools, where, bottle, on_counter, event, fact, asked, facts

    tools, where, bottle, on_counter, event, fact, asked, facts = run_client(steps)

    schemas = {schema["name"]: schema for schema in tool_schemas()}
    assert {tool.name for tool in tools} == {f"memory_{name}" for name in SERVICES} == set(schemas)
    for tool in tools:
        assert tool.input_schema == schemas[tool.name]["parameters"]
        assert tool.description == schemas[tool.name]["description"] != ""

    truth_mugs = [position for label, position in fed_memory.values() if label == "mug"]
    assert len(truth_mugs) == 2
    mugs = [c for c in where["candidates"] if c["label"] == "mug"]
    found = [np.array([c["pose"]["position"][k] for k in "xyz"]) for c in mugs]
    for real in truth_mugs:  # both mugs, each within 15 cm of where the simulator has it
        assert min(np.linalg.norm(f[:2] - real[:2]) for f in found) < 0.15, (found, truth_mugs)
    assert bottle["candidates"][0]["label"] in ("bottle", "mug")
    # The flat's detector reports no furniture: the counter is known from the map (furniture.*
    # parameters), and the answer says the relation holds.
    top = on_counter["candidates"][0]
    found = np.array([top["pose"]["position"][k] for k in "xyz"])
    assert np.linalg.norm(found[:2] - fed_memory["mug2"][1][:2]) < 0.15, (top, fed_memory["mug2"])
    (spatial,) = [e for e in top["evidence"] if e["memory"] == "spatial"]
    assert dict(zip(spatial["component_names"], spatial["component_values"]))["qualifier: on counter"] == 1.0

    assert event["event_id"] and event["episode_id"]
    assert fact["fact_id"]
    assert any(f["predicate"] == "belongs_to" and f["object"] == "alice" for f in facts["facts"])
    assert "spatial" in asked["memories_answered"]
    top = asked["answers"][0]
    assert "bowl" in top["text"], top


def test_refusals_come_back_as_tool_errors_with_the_services_messages(fed_memory):
    async def steps(session):
        return [await session.call_tool(name, arguments) for name, arguments in [
            ("memory_where_is", {"query": 5}),
            ("memory_where_is", {"query": "mug", "colour": "red"}),
            ("memory_where_is", {"query": "mug", "limit": -1}),
            ("memory_record_event", {"kind": "task_exploded", "task": "x"}),
            ("memory_fly", {}),
        ]]

    wrong_type, unknown_field, negative_limit, bad_kind, unknown_tool = run_client(steps)
    for result in (wrong_type, unknown_field, negative_limit, bad_kind, unknown_tool):
        assert result.is_error
    assert "query must be string" in wrong_type.content[0].text
    assert "no field 'colour'" in unknown_field.content[0].text
    assert negative_limit.content[0].text == "where_is: limit must be >= 0, got -1"
    assert "kind must be one of" in bad_kind.content[0].text and "task_exploded" in bad_kind.content[0].text
    assert "unknown tool" in unknown_tool.content[0].text


def test_scene_graph_and_latest_episodes_are_resources(fed_memory):
    async def steps(session):
        await session.call_tool("memory_record_event", {"kind": "note", "text": "the agent looked around"})
        listed = (await session.list_resources()).resources
        graph = await session.read_resource("memory://scene_graph")
        episodes = await session.read_resource("memory://episodes/latest")
        return listed, graph, episodes

    listed, graph, episodes = run_client(steps)
    assert {str(r.uri) for r in listed} == {"memory://scene_graph", "memory://episodes/latest"}
    objects = json.loads(graph.contents[0].text)["objects"]
    assert {label for label, _ in fed_memory.values()} <= {o["label"] for o in objects}
    recent = json.loads(episodes.contents[0].text)
    assert "the agent looked around" in recent[0]["summary"]  # newest first
    assert any("mug" in e["summary"] for e in recent[1:])  # the episode the simulator's frames made


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_streamable_http_transport_serves_the_same_tools(fed_memory, tmp_path):
    port = _free_port()
    log = open(tmp_path / "memory_mcp.log", "w")
    process = subprocess.Popen(
        [str(install_prefix() / "lib" / "memory_nodes" / "memory_mcp"), "--ros-args", "-p",
         "transport:=streamable-http", "-p", f"port:={port}"], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)

    async def main():
        deadline = time.monotonic() + 30.0
        while True:  # until the server listens
            try:
                async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write, *_):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        tools = (await session.list_tools()).tools
                        answer = structured(await session.call_tool("memory_where_is", {"query": "bowl"}))
                        return tools, answer
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                await anyio.sleep(0.5)

    try:
        tools, answer = anyio.run(main)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=15.0)
        log.close()
    assert {tool.name for tool in tools} == {f"memory_{name}" for name in SERVICES}
    assert answer["candidates"][0]["label"] == "bowl"
    bowl = next(position for label, position in fed_memory.values() if label == "bowl")
    found = answer["candidates"][0]["pose"]["position"]
    assert np.hypot(found["x"] - bowl[0], found["y"] - bowl[1]) < 0.15
    assert process.returncode == 0, (tmp_path / "memory_mcp.log").read_text()


def test_a_bad_parameter_stops_the_server_at_start_with_a_clear_error():
    result = subprocess.run([str(install_prefix() / "lib" / "memory_nodes" / "memory_mcp"), "--ros-args", "-p",
                             "transport:=carrier-pigeon"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "transport" in result.stderr and "carrier-pigeon" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_agent_asks_what_was_seen_in_a_time_window(fed_memory):
    async def steps(session):
        kitchen_table = structured(await session.call_tool("memory_seen_between", {
            "start": {"sec": 100, "nanosec": 0}, "end": {"sec": 101, "nanosec": 600_000_000}}))
        counter = structured(await session.call_tool("memory_seen_between", {
            "start": {"sec": 111, "nanosec": 0}, "end": {"sec": 114, "nanosec": 0}, "label": "bowl"}))
        unordered = await session.call_tool("memory_seen_between", {
            "start": {"sec": 114, "nanosec": 0}, "end": {"sec": 111, "nanosec": 0}})
        return kitchen_table, counter, unordered

    kitchen_table, counter, unordered = run_client(steps)
    assert sorted(kitchen_table["labels"]) == ["apple", "mug"]
    assert counter["labels"] == ["bowl"]
    bowl = next(position for label, position in fed_memory.values() if label == "bowl")
    found = counter["positions"][0]
    assert np.hypot(found["x"] - bowl[0], found["y"] - bowl[1]) < 0.15
    assert counter["last_seen"][0]["sec"] == 113 and counter["first_seen"][0]["sec"] == 112
    assert unordered.is_error and "after end" in unordered.content[0].text
