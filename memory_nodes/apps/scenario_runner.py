"""memory_sim_demo: a household run in pybullet through the real nodes, scored like a planner would.

    memory_sim_demo [--scenario flat|studio|house|path/to/scenario.yaml] [--output DIR]

Starts every memory node and the perception node in one process, drives ``HouseholdSim`` frame by
frame through ``SimBridge`` (images, depth, camera pose, detections on the real topics, stamped with
the simulation clock), reports the scenario's planner events with ``record_event``, then acts as a
planner: it calls the services and scores the answers against the simulator's ground truth.

Scorecard categories: entity consistency (one memory object per real object; ids stable across
revisits and moves), environment consistency (position error), causal/temporal consistency (moves
and removals noticed after they happened; pose at a past time), counting, open-vocabulary queries,
episodic recall, and the latency of every call. Pictures: a top-down map and the scene graph.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from memory_nodes.apps.box_lifting import BoxLiftingProbe
from memory_nodes.apps.evaluation import (
    OPEN_VOCABULARY,
    FrameRecord,
    RealChange,
    change_metrics,
    colour_name,
    frame_record,
    new_place_seen,
    percentile,
)
from memory_nodes.apps.household_sim import HouseholdSim, SimFrame, load_scenario
from memory_nodes.apps.object_scoring import (
    DEFAULT_GATE_M,
    IdentityTracker,
    ObjectScore,
    remembered_objects,
    score_objects,
)
from memory_nodes.apps.observer_ceiling import IdentityObserver
from memory_nodes.apps.pictures import scene_graph, top_down_map
from memory_nodes.apps.sim_bridge import SimBridge
from memory_nodes.core.perception import PerceptionConfig
from memory_nodes.core.spatial.places import point_in_polygon
from memory_nodes.core.spatial.types import ObjectStatus
from memory_nodes.msg import SceneGraph
from memory_nodes.ros.client import MemoryClient, MemoryServiceError
from memory_nodes.ros.memory_system import create_memory_nodes
from memory_nodes.ros.middleware import use_large_data_profile
from memory_nodes.ros.node_support import EVENTS_QOS
from memory_nodes.ros.view_node import ViewNode

MATCH_RADIUS_M = DEFAULT_GATE_M


@dataclass
class Score:
    category: str
    measure: str
    value: float
    target: str = ""
    passed: bool | None = None
    detail: str = ""


class TimedClient(MemoryClient):
    """A MemoryClient that records the round trip of every call, per service."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.latencies_ms: dict[str, list[float]] = defaultdict(list)

    def call(self, name, srv_type, request, timeout_s=None):
        started = time.perf_counter()
        try:
            return super().call(name, srv_type, request, timeout_s)
        finally:
            self.latencies_ms[name].append((time.perf_counter() - started) * 1000.0)


