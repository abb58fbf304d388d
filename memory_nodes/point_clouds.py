"""Object point clouds with open3d: voxel downsampling and removal of depth outliers.

RGB-D segments carry "flying pixels" along depth edges, a few points far behind or in front of
the object; they inflate boxes and break overlap tests. A statistical outlier filter (mean
distance to the k nearest neighbours beyond ``std_ratio`` standard deviations) removes them.
open3d is imported on first use: nodes whose observations have no points never pay its start-up.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidInputError

_MIN_POINTS_FOR_OUTLIER_FILTER = 32


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
