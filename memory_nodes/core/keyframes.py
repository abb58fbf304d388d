"""Which camera frames are lifted when the camera runs faster than lifting: the keyframe policy.

A 30 Hz camera held on a view sends the same detections from the same pose thirty times a second;
lifting each costs tens of milliseconds and tells the memory nothing the first did not. A frame is
lifted when it may show the memory something the last lifted frame (the keyframe) did not:

- the camera moved ``translation_m`` or turned ``rotation_deg`` since the keyframe;
- its detections differ from the keyframe's: a label more or fewer, or a box that moved (its best
  same-label counterpart overlaps it less than ``box_iou``). A removed, added or moved object
  changes the detections, so the first frame that shows a change is never skipped; a detector
  that flickers only costs lifts;
- ``max_interval_s`` passed since the keyframe, so a still view keeps refreshing last-seen times
  and the negative evidence of objects no longer there;
- time went backwards (a replay restarted).

Every other frame repeats the keyframe within these bounds and is skipped; the caller counts it.
``max_interval_s`` 0 lifts every frame. No rclpy here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory_nodes.core.geometry import Pose
from memory_nodes.core.settings import setting, validate

PixelBox = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max
LabelledBox = tuple[str, PixelBox]

LIFT_REASONS = ("first", "time_went_back", "interval", "moved", "turned", "detections_changed")


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
        0.7, "a detection whose box overlaps its same-label counterpart in the last lifted frame less than this "
        "makes a frame a keyframe", low=0, high=1)

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
    """The angle (degrees) of the rotation between two orientations."""
    cosine = abs(float(np.dot(a.orientation, b.orientation))) / (
        float(np.linalg.norm(a.orientation)) * float(np.linalg.norm(b.orientation)))
    return math.degrees(2.0 * math.acos(min(1.0, cosine)))


def detections_match(current: Sequence[LabelledBox], keyframe: Sequence[LabelledBox], min_iou: float) -> bool:
    """Whether each detection has its own same-label counterpart overlapping it by ``min_iou`` or
    more, one to one (greedy by overlap: a frame holds a few tens of detections at most)."""
    if len(current) != len(keyframe):
        return False
    unmatched = list(keyframe)
    for label, box in current:
        overlaps = [(box_iou(box, other), index) for index, (other_label, other) in enumerate(unmatched)
                    if other_label == label]
        if not overlaps:
            return False
        best, index = max(overlaps)
        if best < min_iou:
            return False
        unmatched.pop(index)
    return True


class KeyframeSelector:
    """Decides per frame whether to lift it (``reason_to_lift``); the caller reports each frame it
    lifted (``lifted``), so a frame that failed to lift leaves the keyframe as it was."""

    def __init__(self, config: KeyframeConfig | None = None) -> None:
        self.config = config or KeyframeConfig()
        self._stamp: float | None = None
        self._pose: Pose | None = None
        self._detections: list[LabelledBox] = []

    def reason_to_lift(self, stamp: float, pose: Pose, detections: Sequence[LabelledBox]) -> str | None:
        """Why the frame of ``stamp`` (seconds) should be lifted (one of ``LIFT_REASONS``), or None
        when it repeats the keyframe and may be skipped."""
        config = self.config
        if self._stamp is None or self._pose is None:
            return "first"
        if stamp < self._stamp:
            return "time_went_back"
        if config.max_interval_s == 0 or stamp - self._stamp >= config.max_interval_s:
            return "interval"
        if float(np.linalg.norm(pose.position - self._pose.position)) >= config.translation_m:
            return "moved"
        if turn_deg(pose, self._pose) >= config.rotation_deg:
            return "turned"
        if not detections_match(detections, self._detections, config.box_iou):
            return "detections_changed"
        return None

    def lifted(self, stamp: float, pose: Pose, detections: Sequence[LabelledBox]) -> None:
        """The frame of ``stamp`` was lifted: later frames are compared with it."""
        self._stamp, self._pose, self._detections = stamp, pose, list(detections)
