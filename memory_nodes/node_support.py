"""What every memory node shares: QoS profiles, the guarded service reply, input counters."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from .errors import MemoryNodesError

# Sensor streams: best effort, keep the newest few (REP-2003 sensor data).
SENSOR_QOS = qos_profile_sensor_data
# The full scene graph: late joiners get the last snapshot (latched).
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
# Changes and graph updates: every message matters, a deep queue absorbs bursts.
EVENTS_QOS = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


class InputCounters:
    """Counts accepted and rejected inputs per kind and logs rejections (throttled)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.counts: Counter = Counter()

    def accepted(self, kind: str) -> None:
        self.counts[f"{kind}.accepted"] += 1

    def rejected(self, kind: str, reason: str) -> None:
        self.counts[f"{kind}.rejected"] += 1
        self._node.get_logger().warning(f"rejected {kind}: {reason}", throttle_duration_sec=2.0)


def guarded_reply(node: Node, counters: InputCounters, name: str, response: Any,
                  fill: Callable[[Any], str | None]) -> Any:
    """Run ``fill(response)``; a domain error becomes ``success=false`` with its message, an
    unexpected error is logged and reported the same way. The node never crashes on a request."""
    started = time.perf_counter()
    try:
        message = fill(response)
        response.success = True
        response.message = message or "ok"
        counters.accepted(name)
    except MemoryNodesError as error:
        response.success = False
        response.message = str(error)
        counters.rejected(name, str(error))
    except Exception as error:  # noqa: BLE001 - a service must answer, whatever went wrong
        node.get_logger().error(f"{name} failed: {type(error).__name__}: {error}")
        response.success = False
        response.message = f"internal error: {type(error).__name__}: {error}"
        counters.rejected(name, "internal error")
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    if elapsed_ms > 100.0:
        node.get_logger().debug(f"{name} took {elapsed_ms:.1f} ms")
    return response
