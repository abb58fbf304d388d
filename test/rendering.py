"""A tiny analytic RGB-D renderer for tests: a floor plane and axis-aligned coloured boxes seen by a
pinhole camera (optical frame pose in map). Returns BGR uint8 and depth in metres (along z)."""

from __future__ import annotations

import numpy as np

from memory_nodes.core.geometry import Pose

INTRINSICS = (320.0, 320.0, 320.0, 240.0)
SIZE = (640, 480)


def render(camera: Pose, boxes: list[tuple[np.ndarray, np.ndarray, tuple[int, int, int]]],
           floor_colour=(90, 90, 90)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bgr (H, W, 3), depth (H, W) metres, index (H, W): -1 floor/none, k = box k)."""
    fx, fy, cx, cy = INTRINSICS
    width, height = SIZE
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    directions_cam = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1).reshape(-1, 3)
    rotation = camera.rotation()
    directions = directions_cam @ rotation.T
    origin = camera.position
    best_t = np.full(len(directions), np.inf)
    index = np.full(len(directions), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = -origin[2] / directions[:, 2]
    floor = (t_floor > 0) & np.isfinite(t_floor)
    best_t[floor] = t_floor[floor]
    hit_any = floor.copy()
    for k, (low, high, _) in enumerate(boxes):
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (low - origin) / directions
            t2 = (high - origin) / directions
        t_near = np.nanmax(np.minimum(t1, t2), axis=1)
        t_far = np.nanmin(np.maximum(t1, t2), axis=1)
        hit = (t_near <= t_far) & (t_far > 0) & (t_near < best_t)
        best_t[hit] = t_near[hit]
        index[hit] = k
        hit_any |= hit
    depth = np.where(hit_any, best_t, np.nan)  # t along a ray with z_cam = 1 is the optical depth
    bgr = np.zeros((len(directions), 3), np.uint8)
    bgr[hit_any & (index < 0)] = floor_colour
    for k, (_, _, colour) in enumerate(boxes):
        bgr[index == k] = colour
    return bgr.reshape(height, width, 3), depth.reshape(height, width).astype(np.float32), index.reshape(height, width)
