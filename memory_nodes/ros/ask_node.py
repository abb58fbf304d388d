"""The ask node: one question to all four memories in parallel, one ranked answer.

Serves      ask (Ask): sends the question to <memory>/evidence of each memory node at once
            (call_async), waits until all answered or ``timeout_s`` passed, merges the evidence
            by score and reports which memories answered in time.

The evidence clients live on a hidden helper node with its own single-threaded executor. Were
they on this node, every executor thread could be blocked in an ask waiting for responses that
only an executor thread can deliver: with as many concurrent asks as threads, each ask would wait
out its deadline and answer empty, and under load the asks would pile up behind each other.
"""

from __future__ import annotations

import threading

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.task import Future

from memory_nodes.core.ask import AnswerStarter, fan_out
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.evidence import EvidenceItem, validate_question
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.memory_node import run_nodes
from memory_nodes.ros.node_settings import AskNodeSettings
from memory_nodes.ros.node_support import InputCounters, guarded_reply
from memory_nodes.ros.parameters import declare_config
from memory_nodes.srv import Ask


class AskNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("memory_ask", **kwargs)
        settings = declare_config(self, AskNodeSettings)
        self.timeout_s = settings.timeout_s
        self.default_limit = settings.default_limit
        memories = settings.memories
        self.counters = InputCounters(self)
        self.counters.report_on_diagnostics(settings.diagnostics_period_s)
        # The evidence clients live on a helper node with an executor of its own, so the answers
        # are taken while ask callbacks wait. It ignores the process's global arguments: under
        # ros2 launch ``name=`` becomes ``-r __node:=memory_ask``, which would rename it too (two
        # nodes of one name, and parameter calls reaching the wrong one).
        self._evidence_node = Node("_memory_ask_evidence", namespace=self.get_namespace(), context=self.context,
                                   use_global_arguments=False, start_parameter_services=False)
        self._evidence_clients = {m: self._evidence_node.create_client(Ask, f"{m}/evidence") for m in memories}
        self._evidence_executor = SingleThreadedExecutor(context=self.context)
        self._evidence_executor.add_node(self._evidence_node)
        self._evidence_thread = threading.Thread(target=self._evidence_executor.spin, daemon=True,
                                                 name="ask_evidence")
        self._evidence_thread.start()
        # Reentrant: concurrent asks are allowed, each waits on its own responses.
        self.create_service(Ask, "ask", self._ask, callback_group=ReentrantCallbackGroup())

    def destroy_node(self) -> None:
        self._evidence_executor.shutdown(timeout_sec=2.0)
        self._evidence_thread.join(timeout=2.0)  # out of its wait set before the node goes
        self._evidence_node.destroy_node()
        super().destroy_node()

    def _ask(self, request: Ask.Request, response: Ask.Response) -> Ask.Response:
        def fill(response: Ask.Response) -> str:
            question = validate_question(request.question, request.limit)
            limit = request.limit or self.default_limit
            starters: dict[str, AnswerStarter] = {
                memory: (lambda question, n, client=client: client.call_async(Ask.Request(question=question, limit=n)))
                for memory, client in self._evidence_clients.items() if client.service_is_ready()
            }
            if not starters:
                raise InvalidInputError("no memory node is serving <memory>/evidence")
            result = fan_out(question, limit, starters, _read_evidence, self.timeout_s)
            response.answers = [cv.evidence_to_msg(item) for item in result.evidence]
            response.memories_answered = result.answered
            response.elapsed_ms = float(result.elapsed_ms)
            missing = sorted(set(self._evidence_clients) - set(result.answered))
            return "all memories answered" if not missing else f"no answer in time from {', '.join(missing)}"
        return guarded_reply(self, self.counters, "ask", response, fill)


def _read_evidence(future: Future) -> list[EvidenceItem] | None:
    """The evidence of a memory's ``<memory>/evidence`` response, None if the call failed."""
    response = future.result()
    if response is None or not response.success:
        return None
    return [cv.evidence_from_msg(item) for item in response.answers]


def main(args: list[str] | None = None) -> int:
    return run_nodes(lambda: [AskNode()], args)
