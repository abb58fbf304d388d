"""The keyframe policy: which frames of a camera faster than lifting are lifted, and that the first
frame showing a change never is skipped."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from memory_nodes.core.errors import ConfigError
from memory_nodes.core.geometry import Pose, yaw_quaternion
from memory_nodes.core.keyframes import (
    KeyframeConfig,
    KeyframeSelector,
    box_iou,
    depth_changed,
    match_detections,
    same_view,
)

PERIOD = 1.0 / 30.0
STILL = Pose(np.array([1.0, 2.0, 1.2]), yaw_quaternion(0.3))
VIEW = [("mug", (100, 120, 160, 190)), ("book", (300, 200, 420, 260)), ("mug", (500, 120, 560, 190))]


def depth_of(detections, noise=0.0, seed=0):
    """A wall 3 m away with each detection's object 1 m in front of it, depth noise (metres, std) on top."""
    depth = np.full((480, 640), 3.0, dtype=np.float32)
    for _, (x0, y0, x1, y1) in detections:
        depth[y0:y1, x0:x1] = 2.0
    return depth + np.random.default_rng(seed).normal(0.0, noise, depth.shape).astype(np.float32)


DEPTH = depth_of(VIEW)


def run(selector: KeyframeSelector, frames):
    """(stamp, pose, detections[, depth]) frames through the selector; the reasons, None for a skipped frame."""
    reasons = []
    for stamp, pose, detections, *depth in frames:
        depth = depth[0] if depth else DEPTH
        reason = selector.reason_to_lift(stamp, pose, detections, depth)
        if reason is not None:
            selector.lifted(stamp, pose, detections, depth)
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
    removed = (VIEW[:2], depth_of(VIEW[:2]))  # the second mug taken away: the wall shows behind it
    added = ([*VIEW, ("cup", (10, 10, 40, 40))], depth_of([*VIEW, ("cup", (10, 10, 40, 40))]))
    slid = [VIEW[0], ("book", (360, 200, 480, 260)), VIEW[2]]  # the book slid 60 px
    moved = (slid, depth_of(slid))
    for changed, depth, reason in ((*removed, "view_changed"), (*added, "view_changed"), (*moved, "detection_moved")):
        selector = KeyframeSelector()
        reasons = run(selector, [(100.0, STILL, VIEW), (100.0 + PERIOD, STILL, VIEW),
                                 (100.0 + 2 * PERIOD, STILL, changed, depth), (100.0 + 3 * PERIOD, STILL, changed, depth)])
        assert reasons == ["first", None, reason, None], changed


def test_a_flickering_detector_over_an_unchanged_view_is_not_a_change():
    """Detections missed, found again and relabelled while the depth stays as it was (with noise
    of 1 cm per pixel) repeat the keyframe."""
    flickers = [VIEW[:2], VIEW, [VIEW[0], VIEW[2]], [("cup", VIEW[0][1]), *VIEW[1:]], VIEW[1:]]
    frames = [(100.0, STILL, VIEW, depth_of(VIEW, 0.01, 0))]
    frames += [(100.0 + (k + 1) * PERIOD, STILL, f, depth_of(VIEW, 0.01, k + 1)) for k, f in enumerate(flickers)]
    assert run(KeyframeSelector(), frames) == ["first"] + [None] * len(flickers)


def test_a_change_inside_a_box_must_exceed_the_noise_and_a_share_of_the_box():
    config = KeyframeConfig()
    box = (100, 100, 200, 200)
    before = np.full((480, 640), 2.0, dtype=np.float32)
    slight = before + 0.05  # 5 cm everywhere: within 3 cm + 2% of the 2 m range
    assert not depth_changed(slight, before, box, config)
    corner = before.copy()
    corner[100:130, 100:130] = 3.0  # 9% of the box
    assert not depth_changed(corner, before, box, config)
    half = before.copy()
    half[100:150, 100:200] = 3.0
    assert depth_changed(half, before, box, config)
    holes = before.copy()
    holes[100:160, 100:200] = np.nan  # the depth camera no longer sees it (glass, out of range)
    assert depth_changed(holes, before, box, config)


