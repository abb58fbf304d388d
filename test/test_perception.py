"""Perception core: depth encodings, lifting detections to 3D, discovery from depth, stamp matching."""

from __future__ import annotations

import numpy as np
import pytest
from rendering import INTRINSICS, render
from scipy.spatial import cKDTree

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.geometry import look_at
from memory_nodes.core.perception import (
    UNKNOWN_LABEL,
    Detection,
    PerceptionConfig,
    RgbdFrame,
    StampMatcher,
    depth_to_metres,
    discover_objects,
    lift_detection,
    sampling_stride,
)

MUG = (np.array([1.95, 0.45, 0.0]), np.array([2.05, 0.55, 0.12]), (30, 30, 200))      # red (BGR)
BOX = (np.array([2.3, -0.6, 0.0]), np.array([2.6, -0.3, 0.3]), (200, 60, 30))         # blue
CAMERA = look_at(np.array([0.0, 0.0, 1.2]), np.array([2.0, 0.0, 0.0]))


@pytest.fixture(scope="module")
def scene():
    bgr, depth, index = render(CAMERA, [MUG, BOX])
    return RgbdFrame(depth, INTRINSICS, CAMERA, bgr), index


def bounding_box(index, k):
    v, u = np.nonzero(index == k)
    return int(u.min()), int(v.min()), int(u.max()) + 1, int(v.max()) + 1


def test_depth_encodings():
    millimetres = np.array([[0, 1500]], dtype=np.uint16)
    metres = depth_to_metres(millimetres, "16UC1")
    assert np.isnan(metres[0, 0]) and metres[0, 1] == pytest.approx(1.5)
    assert depth_to_metres(np.array([[7500]], np.uint16), "16UC1", scale=1 / 5000)[0, 0] == pytest.approx(1.5)
    metres = depth_to_metres(np.array([[np.inf, 2.0, -1.0]], np.float32), "32FC1")
    assert np.isnan(metres[0, 0]) and metres[0, 1] == 2.0 and np.isnan(metres[0, 2])
    with pytest.raises(InvalidInputError):
        depth_to_metres(millimetres, "rgb8")


@pytest.mark.parametrize("mask_kind", ["none", "image", "box"])
def test_a_detection_is_lifted_to_its_3d_box_in_map(scene, mask_kind):
    frame, index = scene
    x0, y0, x1, y1 = box = bounding_box(index, 0)
    mask = {"none": None, "image": (index == 0).astype(np.uint8),
            "box": (index[y0:y1, x0:x1] == 0).astype(np.uint8)}[mask_kind]
    observation = lift_detection(frame, Detection("mug", 0.9, box, mask), PerceptionConfig())
    assert observation is not None and observation.label == "mug"
    # the visible surface is the front half: the centre is within 5 cm, the top at the true height
    assert np.linalg.norm(observation.pose.position[:2] - [2.0, 0.5]) < 0.05
    top = observation.pose.position[2] + observation.extent[2] / 2
    assert top == pytest.approx(0.12, abs=0.02)
    assert observation.points is not None and len(observation.points) >= 20
    red = lift_detection(frame, Detection("mug", 0.9, bounding_box(index, 0)), PerceptionConfig()).appearance
    blue = lift_detection(frame, Detection("box", 0.9, bounding_box(index, 1)), PerceptionConfig()).appearance
    assert float(red @ blue) < 0.3


def test_background_in_the_box_is_not_part_of_the_object(scene):
    frame, index = scene
    x0, y0, x1, y1 = bounding_box(index, 0)
    padded = (x0 - 20, y0 - 20, x1 + 20, y1 + 20)  # a loose detector box with floor around the mug
    observation = lift_detection(frame, Detection("mug", 0.9, padded), PerceptionConfig(box_shrink=0.0))
    assert observation.extent.max() < 0.25


def test_an_image_mask_decides_where_a_jittered_box_cuts_it_to_a_sliver(scene):
    """A detector's box two pixels wide at the mug's edge, with the mug's whole mask: the mask's
    pixels are the object (a box error must not lose a detection the mask holds)."""
    frame, index = scene
    x0, y0, _, y1 = bounding_box(index, 0)
    observation = lift_detection(frame, Detection("mug", 0.9, (x0, y0, x0 + 2, y1), (index == 0).astype(np.uint8)),
                                 PerceptionConfig())
    assert observation is not None
    assert np.linalg.norm(observation.pose.position[:2] - [2.0, 0.5]) < 0.05