def scenario_path(name: str) -> Path:
    """A shipped scenario by name, or a path."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("memory_nodes")) / "config" / "scenarios" / f"{name}.yaml"


def _progress(done: int, total: int, note: str) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stdout.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames  {note[:40]:<40}")
    sys.stdout.flush()


def _history(client: TimedClient, object_id: str, at_time: float):
    """``object_history`` of an id, or None when the memory no longer knows it (merged, forgotten):
    an unanswered question, not a failed run."""
    try:
        return client.object_history(object_id, at_time=at_time)
    except MemoryServiceError:
        return None


class ScenarioRun:
    def __init__(self, path: Path, output: Path, seed: int = 0, progress: bool = True,
                 recording: Path | None = None) -> None:
        """``recording``: also write the run as a rerun recording (``memory_view``) to this .rrd file."""
        self.scenario = load_scenario(path)
        self.output = output
        self.recording = recording
        self.progress = progress
        self.sim = HouseholdSim(self.scenario, seed)
        self.trajectory: list[np.ndarray] = []
        # ground-truth name -> memory id when first matched one-to-one
        self.identities = IdentityTracker(look_alike=self._look_alike)
        self.frame_records: list[FrameRecord] = []  # the memory after every frame, for the change metrics
        self.real_changes: list[RealChange] = []
        self.last_positions: dict[str, np.ndarray] = {}
        self.support: dict[str, str] = {}  # real object -> the furniture it stands on, once moved
        self.last_visible_stamp: dict[str, float] = {}  # real object -> last stamp it was in view
        self.furniture_labels = ({self.sim.furniture_label(n) for n in self.scenario.furniture}
                                 if self.sim.detect_furniture else set())
        self.seen: set[str] = set()
        self.box_lifting = BoxLiftingProbe(self.sim)
        # What the same detections allow at best (apps/observer_ceiling.py), beside the memory's figures.
        self.observer = IdentityObserver()
        self.min_score = PerceptionConfig().min_score  # the perception node's default: what it lifts
        self.scores: list[Score] = []

    def _parameters(self) -> list[Parameter]:
        known_map = [Parameter(name, value=value) for name, value in self.scenario.map_parameters().items()]
        return [Parameter("persistence", value=False), *known_map, Parameter("mode", value="detections"),
                Parameter("pose_source", value="pose"), Parameter("consolidation_period_s", value=1.0)]

    def run(self) -> list[Score]:
        # A ROS domain of the run's own (apps/ros_domain.py, as the tests): a scenario run shares no
        # topics with another run, the tests or a robot's graph on the same host. Without it, two
        # runs at once fed each other's frames and planner events (seen: make demo beside make eval).
        from domain_coordinator import domain_id

        from memory_nodes.apps.ros_domain import quiet_domain_selector

        with domain_id(quiet_domain_selector()) as domain:
            return self._run(domain)

    def _run(self, domain: int) -> list[Score]:
        context = rclpy.Context()
        use_large_data_profile()
        rclpy.init(context=context, args=[], domain_id=domain)
        nodes = create_memory_nodes(context=context, parameter_overrides=self._parameters())
        if self.recording is not None:
            self.recording.parent.mkdir(parents=True, exist_ok=True)
            nodes.append(ViewNode(context=context, parameter_overrides=[
                Parameter("recording_path", value=str(self.recording))]))
        bridge = SimBridge(self.sim, context=context)
        planner = rclpy.create_node("planner", context=context)
        updates: list[SceneGraph] = []
        planner.create_subscription(SceneGraph, "/memory/scene_graph_updates", updates.append, EVENTS_QOS)
        executor = MultiThreadedExecutor(num_threads=len(nodes) + 4, context=context)
        for node in [*nodes, bridge, planner]:
            executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            client = TimedClient(node=planner, timeout_s=10.0)
            client.wait_for_services(timeout_s=30.0)
            deadline = time.monotonic() + 20.0
            while not bridge.subscribers_ready() and time.monotonic() < deadline:
                time.sleep(0.05)
            self._drive(bridge, client, updates)
            self._score(client)
            self._pictures(client)
        finally:
            executor.shutdown()
            spinner.join(timeout=5.0)
            for node in [*nodes, bridge, planner]:
                node.destroy_node()
            rclpy.try_shutdown(context=context)
            self.sim.close()
        return self.scores

    def _drive(self, bridge: SimBridge, client: TimedClient, updates: list) -> None:
        total, done, last_stop_frames = self.scenario.frame_count, 0, 0
        for item in self.sim.frames():
            if isinstance(item, tuple):
                kind, content, stamp = item
                if kind == "planner":
                    client.record_event(content["kind"], content.get("task", ""), content.get("text", ""), stamp=stamp)
                else:
                    self._note_world_change(content, stamp)
                continue
            frame: SimFrame = item
            expected = len(updates) + 1
            bridge.publish(frame)
            self.box_lifting.observe(frame)  # while the nodes work on the frame
            shown = [d for d in frame.detections if d.truth in self.sim.bodies and d.score >= self.min_score]
            self.observer.observe({d.truth: (self.sim.specs[d.truth].label, self.sim.position(d.truth)) for d in shown},
                                  self._shows_gone, {d.truth: d.label for d in shown})
            deadline = time.monotonic() + 15.0
            while len(updates) < expected and time.monotonic() < deadline:
                time.sleep(0.005)
            self.trajectory.append(frame.robot_position[:2].copy())
            self.seen.update(frame.visible)
            for name in frame.visible:
                self.last_visible_stamp[name] = frame.stamp
            record = self._record_frame(client, frame, done)
            # The first one-to-one partner of each real object is the id it should keep.
            self.identities.update(record.score, frame.stamp)
            done += 1
            if self.progress:
                _progress(done, total, f"t={frame.stamp:.1f}s sees {', '.join(frame.visible) or 'nothing'}")
            last_stop_frames += 1
        if self.progress:
            sys.stdout.write("\n")
        time.sleep(0.5)  # let the change stream reach the temporal and episodic memories

    def _note_world_change(self, text: str, stamp: float) -> None:
        """The simulator applied an event (``moved X to F``, ``removed X``, ``added X``)."""
        verb, name = text.split(" ")[:2]
        label = self.sim.specs[name].label
        if verb == "moved":
            self.support[name] = text.split(" to ")[-1]
            _, _, before, after = self.sim.moves[-1]
            self.real_changes.append(RealChange("moved", name, label, stamp, before, after))
        elif verb == "removed":
            # Moved and removed in one step (the generator may pick one object for two changes): no
            # frame ever showed it at the new place, so for the world it vanished from the old one
            # (``last_positions`` follows frames only).
            self.real_changes = [c for c in self.real_changes
                                 if not (c.name == name and c.kind == "moved" and c.stamp == stamp)]
            self.real_changes.append(RealChange("disappeared", name, label, stamp, self.last_positions.get(name), None))
        if verb in ("moved", "removed"):
            self.real_changes[-1].last_seen_before = self.last_visible_stamp.get(name)
        elif verb == "added":
            self.real_changes.append(RealChange("appeared", name, label, stamp, None, self.sim.position(name)))

    def _record_frame(self, client: TimedClient, frame: SimFrame, index: int) -> FrameRecord:
        for name in self.sim.present():
            self.last_positions[name] = self.sim.position(name)
        spots = {spot_id for change in self.real_changes
                 for spot_id, spot in zip(change.spot_ids(), [s for s in (change.old, change.new) if s is not None])
                 if self.sim.in_view(spot)}
        objects, _ = client.query_objects(include_absent=True, limit=1000)
        objects = [o for o in objects if o.label not in self.furniture_labels]
        record = frame_record(index, frame.stamp, objects, self._truth(), spots, set(frame.visible), MATCH_RADIUS_M)
        self.frame_records.append(record)
        return record

    def _shows_gone(self, name: str, spot: np.ndarray) -> bool:
        """The last frame shows ``spot`` and the real object ``name`` is no longer there (ground truth)."""
        return self.sim.in_view(spot) and float(np.linalg.norm(self.sim.position(name) - spot)) > MATCH_RADIUS_M

    def _look_alike(self, name: str, other: str) -> bool:
        """Nothing a camera sees tells the real objects ``name`` and ``other`` apart."""
        a, b = self.sim.specs[name], self.sim.specs[other]
        return (a.label, a.shape, tuple(a.size), tuple(a.colour)) == (b.label, b.shape, tuple(b.size), tuple(b.colour))

    def _truth(self) -> dict[str, tuple[str, np.ndarray]]:
        return {name: (self.sim.specs[name].label, self.sim.position(name)) for name in self.sim.present()
                if name in self.seen}

    # ----------------------------------------------------------------- scoring
    def _add(self, category, measure, value, target="", passed=None, detail=""):
        self.scores.append(Score(category, measure, float(value), target, passed, detail))

    def _score(self, client: TimedClient) -> None:
        everything, _ = client.query_objects(include_absent=True, limit=1000)
        self.final_objects = everything
        # Furniture (reported by the detector of the generated households) is scored apart.
        objects = [o for o in everything if o.label not in self.furniture_labels]
        truth = self._truth()
        # One-to-one (Hungarian, same label, within MATCH_RADIUS_M): every unpartnered present
        # object is a false positive, wherever it is (see apps/object_scoring.py).
        score = score_objects(truth, remembered_objects(objects), self.identities, gate_m=MATCH_RADIUS_M)
        by_id = {o.id: o for o in objects}
        matches = {name: [by_id[object_id]] for name, object_id in score.pairs.items()}
        self._add("entity consistency", "one memory object per real object", score.f1, ">= 0.90", score.f1 >= 0.9,
                  f"F1 of a one-to-one match: {len(score.pairs)} of {score.real} real objects matched, "
                  f"{len(score.false_positives)} remembered objects without a real one")
        self._add("entity consistency", "object precision", score.precision, "", None,
                  f"{len(score.pairs)} of {score.remembered_present} present remembered objects are real")
        self._add("entity consistency", "object recall", score.recall, "", None,
                  ", ".join(f"missed {r.label} {r.name}" for r in score.missed[:5]))
        # What the detections allowed (apps/observer_ceiling.py): any object detected, or only those
        # detected twice or more, as a memory that must tell them from false positives can know them.
        for min_detections, which in ((1, ""), (2, ", objects detected twice or more")):
            self._add("ceiling", f"object recall the detections allow at best{which}",
                      self.observer.recall(truth, MATCH_RADIUS_M, min_detections), "", None)
        self._add("entity consistency", "spurious remembered objects", len(score.false_positives), "", None,
                  ", ".join(f"{o.label} {o.id}" for o in score.false_positives[:5]))
        stability = score.ids_kept_ratio
        self._add("entity consistency", "ids stable across revisits and moves", stability, ">= 0.90", stability >= 0.9,
                  f"{score.ids_kept} of {score.ids_checked}"
                  + (f" ({len(score.swapped_twins)} identical twins that changed places unseen kept the ids of "
                     "the places)" if score.swapped_twins else "")
                  + "".join(f"; {n}: {a} -> {b}" for n, (a, b) in list(score.changed_ids.items())[:3]))
        median = score.position_error_m(50)
        self._add("environment consistency", "position error, median (m)", median, "< 0.10", median < 0.10,
                  f"p90 {score.position_error_m(90):.3f} m over {len(score.errors_m)} objects" if score.errors_m else "")
        # causal / temporal: moves and removals, with times; where things were before
        noticed, delays, past_ok = 0, [], 0
        # The real changes, where a move the generator undid by a removal in one step is a removal.
        # Of the objects the memory knew before the change: a thing first seen at its new place was never
        # seen to move (``moved: detected`` below scores whether its new place was reflected).
        changed = [c for c in self.real_changes if c.kind in ("moved", "disappeared")]
        events = [c for c in changed if self.identities.known_before(c.name, c.stamp)]
        for change in events:
            object_id = self.identities.first_id(change.name)
            if object_id is None:
                continue
            # A move to a place no frame showed can only be seen as the object leaving its place.
            kinds = {change.kind} if change.kind == "disappeared" or new_place_seen(
                change, self.real_changes, self.frame_records) else {"moved", "disappeared"}
            hits = [c for c in client.query_changes(object_id=object_id)
                    if c.kind in kinds and c.stamp >= change.stamp]
            if change.kind == "disappeared":
                # Removed means not remembered as present now, whatever the change stream said.
                status = next((o.status for o in objects if o.id == object_id), "forgotten")
                hits = hits if status != ObjectStatus.PRESENT else []
            if hits:
                noticed += 1
                delays.append(hits[0].stamp - change.stamp)
            if change.kind == "moved" and change.old is not None:
                history = _history(client, object_id, change.stamp - 0.1)
                if history is not None and history.pose_at_time is not None:
                    past_ok += np.linalg.norm(np.array(history.pose_at_time[1]) - change.old) < 0.15
        detected = noticed / max(1, len(events))
        unknown = len(changed) - len(events)
        self._add("causal/temporal consistency", "moves and removals noticed", detected, ">= 0.90", detected >= 0.9,
                  f"{noticed} of {len(events)} made to objects known before them"
                  + (f" ({unknown} more to objects never matched before)" if unknown else "")
                  + (f"; noticed {np.mean(delays):.1f} s after the fact (sim time)" if delays else ""))
        moves = sum(1 for change in events if change.kind == "moved")
        if moves:
            ratio = past_ok / moves
            self._add("causal/temporal consistency", "pose at a past time (before the move)", ratio, ">= 0.90",
                      ratio >= 0.9, f"{past_ok} of {moves} within 0.15 m")
        lifting = self.box_lifting.summary()
        if lifting["measured"]:
            detail = (f"{lifting['measured']:.0f} detections of objects fully in view, lifted from their boxes alone "
                      f"({lifting['not_lifted']:.0f} more not lifted); median box IoU {lifting['iou_median']:.2f}")
            self._add("perception", "lifting from boxes without masks: centre error, median (m)",
                      lifting["centre_error_median_m"], "<= 0.15", lifting["centre_error_median_m"] <= 0.15, detail)
            self._add("perception", "lifting from boxes without masks: centre error, p90 (m)",
                      lifting["centre_error_p90_m"], "", None, "")
            self._add("perception", "lifting from boxes without masks: box IoU, median", lifting["iou_median"], "",
                      None, "the axis-aligned boxes of the lifted and the true object")
        for question in self.scenario.questions:
            self._question(client, question, matches)
        self._score_changes(client)
        self._ground_truth_questions(client, score)
        for service, values in sorted(client.latencies_ms.items()):
            self._add("latency", f"{service} (ms, median)", float(np.median(values)), "", None,
                      f"p95 {np.percentile(values, 95):.1f} ms over {len(values)} calls")

    # ----------------------------------------------------------------- changes (apps/evaluation.py)
    def _score_changes(self, client: TimedClient) -> None:
        reported = [(c.stamp, c.kind, c.object_id) for c in client.query_changes(limit=100_000)]
        names = {object_id: name for name, object_id in self.identities.first_ids.items()}
        metrics = change_metrics(self.real_changes, self.frame_records, reported, names.get, MATCH_RADIUS_M)
        for kind in ("appeared", "disappeared", "moved"):
            stats = metrics.per_kind.get(kind)
            if not stats:
                continue
            observed = stats["true_positives"] + stats["missed"]
            done = [c for c in metrics.changes if c.kind == kind and c.reflected_frame is not None]
            in_view = [float(c.frames_in_view) for c in done]
            ratio = stats["true_positives"] / observed if observed else float("nan")
            self._add("changes", f"{kind}: detected", ratio, "", None,
                      f"{stats['true_positives']} of {observed} observable ({stats['unobserved']} never in view); "
                      f"frames in view to reflect: median {percentile(in_view, 50):.1f}, p90 {percentile(in_view, 90):.1f}; "
                      f"{percentile([c.delay_s for c in done], 50):.1f} s median")
            self._add("changes", f"{kind}: frames in view until reflected, median", percentile(in_view, 50), "", None,
                      f"p90 {percentile(in_view, 90):.1f}")
            self._add("changes", f"{kind}: frames in view until reflected, p90", percentile(in_view, 90))
        left = [c for c in metrics.changes if c.kind in ("moved", "disappeared") and c.observable_frame is not None]
        stale = [float(c.stale_frames) for c in left]
        worst = ", ".join(f"{c.name} {c.kind} {c.stale_frames}" for c in sorted(left, key=lambda c: -c.stale_frames)
                          if c.stale_frames)
        self._add("changes", "stale copy: frames in view of the old place, max", max(stale) if stale else math.nan, "",
                  None, f"median {percentile(stale, 50):.1f} over {len(stale)} moves and removals"
                  + (f"; frames: {worst}" if worst else ""))
        self.change_windows = {(c.name, c.kind): (c.last_seen_before, self.frame_records[c.observable_frame].stamp)
                               for c in metrics.changes if c.observable_frame is not None}
        rate = 100.0 * metrics.false_changes / max(1, metrics.frames)
        self._add("changes", "false changes per 100 frames", rate, "", None,
                  f"{metrics.false_changes} moved/disappeared reported of objects that had not changed"
                  + (f": {', '.join(metrics.false_change_reports[:5])}" if metrics.false_change_reports else ""))

    # ----------------------------------------------------------------- questions from ground truth
    def _room_of(self, position: np.ndarray) -> str:
        for name, polygon in self.scenario.rooms:
            if point_in_polygon(float(position[0]), float(position[1]), tuple(tuple(v) for v in polygon)):
                return name
        return ""

    def _ground_truth_questions(self, client: TimedClient, score: ObjectScore) -> None:
        truth = self._truth()
        rooms = [name for name, _ in self.scenario.rooms]
        by_label: dict[str, list[str]] = defaultdict(list)
        for name, (label, _) in sorted(truth.items()):
            by_label[label].append(name)
        # binary: is there a <label> in the <room>?
        binary = []
        for label in sorted(by_label)[:8]:
            true_rooms = {self._room_of(truth[n][1]) for n in by_label[label]}
            for room in sorted(true_rooms)[:1] + [r for r in rooms if r not in true_rooms][:1]:
                found, _ = client.query_objects(label=label, place_id=f"room-{room}", limit=5)
                binary.append(bool(found) == (room in true_rooms))
        self._ratio("questions: binary", "is there a <label> in the <room>?", binary)
        # rooms: every matched object reported in the room whose polygon holds it
        by_id = {o.id: o for o in self.final_objects}
        rooms_right = [by_id[object_id].room_id == f"room-{self._room_of(truth[name][1])}"
                       for name, object_id in score.pairs.items() if object_id in by_id and self._room_of(truth[name][1])]
        self._ratio("questions: rooms", "object reported in the right room", rooms_right)
        # position at a past time: before each move, and now for a few unmoved objects
        errors = []
        for change in self.real_changes:
            object_id = self.identities.first_id(change.name)
            if change.kind == "moved" and object_id is not None and change.old is not None:
                history = _history(client, object_id, change.stamp - 0.1)
                errors.append(float(np.linalg.norm(np.array(history.pose_at_time[1]) - change.old))
                              if history is not None and history.pose_at_time is not None else math.inf)
        self._add("questions: position", "where was <object> at t (before its move), median error (m)",
                  percentile(errors, 50), "", None, f"{sum(math.isinf(e) for e in errors)} of {len(errors)} unanswered")
        # time: when did it leave; when was it last seen
        # The memory can only place a departure between the last look at the object in place and
        # the first look that showed the change: the error is how far the answer lies outside that.
        leave = []
        for change in self.real_changes:
            object_id = self.identities.first_id(change.name)
            window = self.change_windows.get((change.name, change.kind))
            if change.kind in ("moved", "disappeared") and object_id is not None and window is not None:
                wanted = "moved" if change.kind == "moved" else "disappeared"
                stamps = [c.stamp for c in client.query_changes(object_id=object_id, kind=wanted)
                          if c.stamp >= (window[0] if window[0] is not None else change.stamp) - 1e-6]
                if not stamps:
                    leave.append(math.inf)
                    continue
                low = window[0] if window[0] is not None else -math.inf
                answer = min(stamps)
                leave.append(max(0.0, answer - window[1], low - answer))
        self._add("questions: time", "when did <object> leave its place? error beyond the observed interval (s)",
                  percentile(leave, 50), "", None,
                  f"{sum(math.isinf(e) for e in leave)} of {len(leave)} unanswered; p90 {percentile(leave, 90):.1f} s")
        last_seen = []
        for name, object_id in score.pairs.items():
            if name in self.last_visible_stamp and object_id in by_id:
                last_seen.append(abs(by_id[object_id].last_seen - self.last_visible_stamp[name]))
        self._add("questions: time", "when was <object> last seen? median error (s)", percentile(last_seen, 50), "",
                  None, f"p90 {percentile(last_seen, 90):.1f} s over {len(last_seen)} objects; one observation "
                  f"interval is {self.sim.frame_period_s:.1f} s")
        # counts
        counts = []
        for label, names in sorted(by_label.items()):
            found, _ = client.query_objects(label=label, limit=200)
            counts.append(len(found) == len(names))
        self._ratio("questions: counts", "how many <label>? exact", counts)
        for min_detections, which in ((1, ""), (2, ", objects detected twice or more")):
            self._ratio("ceiling", f"how many <label>? exact, at best from the detections{which}",
                        self.observer.counts_exact(truth, min_detections))
        # A memory learns labels from the detector: an object it never named right cannot be counted right.
        self._ratio("ceiling", "how many <label>? exact, at best from the detections, objects detected twice or "
                    "more and named right at least once", self.observer.counts_exact(truth, 2, named_right_once=True))
        # where_is with qualifiers, for labels with several instances
        qualified, wrong_answers = [], []
        for label, names in sorted(by_label.items()):
            if len(names) < 2:
                continue
            # A question names the furniture by its label ("the shelf"): unique by that, not by the piece.
            support = {n: self.sim.furniture_label(self.support.get(n, self.sim.specs[n].on)) for n in names}
            room = {n: self._room_of(truth[n][1]) for n in names}
            colour = {n: colour_name(self.sim.specs[n].colour) for n in names}
            for name in names:
                expected = score.pairs.get(name)
                queries = []
                if colour[name] and list(colour.values()).count(colour[name]) == 1:
                    queries.append(f"the {colour[name]} {label}")
                if list(support.values()).count(support[name]) == 1:
                    queries.append(f"the {label} on the {support[name]}")
                if list(room.values()).count(room[name]) == 1:
                    queries.append(f"the {label} in the {room[name]}")
                for query in queries:
                    answer = client.where_is(query, limit=1)
                    qualified.append(bool(answer) and expected is not None and answer[0].object_id == expected)
                    if not qualified[-1]:
                        wrong_answers.append(f"'{query}' ({name}): " + ("not remembered" if expected is None else
                                             answer[0].object_id if answer else "no answer"))
        self._ratio("questions: where_is with qualifiers", "top-1 is the instance the qualifier names", qualified,
                    wrong_answers)
        # open vocabulary
        vocabulary = []
        present_labels = set(by_label)
        for text, labels in OPEN_VOCABULARY.items():
            if present_labels & set(labels):
                found, _ = client.query_objects(text=text, limit=1)
                vocabulary.append(bool(found) and found[0].label in labels)
        self._ratio("questions: open vocabulary", "top-1 label fits the description", vocabulary)

    def _ratio(self, category: str, measure: str, outcomes: list[bool], failed: list[str] | None = None) -> None:
        value = sum(outcomes) / len(outcomes) if outcomes else float("nan")
        self._add(category, measure, value, "", None, f"{sum(outcomes)} of {len(outcomes)}"
                  + (f"; wrong: {', '.join(failed[:5])}" if failed else ""))

    def _question(self, client: TimedClient, question: dict, matches: dict) -> None:
        kind = question["type"]
        if kind == "where":
            expected = matches.get(question["expect_object"]) or []
            candidates = client.where_is(question["query"], limit=3)
            ok = bool(candidates and expected and candidates[0].object_id == expected[0].id)
            self._add("queries", f"where_is('{question['query']}')", float(ok), "correct", ok,
                      f"{candidates[0].label} {candidates[0].object_id} in {candidates[0].room_id}"
                      if candidates else "no answer")
        elif kind == "count":
            objects, _ = client.query_objects(label=question["label"], limit=100)
            ok = len(objects) == question["expect"]
            self._add("counting", f"how many {question['label']}?", len(objects), f"= {question['expect']}", ok)
        elif kind == "open_vocab":
            objects, scores = client.query_objects(text=question["text"], limit=3)
            ok = bool(objects) and objects[0].label in question["expect_labels"]
            self._add("open vocabulary", f"'{question['text']}'", float(ok), " or ".join(question["expect_labels"]), ok,
                      ", ".join(f"{o.label} ({s:.2f})" for o, s in zip(objects, scores)))
        elif kind == "recall":
            episodes, _ = client.recall_episodes(text=question["text"], limit=3)
            ok = bool(episodes) and episodes[0].task == question["expect_task"]
            self._add("episodic recall", f"'{question['text']}'", float(ok), question["expect_task"], ok,
                      f"{episodes[0].task or 'no task'} [{episodes[0].outcome}]" if episodes else "no episode")

    def _pictures(self, client: TimedClient) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        truth = {name: position for name, (_, position) in self._truth().items()}
        self.map_path = top_down_map(self.output / f"{self.scenario.name}_map.png", self.scenario,
                                     np.array(self.trajectory), truth, self.final_objects,
                                     f"{self.scenario.name}: remembered objects vs ground truth")
        self.graph_path = scene_graph(self.output / f"{self.scenario.name}_scene_graph.png", client.get_scene_graph(),
                                      f"{self.scenario.name}: scene graph (rooms, places, objects)")


def format_scorecard(scores: list[Score]) -> str:
    rows = [("category", "measure", "value", "target", "ok", "detail")]
    for s in scores:
        value = f"{s.value:.3f}" if s.category != "latency" else f"{s.value:.1f}"
        ok = "" if s.passed is None else ("PASS" if s.passed else "FAIL")
        rows.append((s.category, s.measure, value, s.target, ok, s.detail))
    widths = [min(48, max(len(r[i]) for r in rows)) for i in range(6)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell[:48].ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a household scenario in pybullet through the memory nodes.")
    parser.add_argument("--scenario", default="flat", help="flat, studio, house, or a scenario YAML file")
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="directory of the pictures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the scores to this file (measure -> value, category, detail)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no scorecard")
    parser.add_argument("--recording", type=Path, help="rerun recording of the run (default: <output>/<scenario>.rrd; "
                        "none with --quiet unless given)")
    argv = sys.argv[1:] if args is None else args
    options = parser.parse_args(argv[:argv.index("--ros-args")] if "--ros-args" in argv else argv)
    path = scenario_path(options.scenario)
    print(f"scenario {path.stem}: running the household in pybullet through the memory nodes")
    recording = options.recording or (None if options.quiet else options.output / f"{path.stem}.rrd")
    run = ScenarioRun(path, options.output, options.seed, progress=not options.quiet, recording=recording)
    try:
        scores = run.run()
    except MemoryServiceError as error:
        print(f"\nscenario failed: {error}", file=sys.stderr)
        return 1
    if options.json is not None:
        options.json.write_text(json.dumps({s.measure: {"value": s.value, "category": s.category, "detail": s.detail}
                                            for s in scores},
                                           indent=1))
    if options.quiet:
        return 0
    print()
    print(format_scorecard(scores))
    print(f"\npictures: {run.map_path}  {run.graph_path}")
    if recording is not None:
        print(f"3D view with a timeline: rerun {recording}")
    failed = [s for s in scores if s.passed is False]
    print(f"{len([s for s in scores if s.passed])} checks passed, {len(failed)} failed")
    return 0 if not failed else 2


if __name__ == "__main__":
    sys.exit(main())
