"""The lifecycle shell every memory node shares.

Lifecycle (REP-2002 managed nodes): the memory is opened on configure (rebuilt from its journal in
``memory_directory``: the latest snapshot plus the events after it), fed and queried while active,
and compacted (a fresh snapshot) and closed on cleanup and shutdown. While active every change is
appended to the journal (SQLite WAL, see ``event_store``), and service requests that change the
memory are committed before they are acknowledged, so acknowledged data survives ``kill -9``.
With ``autostart`` (the default) the node configures and activates itself;
set it false when a lifecycle manager brings the nodes up in order. Inputs arriving while the node
is not active are counted and dropped; requests get ``success=false`` saying so.

Every memory node also serves ``<memory>/evidence`` (its answer to the ask node) and
``<memory>/save``, ``<memory>/load``, ``<memory>/forget`` and ``<memory>/reset``, each of the
last four allowed or refused by its ``allow_*`` parameter.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from memory_nodes.core.changes import Change
from memory_nodes.core.errors import InvalidInputError, MemoryNodesError
from memory_nodes.core.evidence import EvidenceItem, validate_question
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.middleware import use_large_data_profile
from memory_nodes.ros.node_settings import MemoryNodeSettings
from memory_nodes.ros.node_support import InputCounters, guarded_callback, guarded_reply
from memory_nodes.ros.parameters import declare_config
from memory_nodes.srv import Ask, Forget, Load, Reset, Save
from memory_nodes.storage.event_store import SqliteEventStore
from memory_nodes.storage.events import JournalEvent
from memory_nodes.storage.journal import Journal
from memory_nodes.storage.postgres_store import ServerDatabase
from memory_nodes.storage.shipping import EventShipper, ShippingWorker
from memory_nodes.storage.snapshot_store import SnapshotStore

MANAGEMENT_OPERATIONS = ("save", "load", "forget", "reset")


def default_memory_directory() -> str:
    """``$ROS_HOME/memory_nodes``, or ``~/.ros/memory_nodes`` without ROS_HOME."""
    return os.path.join(os.environ.get("ROS_HOME", os.path.expanduser("~/.ros")), "memory_nodes")


class MemoryNode(LifecycleNode):
    """Base of the four memory nodes. Subclasses set ``kind``, implement ``create_memory`` and
    ``forget_items``, and create their topics and services with ``subscribe``/``serve``."""

    kind = ""
    default_limit = 10  # results when a request's limit is 0; subclasses declare it as a parameter

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.counters = InputCounters(self)
        settings = declare_config(self, MemoryNodeSettings)
        self.memory_settings = settings  # subclasses keep their own node settings in self.settings
        self.autostart = settings.autostart
        self.memory_directory = settings.memory_directory
        self.snapshot_name = settings.snapshot_name or self.kind
        self.persistence = settings.persistence
        self.journal_name = settings.journal_name or self.kind
        self.restore_on_configure = settings.restore_on_configure
        self.durability = settings.durability
        self.batch_interval_s = settings.batch_interval_s
        self.snapshot_every_events = settings.snapshot_every_events
        self.allowed = {op: bool(getattr(settings, f"allow_{op}")) for op in MANAGEMENT_OPERATIONS}
        self.store = SnapshotStore(self.memory_directory or default_memory_directory())
        self.store.resolve(self.snapshot_name)  # a bad name fails at start-up, not at the first save
        self.store.resolve(self.journal_name)
        self.memory: Any = None
        self.journal: Journal | None = None
        self.shipping: ShippingWorker | None = None
        self._active = False
        # One group: ingestion, queries and management of this memory take turns, so a query
        # never sees half a frame and a save never sees half an update.
        self.group = MutuallyExclusiveCallbackGroup()
        self._takers: list[Callable[[], None]] = []  # one per subscription with a backlog
        self.counters.report_on_diagnostics(settings.diagnostics_period_s, self._diagnostic_values, self.group)
        self.serve(Ask, f"{self.kind}/evidence", self._evidence)
        self.serve(Save, f"{self.kind}/save", self._save)
        self.serve(Load, f"{self.kind}/load", self._load)
        self.serve(Forget, f"{self.kind}/forget", self._forget)
        self.serve(Reset, f"{self.kind}/reset", self._reset)

    def _diagnostic_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"active": self._active, "items": len(self.memory) if self.memory is not None else 0}
        if self.journal is not None:
            values["journal.appended"] = self.journal.store.appended
            values["journal.replay_errors"] = self.journal.replay_errors
        if self.shipping is not None:
            values["shipping.server_reachable"] = bool(self.shipping.connected)
            values["shipping.shipped_events"] = self.shipping.shipper.shipped_events
            values["shipping.backlog"] = self.shipping.shipper.backlog()
        return values

    # ----------------------------------------------------------------- for subclasses
    def create_memory(self) -> Any:
        raise NotImplementedError

    def forget_items(self, request: Forget.Request) -> int:
        raise NotImplementedError

    def evidence(self, question: str, limit: int) -> list[EvidenceItem]:
        """This memory's evidence for the ask node (``<memory>/evidence``)."""
        raise NotImplementedError

    def _limit(self, limit: int) -> int:
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        return limit or self.default_limit

    def _evidence(self, request: Ask.Request, response: Ask.Response) -> None:
        question = validate_question(request.question, request.limit)
        response.answers = [cv.evidence_to_msg(e) for e in self.evidence(question, self._limit(request.limit))]
        response.memories_answered = [self.kind]

    def serve(self, srv_type: type, name: str, handler: Callable[[Any, Any], str | None]) -> None:
        """A service whose ``handler(request, response)`` runs only while active, guarded (see
        ``guarded_reply``); it returns the response's message."""
        def callback(request, response):
            if not self._active:
                response.success = False
                response.message = f"{self.get_name()} is not active"
                self.counters.rejected(name, "not active")
                return response
            guarded_reply(self, self.counters, name, response, lambda r: handler(request, r))
            if self.journal is not None:
                self.journal.commit()  # what is acknowledged is durable
            return response
        self.create_service(srv_type, name, callback, callback_group=self.group)

    def record(self, event: JournalEvent) -> None:
        """Journal a change just applied to the memory (no-op without persistence)."""
        if self.journal is not None:
            self.journal.record(event)

    def take_change(self, msg: Any, apply: Callable[[Change], object], journal_as: Callable[[Change], JournalEvent]) -> None:
        """A ``ChangeEvent`` from the spatial memory: converted, applied to this memory, journaled
        and counted; a malformed one is rejected and counted, and changes nothing."""
        try:
            change = cv.change_from_msg(msg)
            apply(change)
        except InvalidInputError as error:
            self.counters.rejected("changes", str(error))
            return
        self.record(journal_as(change))
        self.counters.accepted("changes")

    def subscribe(self, msg_type: type, topic: str, callback: Callable[[Any], None], qos: Any,
                  backlog: int = 0) -> None:
        """A subscription whose messages are dropped (and counted) while the node is not active.

        With ``backlog`` > 0 the middleware's callback only queues the message (in its own callback
        group, so a slow service call does not hold it) and the node takes it in its own group; at
        most ``backlog`` wait, the oldest are dropped first and counted (``<topic>.dropped_lagging``).
        Without, a sensor topic's small middleware queue (depth 5) overflows unseen whenever a
        service call takes longer than five messages' period."""
        def when_active(msg):
            if not self._active:
                self.counters.counts[f"{topic}.dropped_inactive"] += 1
                return
            callback(msg)
        take = guarded_callback(self.counters, topic, when_active)
        if backlog <= 0:
            self.create_subscription(msg_type, topic, take, qos, callback_group=self.group)
            return
        waiting: deque = deque()
        lock, taking = threading.Lock(), threading.Lock()

        def take_queued() -> None:
            with taking:  # one taker at a time, so messages are applied one by one, in order
                while True:
                    with lock:
                        if not waiting:
                            return
                        msg = waiting.popleft()
                    take(msg)

        self._takers.append(take_queued)
        wake = self.create_guard_condition(take_queued, callback_group=self.group)

        def queue(msg) -> None:
            with lock:
                if len(waiting) >= backlog:
                    waiting.popleft()
                    self.counters.counts[f"{topic}.dropped_lagging"] += 1
                waiting.append(msg)
            wake.trigger()

        self.create_subscription(msg_type, topic, guarded_callback(self.counters, topic, queue), qos,
                                 callback_group=MutuallyExclusiveCallbackGroup())

    def take_waiting(self) -> None:
        """Apply the messages queued by the subscriptions with a backlog now (the executor does so
        when woken; a test that calls a subscription's callback directly calls this after it)."""
        for take in self._takers:
            take()

    @property
    def active(self) -> bool:
        return self._active

    def start(self) -> None:
        """Configure and activate when ``autostart`` is set (called once the subclass is built)."""
        if self.autostart:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise MemoryNodesError(f"{self.get_name()} failed to configure (see the log)")
            self.trigger_activate()

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.memory = self.create_memory()
            if self.persistence:
                path = self.store.directory / f"{self.journal_name}.sqlite3"
                existed = path.exists()
                shipped = self.memory_settings.store == "postgresql"
                store = SqliteEventStore(path, self.kind, self.durability, self.batch_interval_s, keep_unshipped=shipped)
                self.journal = Journal(self.memory, self.kind, store, self.snapshot_every_events)
                if existed and self.restore_on_configure:
                    started = time.perf_counter()
                    replayed = self.journal.restore()
                    self.get_logger().info(f"restored {self.kind} memory from {path}: snapshot + {replayed} events "
                                           f"in {time.perf_counter() - started:.2f} s")
                elif existed:
                    self.journal.snapshot()  # start over: the empty memory becomes the journal's base
                if shipped:
                    self._start_shipping(store)
        except MemoryNodesError as error:
            self.get_logger().error(f"configure failed: {error}")
            self.memory, self.journal = None, None
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = True
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._close()
        return TransitionCallbackReturn.SUCCESS

    def _start_shipping(self, store: SqliteEventStore) -> None:
        """Ship the journal to the fleet's server from a thread; the server need not be up."""
        database = ServerDatabase(self.memory_settings.server, connect_timeout_s=self.memory_settings.server_timeout_s)
        shipper = EventShipper(store, database, self.memory_settings.robot_id)
        self.shipping = ShippingWorker(shipper, self.memory_settings.ship_period_s, self.get_logger().warning)
        self.shipping.start()
        self.get_logger().info(f"shipping the {self.kind} journal to the server as robot {self.memory_settings.robot_id!r}")

    def _close(self) -> None:
        if self.shipping is not None:
            self.shipping.stop(final_attempt=True)
            self.shipping.shipper.database.close()
            self.shipping = None
        if self.journal is not None:
            self.journal.snapshot()  # compacts the log: the next start restores without replaying
            self.journal.store.close()
            self.get_logger().info(f"{self.kind} memory saved in {self.journal.store.path}")
        self.memory, self.journal = None, None

    # ----------------------------------------------------------------- management services
    def _refuse_unless_allowed(self, operation: str) -> None:
        if not self.allowed[operation]:
            raise InvalidInputError(f"{self.kind}/{operation} is disabled by the parameter allow_{operation}")

    def _save(self, request: Save.Request, response: Save.Response) -> str:
        self._refuse_unless_allowed("save")
        response.path = str(self.store.save(request.name or self.snapshot_name, self.kind, *self.memory.snapshot()))
        return f"saved to {response.path}"

    def _load(self, request: Load.Request, response: Load.Response) -> str:
        self._refuse_unless_allowed("load")
        state, arrays = self.store.load(request.name or self.snapshot_name, self.kind)
        self.memory.restore(state, arrays)
        if self.journal is not None:
            self.journal.snapshot()
        self.after_replace()
        return f"loaded {request.name or self.snapshot_name}"

    def _forget(self, request: Forget.Request, response: Forget.Response) -> str:
        self._refuse_unless_allowed("forget")
        if request.older_than_s < 0 or request.radius < 0:
            raise InvalidInputError("older_than_s and radius must be >= 0")
        response.forgotten_count = self.forget_items(request)
        if response.forgotten_count:
            self.after_replace()
        return f"forgot {response.forgotten_count} items"

    def _reset(self, request: Reset.Request, response: Reset.Response) -> str:
        self._refuse_unless_allowed("reset")
        if not request.confirm:
            raise InvalidInputError("reset needs confirm=true")
        self.memory.reset()
        if self.journal is not None:
            self.journal.snapshot()
        self.after_replace()
        return f"{self.kind} memory cleared"

    def after_replace(self) -> None:
        """Called after load, forget and reset changed the memory wholesale (e.g. to republish)."""


