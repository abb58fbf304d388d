"""TUM RGB-D format folders: the frame list with the ground-truth camera pose nearest in time.

Reads ``rgbd_assoc.txt`` (``rgb_stamp rgb_path depth_stamp depth_path``) or ``rgb.txt`` +
``depth.txt``, and the motion-capture poses (``timestamp tx ty tz qx qy qz qw``, camera optical
frame in the world, used as ``map``); keyframe folders whose lists are indexed 0..N-1 take row i of
the pose file for frame i. Optional per-frame 2D boxes ``NNNN_*.txt`` hold ``x y w h score``.
No rclpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memory_nodes.core.errors import InvalidInputError

# fx, fy, cx, cy (pixels) of the Kinect of TUM's freiburg1 sequences, as the data set publishes them.
FREIBURG1_INTRINSICS = (517.3, 516.5, 318.6, 255.3)


@dataclass
class TumFrame:
    stamp: float
    rgb_path: Path
    depth_path: Path
    pose: tuple[float, ...]  # tx ty tz qx qy qz qw, camera in map
    box: tuple[float, float, float, float, float] | None  # x y w h score


def _rows(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def read_tum(folder: Path, boxes: Path | None = None) -> list[TumFrame]:
    """The frames of a TUM-format folder, each with the motion-capture pose nearest in time."""
    folder = Path(folder)
    if (folder / "rgbd_assoc.txt").exists():
        pairs = [(float(r[0]), r[1], r[3]) for r in _rows(folder / "rgbd_assoc.txt")]
        poses = np.array([[float(v) for v in r] for r in _rows(folder / "groundtruth.txt")])
    elif (folder / "rgb.txt").exists():
        depth = {r[0]: r[1] for r in _rows(folder / "depth.txt")}
        pose_file = folder / "truth_cam_poses.txt" if (folder / "truth_cam_poses.txt").exists() else folder / "groundtruth.txt"
        poses = np.array([[float(v) for v in r] for r in _rows(pose_file)])
        rgb = _rows(folder / "rgb.txt")
        if len(rgb) == len(poses) and all(r[0].isdigit() for r in rgb):
            # keyframe folders index frames 0..N-1; row i of the pose file is frame i
            pairs = [(poses[i, 0], r[1], depth[r[0]]) for i, r in enumerate(rgb)]
        else:
            pairs = [(float(r[0]), r[1], depth[r[0]]) for r in rgb]
    else:
        raise InvalidInputError(f"{folder} has neither rgbd_assoc.txt nor rgb.txt")
    frames = []
    for index, (stamp, rgb_name, depth_name) in enumerate(pairs):
        nearest = poses[int(np.argmin(np.abs(poses[:, 0] - stamp)))]
        box = None
        if boxes is not None:
            matches = sorted(Path(boxes).glob(f"{index:04d}_*.txt"))
            values = matches[0].read_text().split() if matches else []
            box = tuple(float(v) for v in values[:5]) if len(values) >= 5 else None
        frames.append(TumFrame(stamp, folder / rgb_name, folder / depth_name, tuple(nearest[1:8]), box))
    return frames


