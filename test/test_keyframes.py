"""The keyframe policy: which frames of a camera faster than lifting are lifted, and that the first
frame showing a change never is skipped."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from memory_nodes.core.errors import ConfigError
from memory_nodes.core.geometry import Pose, yaw_quaternion
from memory_nodes.core.keyframes import KeyframeConfig, KeyframeSelector, box_iou, detections_match

PERIOD = 1.0 / 30.0
STILL = Pose(np.array([1.0, 2.0, 1.2]), yaw_quaternion(0.3))
VIEW = [("mug", (100, 120, 160, 190)), ("book", (300, 200, 420, 260)), ("mug", (500, 120, 560, 190))]


def run(selector: KeyframeSelector, frames):
    """(stamp, pose, detections) frames through the selector; the reasons, None for a skipped frame."""
    reasons = []
    for stamp, pose, detections in frames:
        reason = selector.reason_to_lift(stamp, pose, detections)
        if reason is not None:
            selector.lifted(stamp, pose, detections)
        reasons.append(reason)
    return reasons


def test_a_still_view_at_thirty_frames_a_second_is_lifted_once_per_interval():
    reasons = run(KeyframeSelector(), [(100.0 + k * PERIOD, STILL, VIEW) for k in range(90)])
    lifted = [k for k, reason in enumerate(reasons) if reason is not None]
    assert reasons[0] == "first" and all(reasons[k] == "interval" for k in lifted[1:])
    assert len(lifted) == 10  # 3 s at one lift per 0.3 s
    assert all(9 <= b - a <= 10 for a, b in itertools.pairwise(lifted))


def test_lifting_every_frame_when_the_interval_is_zero():
    reasons = run(KeyframeSelector(KeyframeConfig(max_interval_s=0.0)),
                  [(100.0 + k * PERIOD, STILL, VIEW) for k in range(30)])
    assert None not in reasons


def test_the_first_frame_that_shows_a_change_is_lifted():
    removed = VIEW[:2]
    moved = [VIEW[0], ("book", (340, 200, 460, 260)), VIEW[2]]  # the book slid 40 px (IoU 0.5)
    added = [*VIEW, ("cup", (10, 10, 40, 40))]
    relabelled = [("cup", VIEW[0][1]), *VIEW[1:]]
    for changed in (removed, moved, added, relabelled):
        selector = KeyframeSelector()
        reasons = run(selector, [(100.0, STILL, VIEW), (100.0 + PERIOD, STILL, VIEW), (100.0 + 2 * PERIOD, STILL, changed),
                                 (100.0 + 3 * PERIOD, STILL, changed)])
        assert reasons == ["first", None, "detections_changed", None], changed


def test_boxes_jittering_by_a_few_pixels_are_the_same_view():
    rng = np.random.default_rng(3)
    frames = []
    for k in range(8):
        jitter = [(label, tuple(float(v) for v in np.add(box, rng.integers(-3, 4, 4)))) for label, box in VIEW]
        frames.append((100.0 + k * PERIOD, STILL, jitter[::-1]))  # in another order too
    assert run(KeyframeSelector(), frames)[1:] == [None] * 7


def test_a_moving_or_turning_camera_is_lifted_every_few_centimetres_or_degrees():
    sliding = [(100.0 + k * PERIOD, Pose(STILL.position + np.array([0.02 * k, 0.0, 0.0]), STILL.orientation), VIEW)
               for k in range(9)]
    assert run(KeyframeSelector(), sliding) == ["first", None, None, "moved", None, None, "moved", None, None]
    turning = [(100.0 + k * PERIOD, Pose(STILL.position, yaw_quaternion(0.3 + np.radians(1.1) * k)), VIEW)
               for k in range(7)]
    assert run(KeyframeSelector(), turning) == ["first", None, None, "turned", None, None, "turned"]


def test_a_frame_that_was_not_lifted_leaves_the_keyframe_as_it_was():
    selector = KeyframeSelector()
    selector.lifted(100.0, STILL, VIEW)
    assert selector.reason_to_lift(100.0 + PERIOD, STILL, VIEW[:1]) == "detections_changed"
    # the caller failed to lift it (bad depth): the next frame of the change is still a keyframe
    assert selector.reason_to_lift(100.0 + 2 * PERIOD, STILL, VIEW[:1]) == "detections_changed"


def test_a_replay_that_restarts_is_lifted_at_once():
    selector = KeyframeSelector()
    selector.lifted(500.0, STILL, VIEW)
    assert selector.reason_to_lift(10.0, STILL, VIEW) == "time_went_back"


def test_box_overlap_and_matching():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    # two mugs side by side are matched one to one: a mug seen twice is not two mugs
    assert not detections_match([("mug", (0, 0, 10, 10)), ("mug", (0, 0, 10, 10))],
                                [("mug", (0, 0, 10, 10)), ("mug", (50, 0, 60, 10))], 0.7)
    assert detections_match([], [], 0.7)


@pytest.mark.parametrize("field,value", [("max_interval_s", -0.1), ("translation_m", 0.0), ("rotation_deg", 200.0),
                                         ("box_iou", 1.5)])
def test_bad_keyframe_settings_are_refused_by_name(field, value):
    with pytest.raises(ConfigError, match=f"keyframes.{field}"):
        KeyframeConfig(**{field: value})
