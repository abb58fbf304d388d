"""OpenCV appearance descriptors and open3d point-cloud cleaning."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.appearance import DESCRIPTOR_SIZE, colour_histogram, main_colour_share, similarity
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.geometry import _trimmed_range, gravity_aligned_box
from memory_nodes.core.point_clouds import downsample, fit_plane


def patch(bgr, brightness=1.0, seed=0):
    rng = np.random.default_rng(seed)
    pixels = np.array(bgr, float) * brightness + rng.normal(0, 6, (24, 24, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def test_same_colour_under_other_light_is_similar_and_other_colours_are_not():
    red = colour_histogram(patch((30, 30, 200)))
    darker_red = colour_histogram(patch((30, 30, 200), brightness=0.6, seed=1))
    blue = colour_histogram(patch((200, 40, 30), seed=2))
    assert red.shape == (DESCRIPTOR_SIZE,) and np.isclose(np.linalg.norm(red), 1.0)
    assert similarity(red, darker_red) > 0.8
    assert similarity(red, blue) < 0.2


def test_mask_selects_the_object_pixels():
    image = patch((30, 30, 200))
    image[:, 12:] = patch((200, 40, 30))[:, 12:]
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[:, :12] = 255
    assert similarity(colour_histogram(image, mask), colour_histogram(patch((30, 30, 200)))) > 0.9
    with pytest.raises(InvalidInputError):
        colour_histogram(image, np.zeros((3, 3), np.uint8))
    with pytest.raises(InvalidInputError):
        colour_histogram(image, np.zeros(image.shape[:2], np.uint8))
    with pytest.raises(InvalidInputError):
        colour_histogram(image.astype(np.float32))


def test_main_colour_share_counts_the_pixels_in_an_objects_main_colours():
    """A mug 70% red, 30% white: its main colour (the fewest bins holding half its pixels) is red
    alone. A place showing a third red and the rest brown holds a third of it, although the cosine of
    the two histograms is low; a place all white (the mug's minor colour) holds none of it."""
    red, white, brown = (30, 30, 210), (200, 40, 40), (40, 80, 140)  # white-ish blue-grey: another bin
    mug = np.zeros((10, 10, 3), np.uint8)
    mug[:7], mug[7:] = red, white
    appearance = colour_histogram(mug)
    place = np.full((6, 9, 3), brown, np.uint8)
    place[:, :3] = red
    everywhere = np.ones((6, 9), bool)
    assert main_colour_share(colour_histogram(place, everywhere), appearance) == pytest.approx(1 / 3)
    assert similarity(colour_histogram(place), appearance) < 0.5
    assert main_colour_share(colour_histogram(np.full((6, 9, 3), white, np.uint8), everywhere), appearance) == 0.0
    left_only = np.zeros((6, 9), bool)
    left_only[:, :3] = True
    assert main_colour_share(colour_histogram(place, left_only), appearance) == 1.0
    with pytest.raises(InvalidInputError):  # no pixel, no share
        main_colour_share(colour_histogram(place, np.zeros((6, 9), bool)), appearance)
    # Greys are no main colour: a white plate's place on a white counter shows nothing of it.
    white_plate = colour_histogram(np.full((10, 10, 3), (235, 235, 235), np.uint8))
    counter = colour_histogram(np.full((6, 9, 3), (225, 225, 225), np.uint8), everywhere)
    assert main_colour_share(counter, white_plate) == 0.0


def test_downsample_removes_flying_pixels_and_bounds_the_size():
    rng = np.random.default_rng(0)
    surface = rng.uniform([0, 0, 1.0], [0.2, 0.2, 1.01], size=(3000, 3))
    flying = np.array([[0.1, 0.1, 2.5], [0.05, 0.15, 0.2], [0.3, -0.2, 1.8]])
    cleaned = downsample(np.vstack([surface, flying]), voxel_size=0.01, max_points=10_000)
    assert cleaned.dtype == np.float32
    assert cleaned[:, 2].max() < 1.05 and cleaned[:, 2].min() > 0.95  # the outliers are gone
    assert len(cleaned) <= 21 * 21 * 2  # one point per occupied 1 cm voxel
    assert len(downsample(surface, 0.01, max_points=50)) == 50
    assert downsample(np.zeros((0, 3)), 0.01, 10).shape == (0, 3)
    with pytest.raises(InvalidInputError):
        downsample(np.zeros((4, 2)), 0.01, 10)


def test_plane_fit_finds_the_table_top_and_is_repeatable():
    rng = np.random.default_rng(3)
    table = np.column_stack([rng.uniform(0, 1, 2000), rng.uniform(0, 1, 2000), 0.74 + rng.normal(0, 0.003, 2000)])
    clutter = rng.uniform([0.2, 0.2, 0.77], [0.5, 0.5, 1.0], (600, 3))
    points = np.vstack([table, clutter])
    plane, inliers = fit_plane(points, 0.02, 100)
    assert abs(abs(plane[2]) - 1.0) < 1e-3 and abs(-plane[3] / plane[2] - 0.74) < 0.005
    assert len(inliers) >= 0.99 * len(table) and inliers.max() < len(table)  # the table, none of the clutter
    again_plane, again = fit_plane(points, 0.02, 100)
    assert np.array_equal(again, inliers) and np.allclose(again_plane, plane)
    with pytest.raises(InvalidInputError):
        fit_plane(points[:2], 0.02, 100)


def test_gravity_aligned_box_follows_the_yaw_and_ignores_a_few_outliers():
    rng = np.random.default_rng(5)
    local = rng.uniform([-0.2, -0.05, 0.0], [0.2, 0.05, 0.1], (2000, 3))
    yaw = 0.6
    rotation = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    points = local @ rotation.T + [1.0, 2.0, 0.7]
    points[:20] += [0.0, 0.0, 3.0]  # flying pixels far above: 1% of the points
    box = gravity_aligned_box(points)
    assert np.allclose(box.extent, [0.4, 0.1, 0.1], atol=0.02)
    assert np.allclose(box.center, [1.0, 2.0, 0.75], atol=0.02)
    # The trimmed ends are numpy's linear-interpolation quantiles, for any count.
    for count in (1, 2, 7, 2000):
        values = rng.normal(size=(count, 3))
        low, high = _trimmed_range(values, 0.02)
        assert np.allclose(low, np.quantile(values, 0.02, axis=0))
        assert np.allclose(high, np.quantile(values, 0.98, axis=0))
