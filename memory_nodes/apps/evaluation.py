"""Change and question metrics of a household run, from the simulator's ground truth.

Change metrics (in the manner of Khronos' evaluation): for every real change (an object
appeared, disappeared or moved) the frame at which it first became observable (the changed spot,
old or new, in view of the real camera and not occluded) and the frame at which the memory first
reflected it, through the services, frame by frame:

- disappeared: no remembered present object of that label is left at the old place;
- moved: the object is matched (one-to-one) at its new place and no stale copy is left at the
  old one;
- appeared: the new object is matched.

For moves and removals, the stale copy is also counted: the frames in view of the old place in
which the memory still held a copy there, until the object's next change (it may be put back).

Each is a true positive when reflected by the end, else a miss; the delay is counted in frames in
view of the changed spot and in seconds. A false change is a ``moved`` or ``disappeared`` the
memory reported about a real object that had not moved or been removed by then.

Question metrics (in the manner of NaVQA/OC-NaVQA): binary ("is the mug in the kitchen?"),
position ("where was the kettle at t?", metres), time ("when did the book leave the shelf?",
"when was the apple last seen?", seconds), counts, ``where_is`` with qualifiers ("the cup on the
kitchen table", "the cup in the living room"), open vocabulary, and episodic recall, all asked
through the public services (``MemoryClient``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from memory_nodes.apps.object_scoring import ObjectScore, RememberedObject, remembered_objects, score_objects

OPEN_VOCABULARY = {
    "something to drink from": ("mug", "cup", "bottle", "can"),
    "something to read": ("book",),
    "a source of light": ("lamp", "candle"),
    "something to eat": ("apple", "orange", "banana"),
    "something to change the TV channel": ("remote control",),
    "a toy for a child": ("teddy bear", "rubber duck", "ball"),
    "something to put flowers in": ("vase",),
}


# RGB distance (0-1 channels) within which a colour looks like a named one: a default green bottle
# (0.1, 0.6, 0.2) is as green as the generator's "green" (0.1, 0.65, 0.2); orange is not yellow.
COLOUR_NAME_TOLERANCE = 0.25


def colour_name(colour: tuple[float, float, float]) -> str:
    """The named colour a generated object looks like: the nearest of the generator's named
    colours within ``COLOUR_NAME_TOLERANCE``, or "" (a question names a colour only when no other
    instance looks like it)."""
    from memory_nodes.apps.household_generator import COLOURS

    distances = {name: float(np.linalg.norm(np.subtract(colour, value))) for name, value in COLOURS.items()}
    name = min(distances, key=distances.__getitem__)
    return name if distances[name] <= COLOUR_NAME_TOLERANCE else ""


@dataclass
class FrameRecord:
    """What the memory held after one frame, and what of the world was in view."""

    index: int
    stamp: float
    remembered: list[RememberedObject]
    score: ObjectScore
    spots_in_view: set[str]  # ids of the tracked change spots in view of the real camera
    visible: set[str]  # real objects in view


@dataclass
class RealChange:
    """A change of the world: ``kind`` appeared/disappeared/moved of ``name`` at ``stamp``."""

    kind: str
    name: str
    label: str
    stamp: float
    old: np.ndarray | None  # position before (disappeared, moved)
    new: np.ndarray | None  # position after (appeared, moved)
    observable_frame: int | None = None
    reflected_frame: int | None = None
    frames_in_view: int = 0  # frames in view of the changed spot until reflected (inclusive)
    delay_s: float = math.nan
    stale_frames: int = 0  # frames in view of the old spot that still showed a stale copy there
    last_seen_before: float | None = None  # the last stamp the object was in view before the change

    def spot_id(self, which: str) -> str:
        """The id of this change's ``which`` ("old" or "new") spot: one per change, as an object
        moved twice has two old spots (the second move's is the first one's new spot)."""
        return f"{self.name}@{self.stamp:.3f}@{which}"

    def spot_ids(self) -> list[str]:
        return [self.spot_id(which) for which, spot in (("old", self.old), ("new", self.new)) if spot is not None]


@dataclass
class ChangeMetrics:
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> tp, missed, delays
    false_changes: int = 0
    false_change_reports: list[str] = field(default_factory=list)  # "<kind> <real object> at <stamp>"
    frames: int = 0
    changes: list[RealChange] = field(default_factory=list)


def near_label(score: ObjectScore, label: str, position: np.ndarray, gate_m: float) -> bool:
    """A remembered present object of ``label`` within ``gate_m`` of ``position`` that is a false
    positive (no real object claims it): a stale copy or a ghost there."""
    return any(o.label == label and np.linalg.norm(np.array(o.position) - position) <= gate_m
               for o in score.false_positives)


def reflected(change: RealChange, score: ObjectScore, gate_m: float) -> bool:
    if change.kind == "disappeared":
        assert change.old is not None
        return not near_label(score, change.label, change.old, gate_m)
    if change.kind == "appeared":
        return change.name in score.pairs
    assert change.old is not None
    stale = near_label(score, change.label, change.old, gate_m)
    return change.name in score.pairs and score.errors_m[change.name] <= gate_m and not stale


def next_change_stamp(change: RealChange, changes: list[RealChange]) -> float:
    """When ``change``'s object changed next (inf if never)."""
    return min((c.stamp for c in changes if c.name == change.name and c.stamp > change.stamp), default=math.inf)


