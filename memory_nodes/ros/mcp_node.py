"""The memory as an MCP server for LLM agents (the official ``mcp`` Python SDK).

Tools       one per planner service (``client.SERVICES``): name, description, input schema and output
            schema are the JSON tool schemas derived from the installed ``.srv`` files
            (``tool_schemas``), never written here. A call is turned into the ROS request
            (``request_from_arguments``), forwarded to the live service, and its response returned
            as structured content (and as JSON text); a malformed call, a missing service, a
            timeout or a service's ``success=false`` comes back as a tool error carrying the
            service's own message, so the agent can correct itself.
Resources   ``memory://scene_graph``: the whole scene graph (get_scene_graph);
            ``memory://episodes/latest``: the latest episodes (recall_episodes without text, which
            ranks by recency; recalling reinforces them, as any recall does).

Transport   stdio by default (the agent starts ``memory_mcp`` and speaks on its stdin/stdout; every
            other output of the process goes to stderr so it never corrupts the wire), or streamable
            HTTP on ``host:port`` + ``http_path``.

The ROS node (parameters, service clients) spins on a thread of its own; the MCP server runs on the
main thread's event loop and waits for services on worker threads, so neither blocks the other.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from io import TextIOWrapper
from typing import Any

import anyio
import mcp_types as types
import rclpy
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from memory_nodes.core.errors import ConfigError, InvalidInputError
from memory_nodes.ros.client import SERVICES, MemoryClient, MemoryServiceError
from memory_nodes.ros.memory_node import StopOnFirstSignal
from memory_nodes.ros.middleware import use_large_data_profile
from memory_nodes.ros.node_settings import McpNodeSettings
from memory_nodes.ros.parameters import declare_config
from memory_nodes.ros.tool_schemas import message_to_json, request_from_arguments, tool_schemas
from memory_nodes.srv import GetSceneGraph, RecallEpisodes

SCENE_GRAPH_URI = "memory://scene_graph"
EPISODES_URI = "memory://episodes/latest"
SERVER_NAME = "memory_nodes"
INSTRUCTIONS = (
    "A robot's memory: a 3D scene graph of objects, places and rooms (spatial), what was where when "
    "(temporal), episodes of what happened (episodic) and facts (semantic). Positions are metres in the "
    "'map' frame; times are ROS stamps {sec, nanosec}. Ask 'memory_ask' first for free questions, "
    "'memory_where_is' to find an object, and report task outcomes with 'memory_record_event'."
)


class MemoryMcpBridge:
    """Tools and resources of the MCP server, forwarded to the memory services by ``client``."""

    def __init__(self, client: MemoryClient, namespace: str, timeout_s: float, episodes_in_resource: int) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.episodes_in_resource = episodes_in_resource
        self.schemas = {schema["name"]: schema for schema in tool_schemas(namespace)}
        self._services = {f"memory_{name}": (name, srv_type) for name, srv_type in SERVICES.items()}
        self.tools = [types.Tool(name=schema["name"], description=schema["description"],
                                 input_schema=schema["parameters"], output_schema=schema["returns"])
                      for schema in self.schemas.values()]

    def server(self) -> Server[Any]:
        return Server(SERVER_NAME, instructions=INSTRUCTIONS, on_list_tools=self._list_tools,
                      on_call_tool=self._call_tool, on_list_resources=self._list_resources,
                      on_read_resource=self._read_resource)

    def _forward(self, name: str, srv_type: type, arguments: dict[str, Any]) -> dict[str, Any]:
        request = request_from_arguments(srv_type, arguments)
        return message_to_json(self.client.call(name, srv_type, request, timeout_s=self.timeout_s))

    async def _list_tools(self, _ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tools)

    async def _call_tool(self, _ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name not in self._services:
            return _tool_error(f"unknown tool {params.name!r}; tools: {', '.join(self._services)}")
        name, srv_type = self._services[params.name]
        try:
            result = await anyio.to_thread.run_sync(self._forward, name, srv_type, params.arguments or {})
        except (InvalidInputError, MemoryServiceError) as error:
            return _tool_error(str(error))
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(result))], structured_content=result)

    async def _list_resources(self, _ctx: Any, _params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[
            types.Resource(uri=SCENE_GRAPH_URI, name="scene_graph", mime_type="application/json",
                           description="The whole scene graph: objects, places, rooms and relations in 'map'."),
            types.Resource(uri=EPISODES_URI, name="latest_episodes", mime_type="application/json",
                           description=f"The {self.episodes_in_resource} most recent episodes, newest first."),
        ])

    async def _read_resource(self, _ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == SCENE_GRAPH_URI:
            name, srv_type, arguments = "get_scene_graph", GetSceneGraph, {}
        elif uri == EPISODES_URI:
            name, srv_type, arguments = "recall_episodes", RecallEpisodes, {"limit": self.episodes_in_resource}
        else:
            raise ValueError(f"unknown resource {uri!r}; resources: {SCENE_GRAPH_URI}, {EPISODES_URI}")
        result = await anyio.to_thread.run_sync(self._forward, name, srv_type, arguments)
        body = result["graph"] if uri == SCENE_GRAPH_URI else result["episodes"]
        return types.ReadResourceResult(contents=[
            types.TextResourceContents(uri=uri, mime_type="application/json", text=json.dumps(body))])


def _tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


class McpNode(Node):
    """Parameters and service clients of the MCP server."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("memory_mcp", **kwargs)
        self.settings = declare_config(self, McpNodeSettings)
        self.client = MemoryClient(node=self, namespace=self.settings.services_namespace,
                                   timeout_s=self.settings.timeout_s)
        self.bridge = MemoryMcpBridge(self.client, self.settings.services_namespace, self.settings.timeout_s,
                                      self.settings.episodes_in_resource)