def test_detections_without_depth_support_are_dropped(scene):
    frame, index = scene
    empty = frame.depth_m.copy()
    empty[:, :] = np.nan
    hollow = RgbdFrame(empty, INTRINSICS, CAMERA, frame.rgb)
    assert lift_detection(hollow, Detection("mug", 0.9, bounding_box(index, 0)), PerceptionConfig()) is None
    assert lift_detection(frame, Detection("mug", 0.9, (5000, 5000, 5100, 5100)), PerceptionConfig()) is None
    with pytest.raises(InvalidInputError):
        lift_detection(frame, Detection("mug", 0.9, (0, 0, 10, 10), np.ones((4, 4))), PerceptionConfig())


def test_a_small_object_far_away_whose_mask_the_segmenter_eroded_is_still_lifted(scene):
    """A mask of 20-30 pixels (a small object far away, its edges eroded) is a sighting: its centre
    lands on the object. Lifting asked for 30 and dropped it, so the object was never seen twice."""
    frame, index = scene
    x0, y0, x1, y1 = box = bounding_box(index, 0)
    v, u = np.nonzero(index[y0:y1, x0:x1] == 0)
    centre_v, centre_u = int(np.median(v)), int(np.median(u))
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[centre_v - 2:centre_v + 3, centre_u - 2:centre_u + 3] = 1  # 25 pixels of the mug's front
    assert int((mask.astype(bool) & (index[y0:y1, x0:x1] == 0)).sum()) == 25
    observation = lift_detection(frame, Detection("mug", 0.9, box, mask), PerceptionConfig())
    assert observation is not None
    assert np.linalg.norm(observation.pose.position[:2] - [2.0, 0.5]) < 0.06
    assert 0.0 < observation.pose.position[2] < 0.12


def test_a_box_mask_of_a_box_leaving_the_image_selects_the_right_pixels(scene):
    frame, index = scene
    x0, y0, x1, y1 = bounding_box(index, 0)
    box = (x0 - 30, y0 - 700, x1, y1)  # starts far above the image; the mask covers the whole box
    full = np.zeros((y1 - y0 + 700, x1 - x0 + 30), np.uint8)
    full[700:, 30:] = (index[y0:y1, x0:x1] == 0)
    with_mask = lift_detection(frame, Detection("mug", 0.9, box, full), PerceptionConfig())
    exact = lift_detection(frame, Detection("mug", 0.9, (x0, y0, x1, y1), (index == 0).astype(np.uint8)),
                           PerceptionConfig())
    np.testing.assert_allclose(with_mask.pose.position, exact.pose.position, atol=1e-6)
    np.testing.assert_allclose(with_mask.extent, exact.extent, atol=1e-6)


def test_geometric_mode_finds_both_objects_without_a_detector(scene):
    frame, _ = scene
    found = discover_objects(frame, PerceptionConfig())
    assert all(o.label == UNKNOWN_LABEL for o in found)
    centres = sorted((o.pose.position[:2] for o in found), key=lambda c: c[1])
    assert len(centres) == 2
    # one view sees the front faces, so a centre may sit toward the camera, but inside the footprint
    for centre, (low, high, _) in zip(centres, (BOX, MUG)):
        assert np.all(centre >= low[:2] - 0.01) and np.all(centre <= high[:2] + 0.01), (centre, low, high)


def test_stamp_matcher_pairs_nearest_within_tolerance():
    matcher = StampMatcher(("rgb", "depth"), tolerance_s=0.02)
    for stamp in (1.00, 1.033, 1.066):
        matcher.add("rgb", stamp, f"rgb@{stamp}")
    for stamp in (1.005, 1.070, 1.038):  # out of order
        matcher.add("depth", stamp, f"depth@{stamp}")
    assert matcher.match(1.034) == {"rgb": "rgb@1.033", "depth": "depth@1.038"}
    assert matcher.match(1.5) is None
    assert matcher.nearest("depth", 1.0) == (1.005, "depth@1.005")


def test_stamp_matcher_stays_bounded_with_time_going_backwards():
    matcher = StampMatcher(("depth",), tolerance_s=0.01, depth=3)
    for stamp in (5.0, 6.0, 7.0, 4.0, 6.5, 1.0):
        matcher.add("depth", stamp, stamp)
    assert [matcher.nearest("depth", s) for s in (6.0, 6.5, 7.0)] == [(6.0, 6.0), (6.5, 6.5), (7.0, 7.0)]
    assert matcher.nearest("depth", 5.0) is None and matcher.dropped == 3


