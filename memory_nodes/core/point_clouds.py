"""Object point clouds with open3d: voxel downsampling and removal of depth outliers.

RGB-D segments carry "flying pixels" along depth edges, a few points far behind or in front of
the object; they inflate boxes and break overlap tests. A statistical outlier filter (mean
distance to the k nearest neighbours beyond ``std_ratio`` standard deviations) removes them.
open3d is imported on first use: nodes whose observations have no points never pay its start-up.
"""

from __future__ import annotations

import numpy as np

from memory_nodes.core.errors import InvalidInputError

_MIN_POINTS_FOR_OUTLIER_FILTER = 32
_PLANE_SCORING_POINTS = 1000


def downsample(points: np.ndarray, voxel_size: float, max_points: int, remove_outliers: bool = True,
               neighbours: int = 16, std_ratio: float = 2.5) -> np.ndarray:
    """(N, 3) points (metres, any frame) -> (M, 3) float32, one point per ``voxel_size`` voxel
    (their mean), statistical outliers removed, at most ``max_points`` (a seeded uniform subset)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InvalidInputError(f"points must be (N, 3), got {points.shape}")
    if not voxel_size > 0:
        raise InvalidInputError(f"voxel_size must be > 0, got {voxel_size}")
    if len(points) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud = cloud.voxel_down_sample(voxel_size)
    if remove_outliers and len(cloud.points) >= _MIN_POINTS_FOR_OUTLIER_FILTER:
        cloud, _ = cloud.remove_statistical_outlier(nb_neighbors=neighbours, std_ratio=std_ratio)
    result = np.asarray(cloud.points, dtype=np.float32)
    if len(result) > max_points:
        keep = np.random.default_rng(len(result)).choice(len(result), max_points, replace=False)
        result = result[np.sort(keep)]
    return result


def fit_plane(points: np.ndarray, distance: float, iterations: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The plane with the most points within ``distance`` (RANSAC over ``iterations`` random
    triples, refined by least squares on its inliers): ((4,) a, b, c, d with a unit normal, sorted
    inlier indices). Seeded, so the same points give the same plane: open3d's RANSAC is not
    repeatable, and a memory fed the same frames twice must see the same objects twice."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < 3:
        raise InvalidInputError(f"a plane needs (N >= 3, 3) points, got {points.shape}")
    rng = np.random.default_rng(seed)
    triples = points[rng.integers(0, len(points), (iterations, 3))]
    first, second = triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0]
    # The cross product written out: np.cross's generic broadcasting cost more than the arithmetic.
    normals = np.column_stack([first[:, 1] * second[:, 2] - first[:, 2] * second[:, 1],
                               first[:, 2] * second[:, 0] - first[:, 0] * second[:, 2],
                               first[:, 0] * second[:, 1] - first[:, 1] * second[:, 0]])
    lengths = np.sqrt(np.einsum("ij,ij->i", normals, normals))
    usable = lengths > 1e-9
    if not usable.any():
        return np.array([0.0, 0.0, 1.0, 0.0]), np.zeros(0, dtype=int)
    normals = normals[usable] / lengths[usable, None]
    offsets = -np.einsum("ij,ij->i", normals, triples[usable, 0])
    # Score the hypotheses on a fixed subset: the best plane of 1,000 points is the best of all of
    # them for any plane worth finding, at a fraction of the cost; inliers then come from all points.
    sample = points if len(points) <= _PLANE_SCORING_POINTS else points[
        rng.choice(len(points), _PLANE_SCORING_POINTS, replace=False)]
    # In float32 about the sample's centre (exact enough for centimetre tolerances at any range)
    # and in place: the (points x hypotheses) temporaries dominated the cost of a detection.
    origin = sample.mean(axis=0)
    # One row per hypothesis, so each count runs along contiguous memory.
    residuals = normals.astype(np.float32) @ (sample - origin).T.astype(np.float32)
    residuals += (offsets + normals @ origin).astype(np.float32)[:, None]
    np.abs(residuals, out=residuals)
    best = int(np.argmax(np.count_nonzero(residuals <= distance, axis=1)))
    inliers = np.flatnonzero(np.abs(points @ normals[best] + offsets[best]) <= distance)
    if len(inliers) >= 3:
        centre = points[inliers].mean(axis=0)
        spread = points[inliers] - centre
        normal = np.linalg.eigh(spread.T @ spread)[1][:, 0]  # the direction of least spread
        refined = np.flatnonzero(np.abs((points - centre) @ normal) <= distance)
        if len(refined) >= len(inliers):
            return np.append(normal, -float(normal @ centre)), refined
    return np.append(normals[best], offsets[best]), inliers