def test_a_moving_or_turning_camera_is_lifted_every_few_centimetres_or_degrees():
    sliding = [(100.0 + k * PERIOD, Pose(STILL.position + np.array([0.02 * k, 0.0, 0.0]), STILL.orientation), VIEW)
               for k in range(9)]
    assert run(KeyframeSelector(), sliding) == ["first", None, None, "moved", None, None, "moved", None, None]
    turning = [(100.0 + k * PERIOD, Pose(STILL.position, yaw_quaternion(0.3 + np.radians(1.1) * k)), VIEW)
               for k in range(7)]
    assert run(KeyframeSelector(), turning) == ["first", None, None, "turned", None, None, "turned"]


def test_a_frame_that_was_not_lifted_leaves_the_keyframe_as_it_was():
    selector = KeyframeSelector()
    selector.lifted(100.0, STILL, VIEW, DEPTH)
    gone = depth_of(VIEW[:1])
    assert selector.reason_to_lift(100.0 + PERIOD, STILL, VIEW[:1], gone) == "view_changed"
    # the caller failed to lift it (bad depth): the next frame of the change is still a keyframe
    assert selector.reason_to_lift(100.0 + 2 * PERIOD, STILL, VIEW[:1], gone) == "view_changed"


def test_a_replay_that_restarts_is_lifted_at_once():
    selector = KeyframeSelector()
    selector.lifted(500.0, STILL, VIEW, DEPTH)
    assert selector.reason_to_lift(10.0, STILL, VIEW, DEPTH) == "time_went_back"


def test_box_overlap_and_matching():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    # two mugs side by side are paired one to one: a mug seen twice is not two mugs
    moved, _ = match_detections([("mug", (0, 0, 10, 10)), ("mug", (0, 0, 10, 10))],
                                [("mug", (0, 0, 10, 10)), ("mug", (50, 0, 60, 10))], 0.5)
    assert moved
    assert match_detections([("mug", (0, 0, 10, 10))], [("cup", (0, 0, 10, 10))], 0.5) == (
        False, [(0, 0, 10, 10), (0, 0, 10, 10)])
    assert match_detections([], [], 0.5) == (False, [])


@pytest.mark.parametrize("field,value", [("max_interval_s", -0.1), ("translation_m", 0.0), ("rotation_deg", 200.0),
                                         ("box_iou", 1.5), ("depth_change_m", 0.0),
                                         ("changed_fraction", 0.0)])
def test_bad_keyframe_settings_are_refused_by_name(field, value):
    with pytest.raises(ConfigError, match=f"keyframes.{field}"):
        KeyframeConfig(**{field: value})


def test_the_same_view_is_the_same_camera_and_the_same_boxes_and_nothing_new_or_gone():
    config = KeyframeConfig()
    jittered = [(label, (x0 + 3, y0 - 2, x1 + 3, y1 - 2)) for label, (x0, y0, x1, y1) in VIEW]  # box noise
    assert same_view(STILL, VIEW, STILL, jittered, config)
    stepped = Pose(STILL.position + np.array([0.06, 0.0, 0.0]), STILL.orientation)
    turned = Pose(STILL.position, yaw_quaternion(0.3 + np.radians(4.0)))
    assert not same_view(STILL, VIEW, stepped, VIEW, config)
    assert not same_view(STILL, VIEW, turned, VIEW, config)
    assert not same_view(STILL, VIEW, STILL, VIEW[:2], config)  # a mug gone (or missed: no depth here to tell)
    assert not same_view(STILL, VIEW, STILL, [*VIEW, ("cup", (10, 10, 40, 40))], config)
    assert not same_view(STILL, VIEW, STILL, [VIEW[0], ("book", (360, 200, 480, 260)), VIEW[2]], config)
