"""What every memory node shares: QoS profiles, the guarded service reply, input counters."""

from __future__ import annotations

import time
import traceback
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
    inputs are being rejected, with the last reason, OK otherwise. An internal error (an exception
    that is not a domain error: a bug, not bad input) is counted apart, as ``<kind>.internal_errors``,
    and keeps the level at ERROR from then on."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.counts: Counter = Counter()
        self.last_rejection = ""
        self.last_internal_error = ""
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

    def internal_error(self, kind: str, error: BaseException) -> None:
        self.counts[f"{kind}.internal_errors"] += 1
        self.last_internal_error = f"{kind}: {type(error).__name__}: {error}"
        details = "".join(traceback.format_exception(error)).rstrip()
        self._node.get_logger().error(f"internal error in {kind} (input dropped, node running): {details}",
                                      throttle_duration_sec=2.0)

    def internal_errors_total(self) -> int:
        return sum(v for k, v in self.counts.items() if k.endswith(".internal_errors"))

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
        internal = self.internal_errors_total()
        if internal:
            status.level = DiagnosticStatus.ERROR
            status.message = f"{internal} internal errors; last: {self.last_internal_error}"
        elif fresh:
            status.level = DiagnosticStatus.WARN
            status.message = f"{fresh} inputs rejected since the last report; last: {self.last_rejection}"
        else:
            status.level, status.message = DiagnosticStatus.OK, "ok"
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
    """Run ``fill(response)``; a domain error becomes ``success=false`` with its message (a
    rejection), an unexpected error too, but counted as an internal error and logged with its
    traceback. The node never crashes on a request."""
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
        response.success = False
        response.message = f"internal error: {type(error).__name__}: {error}"
        counters.internal_error(name, error)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    if elapsed_ms > 100.0:
        node.get_logger().debug(f"{name} took {elapsed_ms:.1f} ms")
    return response


def guarded_callback(counters: InputCounters, kind: str, callback: Callable[[Any], None]) -> Callable[[Any], None]:
    """``callback`` for a subscription: a domain error that escapes it is a rejection of the input,
    any other exception an internal error; neither leaves the callback (an exception out of a
    callback ends the executor's spin, and with it the node)."""
    def guarded(msg: Any) -> None:
        try:
            callback(msg)
        except MemoryNodesError as error:
            counters.rejected(kind, str(error))
        except Exception as error:
            counters.internal_error(kind, error)
    return guarded