def test_a_box_without_mask_keeps_the_objects_own_surface_not_what_stands_in_front_or_behind():
    """A detector's box around the mug also holds a low box standing in front of it and a board
    just behind it: the lifted centre is the mug's."""
    front = (np.array([1.80, 0.42, 0.0]), np.array([1.86, 0.58, 0.05]), (40, 160, 40))
    behind = (np.array([2.12, 0.30, 0.0]), np.array([2.16, 0.70, 0.30]), (200, 200, 200))
    bgr, depth, index = render(CAMERA, [MUG, front, behind])
    frame = RgbdFrame(depth, INTRINSICS, CAMERA, bgr)
    x0, y0, x1, y1 = bounding_box(index, 0)
    box = (x0 - 6, y0 - 6, x1 + 6, y1 + 10)  # loose, as detectors draw them: the front box is inside
    inside = index[box[1]:box[3], box[0]:box[2]]
    assert np.count_nonzero(inside == 1) > 0 and np.count_nonzero(inside == 2) > np.count_nonzero(inside == 0) / 4
    observation = lift_detection(frame, Detection("mug", 0.9, box, None), PerceptionConfig())
    assert observation is not None and not observation.partial
    assert np.linalg.norm(observation.pose.position[:2] - [2.0, 0.5]) < 0.05
    # A 10 cm mug plus some of the low box in front (0.22 measured), not the board behind it (0.31).
    assert observation.extent[:2].max() < 0.25


def test_a_mask_whose_outline_spills_onto_what_stands_in_front_and_behind_keeps_the_objects_surface():
    """A segmenter's outline 4 px too wide around a mug catches a low box in front and a board behind
    it (about half as many pixels as the mug's own): the pixels near the outline count less, so the
    lifted mug is the mug, not the board. Counting every mask pixel alike put it on the board, 8 cm
    behind, twice as deep."""
    import cv2

    front = (np.array([1.80, 0.42, 0.0]), np.array([1.85, 0.58, 0.11]), (40, 160, 40))
    behind = (np.array([2.12, 0.30, 0.0]), np.array([2.16, 0.70, 0.40]), (200, 200, 200))
    bgr, depth, index = render(CAMERA, [MUG, front, behind])
    frame = RgbdFrame(depth, INTRINSICS, CAMERA, bgr)
    outline = cv2.dilate((index == 0).astype(np.uint8), np.ones((9, 9), np.uint8))
    assert np.count_nonzero(outline & (index > 0)) > np.count_nonzero(index == 0) / 2
    x0, y0, x1, y1 = bounding_box(outline, 1)
    detection = Detection("mug", 0.9, (x0, y0, x1, y1), outline[y0:y1, x0:x1])
    observation = lift_detection(frame, detection, PerceptionConfig())
    assert observation is not None
    assert np.linalg.norm(observation.pose.position[:2] - [2.0, 0.5]) < 0.03
    assert observation.extent[:2].max() < 0.16
    spilled = lift_detection(frame, detection, PerceptionConfig(mask_edge_px=0.0))
    assert spilled is not None and spilled.extent[:2].max() > 0.2  # the setting is what keeps it off the board


def test_a_detection_cut_by_the_image_border_is_partial(scene):
    frame, index = scene
    x0, y0, _, y1 = bounding_box(index, 1)
    observation = lift_detection(frame, Detection("box", 0.9, (x0, y0, 640, y1), None), PerceptionConfig())
    assert observation is not None and observation.partial


def test_specks_off_the_surface_are_not_part_of_the_object(scene):
    """One pixel in ten of the box reads 6 cm too near (speckle, multipath): within the depth band
    of a 0.3 m object, so only their jump from their neighbours tells them apart. No lifted point
    is one of them."""
    frame, index = scene
    mask = (index == 1).astype(np.uint8)
    clean = lift_detection(frame, Detection("box", 0.9, bounding_box(index, 1), mask), PerceptionConfig())
    depth = frame.depth_m.copy()
    specks = (index == 1) & (np.random.default_rng(4).random(index.shape) < 0.1)
    depth[specks] -= 0.06
    specked = lift_detection(RgbdFrame(depth, INTRINSICS, CAMERA, frame.rgb),
                             Detection("box", 0.9, bounding_box(index, 1), mask), PerceptionConfig())
    assert np.count_nonzero(specks) > 100
    off_surface, _ = cKDTree(clean.points).query(specked.points)
    # A speck on the silhouette has too few neighbours to be told apart; kept whole they are 9%.
    assert np.mean(off_surface > 0.02) < 0.015, np.mean(off_surface > 0.02)
    np.testing.assert_allclose(specked.extent, clean.extent, atol=0.01)


