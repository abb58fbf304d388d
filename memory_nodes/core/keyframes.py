"""Which camera frames are lifted when the camera runs faster than lifting: the keyframe policy.

A 30 Hz camera held on a view sends nearly the same frame thirty times a second; lifting each costs
tens of milliseconds and tells the memory nothing the first did not. A frame is lifted when it may
show the memory something the last lifted frame (the keyframe) did not:

- the camera moved ``translation_m`` or turned ``rotation_deg`` since the keyframe;
- a detection moved: its best same-label counterpart in the keyframe overlaps it less than
  ``box_iou``;
- a detection is new or gone (no same-label counterpart) *and the depth inside its box changed*:
  more than ``changed_fraction`` of the box's depth cells (4x4-pixel means) moved by more than
  ``depth_change_m`` plus 2% of their range, or became valid or invalid. An object taken away,
  put down or uncovered changes the depth where it was or is; a detector that misses an object in
  one frame and finds it in the next (10-20% of detections flicker so) does not, and would
  otherwise make every frame a keyframe;
- ``max_interval_s`` passed since the keyframe, so a still view keeps refreshing last-seen times
  and the negative evidence of objects no longer there;
- time went backwards (a replay restarted).

Every other frame repeats the keyframe within these bounds and is skipped; the caller counts it.
The comparison is with the last lifted frame, not the previous frame, so a change that builds up
slowly is lifted once it is large enough, and the first frame that shows it is not lost because
frames before it were skipped. ``max_interval_s`` 0 lifts every frame. No rclpy here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from memory_nodes.core.geometry import Pose
from memory_nodes.core.settings import setting, validate

PixelBox = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max
LabelledBox = tuple[str, PixelBox]

LiftReason = Literal["first", "time_went_back", "interval", "moved", "turned", "detection_moved", "view_changed"]
DEPTH_CELL_PX = 4  # depth is compared in cells of this many pixels a side: their mean is 4x less noisy
RANGE_FRACTION = 0.02  # depth noise grows with range: a change must exceed this share of it too


@dataclass(frozen=True)
class KeyframeConfig:
    """When a detection frame is lifted rather than skipped as a repeat of the last lifted one."""

    max_interval_s: float = setting(
        0.3, "longest time between lifted frames of an unchanged view (0: lift every frame)", "s", low=0)
    translation_m: float = setting(0.05, "camera motion since the last lifted frame that makes a frame a keyframe",
                                   "m", above=0)
    rotation_deg: float = setting(3.0, "camera turn since the last lifted frame that makes a frame a keyframe",
                                  "deg", above=0, high=180)
    box_iou: float = setting(
        0.5, "a detection whose box overlaps its same-label counterpart in the last lifted frame less than this "
        "makes a frame a keyframe", low=0, high=1)
    depth_change_m: float = setting(
        0.03, "depth change (plus 2% of the range) of a cell inside a new or gone detection's box that counts as "
        "changed", "m", above=0)
    changed_fraction: float = setting(
        0.2, "share of changed depth cells that makes a new or gone detection a change of the view", above=0, high=1)

    def __post_init__(self) -> None:
        validate(self, "keyframes.")


def box_iou(a: PixelBox, b: PixelBox) -> float:
    """Intersection over union of two pixel boxes (x_min, y_min, x_max, y_max)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    intersection = max(width, 0.0) * max(height, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def turn_deg(a: Pose, b: Pose) -> float:
    """The angle (degrees) of the rotation between two orientations (``Pose`` keeps them unit)."""
    return math.degrees(2.0 * math.acos(min(1.0, abs(float(np.dot(a.orientation, b.orientation))))))


def match_detections(current: Sequence[LabelledBox], keyframe: Sequence[LabelledBox], min_iou: float
                     ) -> tuple[bool, list[PixelBox]]:
    """Pair each detection with a same-label one of the keyframe, one to one (greedy by overlap: a
    frame holds a few tens of detections at most). Returns whether a paired box overlaps its pair
    less than ``min_iou`` (it moved), and the boxes of both frames left without a pair."""
    unmatched = list(keyframe)
    unpaired: list[PixelBox] = []
    for label, box in current:
        overlaps = [(box_iou(box, other), index) for index, (other_label, other) in enumerate(unmatched)
                    if other_label == label]
        if not overlaps:
            unpaired.append(box)
            continue
        best, index = max(overlaps)
        if best < min_iou:
            return True, unpaired
        unmatched.pop(index)
    return False, unpaired + [box for _, box in unmatched]


def depth_changed(now: np.ndarray, before: np.ndarray, box: PixelBox, config: KeyframeConfig) -> bool:
    """Whether the depth (metres, NaN invalid) inside ``box`` differs between two frames of one view
    by more than noise: see the module doc."""
    height, width = now.shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
    cell = DEPTH_CELL_PX if min(x1 - x0, y1 - y0) >= 2 * DEPTH_CELL_PX else 1
    x1, y1 = x0 + (x1 - x0) // cell * cell, y0 + (y1 - y0) // cell * cell
    if x1 <= x0 or y1 <= y0:
        return False
    rows, columns = (y1 - y0) // cell, (x1 - x0) // cell

    def cells(depth: np.ndarray) -> np.ndarray:
        blocks = depth[y0:y1, x0:x1].reshape(rows, cell, columns, cell)
        valid = np.isfinite(blocks)
        counts = valid.sum(axis=(1, 3))
        sums = np.where(valid, blocks, 0.0).sum(axis=(1, 3))
        means: np.ndarray = np.divide(sums, counts, out=np.full(counts.shape, np.nan), where=counts > 0)
        return means

    a, b = cells(now), cells(before)
    valid_a, valid_b = np.isfinite(a), np.isfinite(b)
    both = valid_a & valid_b
    moved = np.abs(a[both] - b[both]) > config.depth_change_m + RANGE_FRACTION * np.minimum(a[both], b[both])
    changed = int(np.count_nonzero(moved)) + int(np.count_nonzero(valid_a != valid_b))
    return changed > config.changed_fraction * a.size


def same_view(pose: Pose, detections: Sequence[LabelledBox], other_pose: Pose,
              other_detections: Sequence[LabelledBox], config: KeyframeConfig) -> bool:
    """Two frames show the same thing by their poses and boxes alone: the camera within
    ``translation_m`` and ``rotation_deg`` of the other frame's, and every detection paired one to
    one with a same-label box of the other overlapping it at least ``box_iou``. A frame that falls
    behind may then give way to the other without the memory missing anything it showed; a new or
    gone detection is never the same view here, whatever the depth says."""
    if float(np.linalg.norm(pose.position - other_pose.position)) >= config.translation_m:
        return False
    if turn_deg(pose, other_pose) >= config.rotation_deg:
        return False
    moved, unpaired = match_detections(detections, other_detections, config.box_iou)
    return not moved and not unpaired


@dataclass(frozen=True)
class Keyframe:
    """The last lifted frame: its stamp (seconds), camera pose, detections and depth (metres)."""

    stamp: float
    pose: Pose
    detections: list[LabelledBox]
    depth: np.ndarray


class KeyframeSelector:
    """Decides per frame whether to lift it (``reason_to_lift``); the caller reports each frame it
    lifted (``lifted``), so a frame that failed to lift leaves the keyframe as it was."""

    def __init__(self, config: KeyframeConfig | None = None) -> None:
        self.config = config or KeyframeConfig()
        self.keyframe: Keyframe | None = None

    def reason_to_lift(self, stamp: float, pose: Pose, detections: Sequence[LabelledBox],
                       depth: np.ndarray) -> LiftReason | None:
        """Why the frame of ``stamp`` (seconds), seen from ``pose`` with ``depth`` (H, W metres,
        NaN invalid), should be lifted, or None when it repeats the keyframe and may be skipped."""
        config, keyframe = self.config, self.keyframe
        if keyframe is None:
            return "first"
        if stamp < keyframe.stamp:
            return "time_went_back"
        if config.max_interval_s == 0 or stamp - keyframe.stamp >= config.max_interval_s:
            return "interval"
        if float(np.linalg.norm(pose.position - keyframe.pose.position)) >= config.translation_m:
            return "moved"
        if turn_deg(pose, keyframe.pose) >= config.rotation_deg:
            return "turned"
        moved, unpaired = match_detections(detections, keyframe.detections, config.box_iou)
        if moved:
            return "detection_moved"
        if depth.shape != keyframe.depth.shape:
            return "view_changed"
        if any(depth_changed(depth, keyframe.depth, box, config) for box in unpaired):
            return "view_changed"
        return None

    def lifted(self, stamp: float, pose: Pose, detections: Sequence[LabelledBox], depth: np.ndarray) -> None:
        """The frame of ``stamp`` was lifted: later frames are compared with it."""
        self.keyframe = Keyframe(stamp, pose, list(detections), depth)
