"""The ask node under concurrent questions: more asks in flight than executor threads."""

from __future__ import annotations

import threading
import time
import uuid

import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from memory_nodes.msg import Evidence
from memory_nodes.ros.ask_node import AskNode
from memory_nodes.ros.client import MemoryClient
from memory_nodes.srv import Ask

MEMORIES = ("spatial", "temporal", "episodic", "semantic")


def test_more_concurrent_asks_than_threads_all_get_every_memory():
    namespace = f"/ask_{uuid.uuid4().hex[:8]}"
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    ask_node = AskNode(namespace=namespace, context=context, parameter_overrides=[Parameter("timeout_s", value=3.0)])
    memories = rclpy.create_node("fake_memories", namespace=namespace, context=context)

    def evidence(memory):
        def serve(request, response):
            time.sleep(0.05)  # a memory that takes a moment to search
            response.answers = [Evidence(memory=memory, item_id=f"{memory}-1", text=request.question, score=0.5)]
            response.success = True
            return response
        return serve

    group = ReentrantCallbackGroup()
    for memory in MEMORIES:
        memories.create_service(Ask, f"{memory}/evidence", evidence(memory), callback_group=group)
    # Two threads for the ask node, eight for the fake memories: eight asks at once must not
    # starve the ask node's own evidence responses.
    ask_executor = MultiThreadedExecutor(num_threads=2, context=context)
    ask_executor.add_node(ask_node)
    memory_executor = MultiThreadedExecutor(num_threads=8, context=context)
    memory_executor.add_node(memories)
    planner = rclpy.create_node("planner", context=context)
    planner_executor = MultiThreadedExecutor(num_threads=4, context=context)
    planner_executor.add_node(planner)
    spinners = [threading.Thread(target=e.spin, daemon=True) for e in (ask_executor, memory_executor, planner_executor)]
    for spinner in spinners:
        spinner.start()
    try:
        client = MemoryClient(node=planner, namespace=namespace, timeout_s=10.0)
        client.wait_for_services(timeout_s=20.0, names=("ask",))
        deadline = time.monotonic() + 20.0
        while not all(c.service_is_ready() for c in ask_node._evidence_clients.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        answers, elapsed = [], []

        def ask(k):
            started = time.monotonic()
            answers.append(client.ask(f"where is thing {k}?"))
            elapsed.append(time.monotonic() - started)

        askers = [threading.Thread(target=ask, args=(k,)) for k in range(8)]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(timeout=30.0)
        assert len(answers) == 8
        assert all(list(a.memories_answered) == list(MEMORIES) for a in answers), [a.memories_answered for a in answers]
        assert max(elapsed) < 3.0  # nobody waited out the deadline
    finally:
        for executor in (ask_executor, memory_executor, planner_executor):
            executor.shutdown()
        for node in (ask_node, memories, planner):
            node.destroy_node()
        rclpy.try_shutdown(context=context)