def test_a_large_mask_is_lifted_from_a_sample_of_its_pixels():
    """A 0.3 m box 0.7 m from the camera fills ~17,000 pixels; about 2 x max_points of them are
    lifted (every third pixel), and the box is still where it is."""
    assert sampling_stride(2500, 2000, 50) == 1  # a small mask: every pixel
    assert sampling_stride(40_000, 2000, 300) == 4
    assert sampling_stride(40_000, 2000, 8) == 2  # a sliver keeps four samples across
    camera = look_at(np.array([1.75, -0.45, 0.75]), np.array([2.45, -0.45, 0.15]))
    bgr, depth, index = render(camera, [BOX])
    pixels = np.count_nonzero(index == 0)
    observation = lift_detection(RgbdFrame(depth, INTRINSICS, camera, bgr),
                                 Detection("box", 0.9, bounding_box(index, 0), (index == 0).astype(np.uint8)),
                                 PerceptionConfig())
    assert pixels > 15_000 and sampling_stride(pixels, PerceptionConfig().max_points, 100) >= 3
    assert np.linalg.norm(observation.pose.position[:2] - [2.45, -0.45]) < 0.05
    assert observation.pose.position[2] + observation.extent[2] / 2 == pytest.approx(0.3, abs=0.015)
    np.testing.assert_allclose(observation.extent, [0.3, 0.3, 0.3], atol=0.03)


def test_a_mask_leaves_out_the_support_unless_it_fills_its_box_or_the_segmenter_is_said_to_spill(scene):
    """The supporting plane is looked for in boxes without a mask and in masks that fill their box
    (a box sent as a mask); an outline is taken at its word, unless support_plane_with_mask says
    the segmenter's masks spill onto what objects stand on."""
    frame, index = scene
    x0, y0, x1, y1 = bounding_box(index, 0)
    box = (x0 - 20, y0, x1 + 20, y1 + 20)  # the mug and the floor around it
    filled = np.ones((box[3] - box[1], box[2] - box[0]), np.uint8)
    spilling = filled.copy()
    spilling[:, :15] = 0  # an outline (it leaves some of its box out) that spills onto the floor
    mug_width = MUG[1][0] - MUG[0][0]

    def width(mask, config):
        observation = lift_detection(frame, Detection("mug", 0.9, box, mask), config)
        assert observation is not None
        return float(observation.extent[:2].max())

    assert width(filled, PerceptionConfig()) == pytest.approx(mug_width, abs=0.02)
    assert width(spilling, PerceptionConfig()) > 3 * mug_width
    assert width(spilling, PerceptionConfig(support_plane_with_mask=True)) == pytest.approx(mug_width, abs=0.02)


def test_a_flat_object_seen_from_above_is_its_top_not_the_noise_around_a_support():
    """A tray 3 cm tall seen from above with a noisy depth camera: its top is a large horizontal
    plane, and what the plane leaves is only that plane's noise. The top is the object."""
    tray = (np.array([1.8, -0.2, 0.0]), np.array([2.2, 0.0, 0.03]), (40, 40, 160))
    camera = look_at(np.array([1.2, -0.1, 1.4]), np.array([2.0, -0.1, 0.0]))
    bgr, depth, index = render(camera, [tray])
    noisy = depth + np.random.default_rng(5).normal(0.0, 0.02, depth.shape).astype(np.float32)
    observation = lift_detection(RgbdFrame(noisy, INTRINSICS, camera, bgr),
                                 Detection("tray", 0.9, bounding_box(index, 0), (index == 0).astype(np.uint8)),
                                 PerceptionConfig())
    assert observation is not None
    assert np.linalg.norm(observation.pose.position[:2] - [2.0, -0.1]) < 0.05
    # The tray's top (its far part is beyond the depth band), not a hundred specks of its noise.
    assert observation.extent[:2].max() > 0.25 and len(observation.points) > 300
