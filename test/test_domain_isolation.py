"""The suite runs in a ROS domain of its own (conftest.py, domain_coordinator): a publisher on the
default domain, as a robot's own stack or another checkout's tests would be, cannot reach the
nodes under test; the same publisher in the test's domain does (so the check can fail)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String

PUBLISHER = """
import sys, time, rclpy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node('foreign_graph')
publisher = node.create_publisher(String, '/memory/isolation_probe', 10)
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    publisher.publish(String(data='from ' + sys.argv[2]))
    rclpy.spin_once(node, timeout_sec=0.05)
node.destroy_node()
rclpy.shutdown()
"""


def heard_from(environment: dict[str, str], label: str, seconds: float = 4.0) -> list[str]:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("isolation_listener", context=context)
    heard: list[str] = []
    node.create_subscription(String, "/memory/isolation_probe", lambda m: heard.append(m.data), 10)
    foreign = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(seconds), label], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    deadline = time.monotonic() + seconds + 2.0
    while time.monotonic() < deadline and foreign.poll() is None:
        executor.spin_once(timeout_sec=0.1)
    foreign.wait(timeout=10)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)
    return heard


def test_the_suite_has_a_domain_of_its_own():
    assert os.environ["ROS_DOMAIN_ID"] == os.environ["MEMORY_NODES_TEST_DOMAIN"]
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= 100


def test_a_publisher_on_the_default_domain_cannot_reach_the_tests():
    default = {k: v for k, v in os.environ.items() if k != "ROS_DOMAIN_ID"}  # domain 0, as a robot's stack
    assert heard_from(default, "default") == []
    assert heard_from(dict(os.environ), "ours"), "the control: the same publisher in our domain is heard"


def test_a_domain_with_a_live_participant_is_not_offered_to_the_run():
    from memory_nodes.apps.ros_domain import participants_live_on, quiet_domain_selector

    ours = int(os.environ["ROS_DOMAIN_ID"])
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("domain_probe", context=context)  # a live participant in our domain
    try:
        assert participants_live_on(ours)
        select = quiet_domain_selector(first=ours, last=ours + 1,
                                       live=lambda d: d == ours and participants_live_on(d))
        assert select() == ours + 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    # Offers go round the range, live domains skipped, and repeat once all were offered.
    select = quiet_domain_selector(first=3, last=6, live=lambda d: d in (3, 5))
    assert [select() for _ in range(4)] == [4, 6, 4, 6]
