"""What every memory node shares: QoS profiles, the guarded service reply, input counters."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from memory_nodes.core.errors import InvalidInputError, MemoryNodesError

# Sensor streams: best effort, keep the newest few (REP-2003 sensor data).
SENSOR_QOS = qos_profile_sensor_data
# The full scene graph: late joiners get the last snapshot (latched).
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
# Changes and graph updates: every message matters, a deep queue absorbs bursts.
EVENTS_QOS = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


class InputCounters:
    """Counts accepted and rejected inputs per kind, logs rejections (throttled) and reports the
    counts on ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, REP-107 style): level WARN while
    inputs are being rejected, with the last reason, OK otherwise."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.counts: Counter = Counter()
        self.last_rejection = ""
        self._rejected_at_last_report = 0
        self._publisher = None
        self._extra: Callable[[], dict[str, Any]] | None = None

    def accepted(self, kind: str) -> None:
        self.counts[f"{kind}.accepted"] += 1

    def rejected(self, kind: str, reason: str) -> None:
        self.counts[f"{kind}.rejected"] += 1
        self.last_rejection = f"{kind}: {reason}"
        self._node.get_logger().warning(f"rejected {kind}: {reason}", throttle_duration_sec=2.0)

    def rejected_total(self) -> int:
        return sum(v for k, v in self.counts.items() if k.endswith(".rejected"))

    def report_on_diagnostics(self, period_s: float, extra: Callable[[], dict[str, Any]] | None = None,
                              callback_group=None) -> None:
        """Publish the counts every ``period_s`` seconds; ``extra()`` adds values (memory size...)."""
        from diagnostic_msgs.msg import DiagnosticArray

        if not period_s > 0:
            raise InvalidInputError(f"diagnostics_period_s must be > 0, got {period_s}")
        self._publisher = self._node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._extra = extra
        self._node.create_timer(period_s, self.publish_diagnostics, callback_group=callback_group)

    def diagnostics(self):
        from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

        rejected = self.rejected_total()
        fresh = rejected - self._rejected_at_last_report
        self._rejected_at_last_report = rejected
        status = DiagnosticStatus(name=self._node.get_fully_qualified_name(), hardware_id="memory_nodes")
        status.level = DiagnosticStatus.WARN if fresh else DiagnosticStatus.OK
        status.message = f"{fresh} inputs rejected since the last report; last: {self.last_rejection}" if fresh \
            else "ok"
        values = {**dict(sorted(self.counts.items())), **(self._extra() if self._extra else {})}
        status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
        return status

    def publish_diagnostics(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        message = DiagnosticArray(status=[self.diagnostics()])
        message.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(message)


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
    except Exception as error:
        node.get_logger().error(f"{name} failed: {type(error).__name__}: {error}")
        response.success = False
        response.message = f"internal error: {type(error).__name__}: {error}"
        counters.rejected(name, "internal error")
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    if elapsed_ms > 100.0:
        node.get_logger().debug(f"{name} took {elapsed_ms:.1f} ms")
    return response