class StopOnFirstSignal:
    """SIGINT and SIGTERM handler: the first signal ends the spin (``KeyboardInterrupt``); later
    ones are counted and absorbed, because a terminal's Ctrl-C under ``ros2 launch`` arrives twice
    (the terminal's process group, then launch) and a second ``KeyboardInterrupt`` inside the final
    save would lose the snapshot."""

    def __init__(self) -> None:
        self.received = 0

    def __call__(self, signum: int, _frame: Any) -> None:
        self.received += 1
        if self.received == 1:
            raise KeyboardInterrupt

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)

    def ignore_from_now(self) -> None:
        """Once the work is saved: ignore stop signals for good. The interpreter's finalisation
        puts back the default action of a signal that has a Python handler, so a second Ctrl-C
        arriving while it tears down would still kill the process (status 130)."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run_nodes(factory: Callable[[], list[Node]], args: list[str] | None = None) -> int:
    """Initialise rclpy, build the nodes, spin them on one multi-threaded executor until SIGINT or
    SIGTERM, then shut the memory nodes down through their lifecycle (which saves them). Signals
    after the first are absorbed until the save is done."""
    use_large_data_profile()  # camera frames from other processes arrive whole
    rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    stop = StopOnFirstSignal()
    stop.install()
    nodes: list[Node] = []
    executor = None
    try:
        nodes = factory()
        executor = MultiThreadedExecutor(num_threads=max(4, len(nodes) + 3))
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop.received = max(stop.received, 1)  # from here on every signal is absorbed
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        for node in nodes:
            if isinstance(node, MemoryNode) and node.memory is not None:
                node.trigger_shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
        stop.ignore_from_now()
        if stop.received > 1:
            print(f"{stop.received - 1} further stop signal(s) absorbed while saving", file=sys.stderr)
    return 0