async def _serve_stdio(server: Server[Any], wire_in: int, wire_out: int) -> None:
    stdin = anyio.wrap_file(TextIOWrapper(os.fdopen(wire_in, "rb"), encoding="utf-8", errors="replace"))
    stdout = anyio.wrap_file(TextIOWrapper(os.fdopen(wire_out, "wb"), encoding="utf-8", write_through=True))
    async with stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def _serve_http(server: Server[Any], settings: McpNodeSettings) -> None:
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=settings.http_path, host=settings.host)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


def _spin(executor: SingleThreadedExecutor) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:
        pass


def main(args: list[str] | None = None) -> int:
    # The MCP wire is this process's stdin/stdout; everything else written to fd 1 (the middleware,
    # a library's print) goes to stderr from here on, and nothing else reads stdin.
    wire_in, wire_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    use_large_data_profile()
    rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    stop = StopOnFirstSignal()
    stop.install()
    node = None
    executor = SingleThreadedExecutor()
    spin_thread = threading.Thread(target=_spin, args=(executor,), daemon=True, name="memory_mcp_ros")
    try:
        try:
            node = McpNode()
        except ConfigError as error:
            print(f"memory_mcp: {error}", file=sys.stderr)
            return 2
        executor.add_node(node)
        spin_thread.start()
        server = node.bridge.server()
        if node.settings.transport == "stdio":
            anyio.run(_serve_stdio, server, wire_in, wire_out)
        else:
            node.get_logger().info(f"MCP on http://{node.settings.host}:{node.settings.port}{node.settings.http_path}")
            anyio.run(_serve_http, server, node.settings)
    except KeyboardInterrupt:
        pass
    finally:
        stop.received = max(stop.received, 1)
        executor.shutdown(timeout_sec=2.0)
        if spin_thread.is_alive():
            spin_thread.join(timeout=2.0)
        if node is not None:
            node.client.close()
            node.destroy_node()
        rclpy.try_shutdown()
        stop.ignore_from_now()
    return 0