def change_metrics(changes: list[RealChange], frames: list[FrameRecord], memory_changes: list[tuple[float, str, str]],
                   name_of_id: Callable[[str], str | None], gate_m: float) -> ChangeMetrics:
    """Fill each change's observable and reflected frames from ``frames`` and count the false
    changes among ``memory_changes`` ((stamp, kind, object id) the memory reported)."""
    metrics = ChangeMetrics(frames=len(frames), changes=changes)
    for change in changes:
        if change.kind in ("moved", "disappeared") and change.old is not None:
            old_spot = change.spot_id("old")
            # How long a copy stayed where the object no longer was, counted in frames in view of that
            # place until the object's next change (it may be put back there).
            until = next_change_stamp(change, changes)
            change.stale_frames = sum(1 for frame in frames if change.stamp <= frame.stamp < until
                                      and old_spot in frame.spots_in_view
                                      and near_label(frame.score, change.label, change.old, gate_m))
        for frame in frames:
            if frame.stamp < change.stamp:
                continue
            in_view = bool(set(change.spot_ids()) & frame.spots_in_view) or change.name in frame.visible
            if change.observable_frame is None and in_view:
                change.observable_frame = frame.index
            if change.observable_frame is not None and in_view:
                change.frames_in_view += 1
            if change.observable_frame is not None and reflected(change, frame.score, gate_m):
                change.reflected_frame = frame.index
                change.delay_s = frame.stamp - frames[change.observable_frame].stamp
                break
        stats = metrics.per_kind.setdefault(change.kind, {"true_positives": 0, "missed": 0, "unobserved": 0})
        if change.observable_frame is None:
            stats["unobserved"] += 1
        elif change.reflected_frame is None:
            stats["missed"] += 1
        else:
            stats["true_positives"] += 1
    real_times: dict[str, list[float]] = {}
    for change in changes:
        if change.kind in ("moved", "disappeared"):
            real_times.setdefault(change.name, []).append(change.stamp)
    for stamp, kind, object_id in memory_changes:
        if kind not in ("moved", "disappeared"):
            continue
        name = name_of_id(object_id)
        if name is not None and not any(t <= stamp for t in real_times.get(name, [])):
            metrics.false_changes += 1
            metrics.false_change_reports.append(f"{kind} {name} at {stamp:.1f}")
    return metrics


def new_place_seen(change: RealChange, changes: list[RealChange], frames: list[FrameRecord]) -> bool:
    """A frame showed ``change``'s new place (or the object itself) after the change and before
    the object's next one: the memory could see where it went, not merely that it left."""
    until = next_change_stamp(change, changes)
    spot = change.spot_id("new")
    return any(change.stamp <= frame.stamp < until and (spot in frame.spots_in_view or change.name in frame.visible)
               for frame in frames)


def frame_record(index: int, stamp: float, objects: list, truth: dict[str, tuple[str, np.ndarray]],
                 spots_in_view: set[str], visible: set[str], gate_m: float) -> FrameRecord:
    remembered = remembered_objects(objects)
    return FrameRecord(index, stamp, remembered, score_objects(truth, remembered, gate_m=gate_m), spots_in_view,
                       visible)


def percentile(values: list[float], q: float) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.percentile(finite, q)) if finite else math.nan
