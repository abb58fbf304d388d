"""Poses, oriented boxes and camera geometry, in numpy.

Conventions (REP-103): metres, right-handed frames; world-fixed quantities are in ``map``.
Quaternions are (x, y, z, w), as in geometry_msgs. Camera poses are of the optical frame
(z forward, x right, y down), as in sensor_msgs/CameraInfo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from memory_nodes.core.errors import InvalidInputError

IDENTITY_QUATERNION = np.array([0.0, 0.0, 0.0, 1.0])


def _finite(name: str, values: np.ndarray) -> np.ndarray:
    if not np.isfinite(values).all():
        raise InvalidInputError(f"{name} contains NaN or infinity: {values.tolist()}")
    return values


def vector_length(vector: np.ndarray) -> float:
    """The Euclidean length of one short vector (a 3-vector or a quaternion): for a single vector
    this is several times faster than ``np.linalg.norm``, and it runs on every association test."""
    return math.sqrt(float(vector.dot(vector)))


@dataclass(frozen=True)
class Pose:
    """A rigid pose: ``position`` (3,) in metres and unit ``orientation`` quaternion (x, y, z, w)."""

    position: np.ndarray
    orientation: np.ndarray = field(default_factory=lambda: IDENTITY_QUATERNION.copy())

    def __post_init__(self) -> None:
        position = _finite("position", np.asarray(self.position, dtype=np.float64).reshape(3))
        orientation = _finite("orientation", np.asarray(self.orientation, dtype=np.float64).reshape(4))
        norm = vector_length(orientation)
        if norm < 1e-6:
            raise InvalidInputError("orientation quaternion has zero length")
        object.__setattr__(self, "position", position)
        object.__setattr__(self, "orientation", orientation / norm)

    def rotation(self) -> np.ndarray:
        """The 3x3 rotation matrix of ``orientation`` (read-only: computed once per pose, as every
        projection and transform of a frame asks for it again)."""
        cached: np.ndarray | None = self.__dict__.get("_rotation")
        if cached is None:
            cached = quaternion_to_matrix(self.orientation)
            cached.flags.writeable = False
            self.__dict__["_rotation"] = cached  # a cache beside the frozen fields, not a field
        return cached

    def transform(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 3) points from this pose's frame to its parent frame."""
        moved: np.ndarray = points @ self.rotation().T + self.position
        return moved

    def inverse_transform(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 3) points from the parent frame into this pose's frame."""
        local: np.ndarray = (points - self.position) @ self.rotation()
        return local


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion (x, y, z, w)."""
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a rotation matrix (3, 3)."""
    m = rotation
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    unit: np.ndarray = np.asarray(q, dtype=np.float64)
    normalised: np.ndarray = unit / np.linalg.norm(unit)
    return normalised


def yaw_quaternion(yaw: float) -> np.ndarray:
    """Quaternion (x, y, z, w) of a rotation by ``yaw`` radians about +z."""
    return np.array([0.0, 0.0, np.sin(yaw / 2.0), np.cos(yaw / 2.0)])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> Pose:
    """Pose of a camera optical frame (z forward, x right, y down) at ``eye`` looking at
    ``target``, both in the parent frame (metres); ``up`` defaults to +z (REP-103)."""
    eye = _finite("eye", np.asarray(eye, dtype=np.float64).reshape(3))
    forward = _finite("target", np.asarray(target, dtype=np.float64).reshape(3)) - eye
    if np.linalg.norm(forward) < 1e-9:
        raise InvalidInputError("look_at: eye and target coincide")
    forward /= np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, dtype=np.float64)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return Pose(eye, matrix_to_quaternion(np.column_stack([right, down, forward])))


@dataclass(frozen=True)
class OrientedBox:
    """A box with its centre and orientation in ``pose`` and full side lengths ``extent`` (3,), metres."""

    pose: Pose
    extent: np.ndarray

    def __post_init__(self) -> None:
        extent = _finite("extent", np.asarray(self.extent, dtype=np.float64).reshape(3))
        if (extent < 0).any():
            raise InvalidInputError(f"extent must be non-negative, got {extent.tolist()}")
        object.__setattr__(self, "extent", extent)

    @property
    def center(self) -> np.ndarray:
        return self.pose.position

    def corners(self) -> np.ndarray:
        """The 8 corners (8, 3) in the parent frame."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
        return self.pose.transform(signs * (self.extent / 2.0))

    def axis_aligned_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min (3,), max (3,)) of the axis-aligned box enclosing this box, parent frame."""
        return aabb_of(self.pose, self.extent)


def aabb_of(pose: Pose, extent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(min (3,), max (3,)) of the axis-aligned box enclosing the box of full side lengths
    ``extent`` (3,) at ``pose``: the centre -/+ the half extent through the absolute rotation (the
    farthest corner on each axis)."""
    half = np.asarray(extent, dtype=np.float64) / 2.0
    if pose.orientation[3] != 1.0:  # not the identity
        half = np.abs(pose.rotation()) @ half
    return pose.position - half, pose.position + half


def gravity_aligned_box(points: np.ndarray, trim_fraction: float = 0.02) -> OrientedBox:
    """The box around (N, 3) ``map`` points whose z axis is vertical and whose yaw follows the
    principal horizontal axis; the ``trim_fraction`` extreme points per axis are ignored so a few
    depth outliers do not inflate it. Household objects rest on horizontal surfaces, so a
    gravity-aligned box is steadier across views than a free 3D minimal box."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise InvalidInputError(f"need (N, 3) points with N > 0, got shape {points.shape}")
    _finite("points", points)
    yaw = 0.0
    if len(points) >= 3:
        # The principal axis of the horizontal spread, in closed form for a 2x2 covariance (from the
        # sums: centring a strided (N, 2) view first cost more than the rest of the fit).
        x, y = points[:, 0], points[:, 1]
        count, mean_x, mean_y = len(points), float(x.mean()), float(y.mean())
        sxx = float(x @ x) - count * mean_x * mean_x
        syy = float(y @ y) - count * mean_y * mean_y
        sxy = float(x @ y) - count * mean_x * mean_y
        yaw = 0.5 * math.atan2(2.0 * sxy, sxx - syy)
    orientation = yaw_quaternion(yaw)
    rotation = quaternion_to_matrix(orientation)
    local = points @ rotation  # into the box frame (rotation only)
    low, high = _trimmed_range(local, min(max(trim_fraction, 0.0), 0.25))
    center_local = (low + high) / 2.0
    return OrientedBox(Pose(rotation @ center_local, orientation), high - low)


def _trimmed_range(values: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column of (N, D) ``values``: the ``fraction`` and ``1 - fraction`` quantiles (linear
    interpolation, as numpy's default). One partial sort for both ends: np.quantile sorts twice and
    its overhead dominated the box fit of a few hundred points."""
    count = len(values)
    if fraction <= 0 or count == 1:
        return values.min(axis=0), values.max(axis=0)
    positions = (fraction * (count - 1), (1.0 - fraction) * (count - 1))
    below = [math.floor(position) for position in positions]
    part = np.partition(values, sorted({k for i in below for k in (i, min(i + 1, count - 1))}), axis=0)
    low, high = ((part[i] + (part[min(i + 1, count - 1)] - part[i]) * (position - i))
                 for i, position in zip(below, positions))
    return low, high


def aabb_containment(min_a: np.ndarray, max_a: np.ndarray, min_b: np.ndarray, max_b: np.ndarray) -> float | np.ndarray:
    """The fraction of box a's volume inside box b (axis-aligned, (..., 3) corners); 0 for a flat a.
    Leading axes broadcast (one box against many gives an array); two single boxes give a float."""
    overlap = np.prod(np.clip(np.minimum(max_a, max_b) - np.maximum(min_a, min_b), 0.0, None), axis=-1)
    volume_a = np.prod(np.clip(np.asarray(max_a) - min_a, 0.0, None), axis=-1)
    fraction = np.divide(overlap, volume_a, out=np.zeros(np.broadcast(overlap, volume_a).shape),
                         where=volume_a > 1e-12)
    return float(fraction) if fraction.ndim == 0 else fraction


def aabb_iou(min_a: np.ndarray, max_a: np.ndarray, min_b: np.ndarray, max_b: np.ndarray) -> float:
    """Intersection over union of two axis-aligned boxes given by their (3,) corners."""
    # On floats, not arrays: numpy's per-call overhead is most of the cost for three numbers.
    (ax0, ay0, az0), (ax1, ay1, az1) = min_a.tolist(), max_a.tolist()
    (bx0, by0, bz0), (bx1, by1, bz1) = min_b.tolist(), max_b.tolist()
    intersection = (max(min(ax1, bx1) - max(ax0, bx0), 0.0) * max(min(ay1, by1) - max(ay0, by0), 0.0)
                    * max(min(az1, bz1) - max(az0, bz0), 0.0))
    volume_a = max(ax1 - ax0, 0.0) * max(ay1 - ay0, 0.0) * max(az1 - az0, 0.0)
    volume_b = max(bx1 - bx0, 0.0) * max(by1 - by0, 0.0) * max(bz1 - bz0, 0.0)
    union = volume_a + volume_b - intersection
    return intersection / union if union > 1e-12 else 0.0


class ImageDetection(NamedTuple):
    """A detection that could not be placed in 3D (too few valid depth pixels: small, far, on a
    depth hole, a shiny or dark surface): its label, score and box (x_min, y_min, x_max, y_max) in
    the pixels of the view it came with. It still says a thing of that label stands there."""

    label: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class CameraView:
    """What a camera could see at one instant, for negative evidence.

    ``pose``: optical frame in ``map``. ``intrinsics``: (fx, fy, cx, cy) in pixels of ``depth``.
    ``depth``: (H, W) float32 metres, 0 or NaN where unknown; may be None (no occlusion test).
    ``color``: (H, W, 3) uint8 BGR at the size of ``depth``, or None (no appearance test).
    ``width``/``height``: image size in pixels matching the intrinsics.
    ``unplaced``: the frame's detections that could not be placed in 3D, in these pixels.
    """

    pose: Pose
    intrinsics: tuple[float, float, float, float]
    width: int
    height: int
    max_range: float
    depth: np.ndarray | None = None
    color: np.ndarray | None = None
    unplaced: tuple[ImageDetection, ...] = ()

    def __post_init__(self) -> None:
        fx, fy, cx, cy = self.intrinsics
        if not (np.isfinite([fx, fy, cx, cy]).all() and fx > 0 and fy > 0):
            raise InvalidInputError(f"camera intrinsics must be finite with fx, fy > 0, got {self.intrinsics}")
        if self.width <= 0 or self.height <= 0:
            raise InvalidInputError(f"image size must be positive, got {self.width}x{self.height}")
        if not (np.isfinite(self.max_range) and self.max_range > 0):
            raise InvalidInputError(f"max_range must be positive, got {self.max_range}")
        if self.depth is not None and self.depth.shape != (self.height, self.width):
            raise InvalidInputError(
                f"depth is {self.depth.shape[1]}x{self.depth.shape[0]} but the intrinsics are for "
                f"{self.width}x{self.height}"
            )
        if self.color is not None and (self.color.shape != (self.height, self.width, 3) or self.color.dtype != np.uint8):
            raise InvalidInputError(f"colour image is {self.color.shape} {self.color.dtype}, expected "
                                    f"({self.height}, {self.width}, 3) uint8 like the view")
        for detection in self.unplaced:
            x0, y0, x1, y1 = detection.box
            if not (detection.label.strip() and math.isfinite(detection.score) and 0.0 <= detection.score <= 1.0
                    and 0.0 <= x0 <= x1 <= self.width and 0.0 <= y0 <= y1 <= self.height):
                raise InvalidInputError(f"unplaced detection {detection} needs a label, a score in [0, 1] and a box "
                                        f"inside the {self.width}x{self.height} image with x_min <= x_max, "
                                        "y_min <= y_max")

    def project(self, points_map: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel coordinates u (N,), v (N,) and depth z (N,) metres of (N, 3) ``map`` points."""
        local = self.pose.inverse_transform(np.asarray(points_map, dtype=np.float64).reshape(-1, 3))
        z = local[:, 2]
        fx, fy, cx, cy = self.intrinsics
        with np.errstate(divide="ignore", invalid="ignore"):
            u = fx * local[:, 0] / z + cx
            v = fy * local[:, 1] / z + cy
        return u, v, z

    def may_show(self, centres_map: np.ndarray, radii: np.ndarray) -> np.ndarray:
        """Bool (N,): a sphere of radius ``radii`` (N,) about each of the (N, 3) ``map`` centres
        reaches into the frustum (in front of the camera, nearer than ``max_range``, inside the
        four planes through the image borders). Conservative: False means no point of it can be
        in view; one test for all spheres, where projecting each object's samples cost a call."""
        local = self.pose.inverse_transform(np.asarray(centres_map, dtype=np.float64).reshape(-1, 3))
        x, y, z = local[:, 0], local[:, 1], local[:, 2]
        radii = np.asarray(radii, dtype=np.float64)
        fx, fy, cx, cy = self.intrinsics
        inside: np.ndarray = (z + radii > 0.0) & (z - radii < self.max_range)
        # Each border plane holds the optical centre; (a, b) is its normal in the x-z or y-z plane.
        for along, (a, b) in ((x, (fx, cx)), (x, (-fx, self.width - cx)), (y, (fy, cy)), (y, (-fy, self.height - cy))):
            inside &= (a * along + b * z) / math.hypot(a, b) >= -radii
        return inside

    def expected_visible(self, points_map: np.ndarray, occlusion_margin: float, border_px: float) -> np.ndarray:
        """Bool (N,): the point lies in the frustum, nearer than ``max_range``, at least
        ``border_px`` inside the image, and no measured depth in front of it by more than
        ``occlusion_margin`` metres. Pixels with unknown depth count as not visible (no evidence)."""
        return self._visible(*self.project(points_map), occlusion_margin, border_px)

    def _visible(self, u: np.ndarray, v: np.ndarray, z: np.ndarray, occlusion_margin: float,
                 border_px: float) -> np.ndarray:
        """``expected_visible`` of points already projected to pixels ``u``, ``v`` at depth ``z``."""
        inside = (
            (z > 0.05)
            & (z < self.max_range)
            & (u >= border_px)
            & (u < self.width - border_px)
            & (v >= border_px)
            & (v < self.height - border_px)
        )
        if self.depth is None or not inside.any():
            return inside
        idx = np.flatnonzero(inside)
        measured = self.depth[v[idx].astype(int), u[idx].astype(int)]
        known = np.isfinite(measured) & (measured > 0)
        unoccluded = known & (measured > z[idx] - occlusion_margin)
        result = np.zeros(len(z), dtype=bool)
        result[idx[unoccluded]] = True
        return result

    def look_through(self, points_map: np.ndarray, occlusion_margin: float, border_px: float,
                     free_margin: float, free_margin_per_m2: float) -> tuple[np.ndarray, np.ndarray]:
        """(seen, empty), bool (N,) each, for the negative evidence of objects.

        ``seen``: the point is ``expected_visible``. ``empty``: seen, and the depth measured on its
        ray lies beyond it by more than ``free_margin + free_margin_per_m2 * z**2`` metres (the
        second term covers depth noise, which grows with the square of the range): the camera
        looked through the point at what stands behind it, so nothing is there. A present object
        returns its own front surface, at or before the point."""
        u, v, z = self.project(points_map)
        seen = self._visible(u, v, z, occlusion_margin, border_px)
        empty = np.zeros(len(seen), dtype=bool)
        if self.depth is None or not seen.any():
            return seen, empty
        idx = np.flatnonzero(seen)
        measured = self.depth[v[idx].astype(int), u[idx].astype(int)]
        empty[idx] = measured > z[idx] + free_margin + free_margin_per_m2 * z[idx] ** 2
        return seen, empty

    def color_patch(self, points_map: np.ndarray, shift_px: tuple[int, int] = (0, 0),
                    occlusion_margin: float = math.inf) -> tuple[np.ndarray, np.ndarray] | None:
        """(pixels, mask) of the ``color`` image box around the projections of ``points_map``
        (those in front of the camera), moved by ``shift_px`` (columns, rows): the (h, w, 3) pixels
        and an (h, w) bool mask of those whose measured depth is not in front of the nearest
        point by more than ``occlusion_margin`` metres (unknown depth counts as not in front). A
        masked-out pixel shows something standing before the points, not their place. None
        without a colour image or when none projects in."""
        if self.color is None:
            return None
        u, v, z = self.project(points_map)
        ok = (z > 0.05) & np.isfinite(u) & np.isfinite(v)
        if not ok.any():
            return None
        u, v = u + shift_px[0], v + shift_px[1]
        u0, u1 = int(max(0, np.floor(u[ok].min()))), int(min(self.width, np.ceil(u[ok].max()) + 1))
        v0, v1 = int(max(0, np.floor(v[ok].min()))), int(min(self.height, np.ceil(v[ok].max()) + 1))
        if u1 <= u0 or v1 <= v0:
            return None
        pixels = self.color[v0:v1, u0:u1]
        if self.depth is None or not math.isfinite(occlusion_margin):
            return pixels, np.ones(pixels.shape[:2], dtype=bool)
        measured = self.depth[v0:v1, u0:u1]
        with np.errstate(invalid="ignore"):
            in_front = np.isfinite(measured) & (measured > 0) & (measured < float(z[ok].min()) - occlusion_margin)
        return pixels, ~in_front

    def footprint_fraction(self, center: np.ndarray, extent: np.ndarray) -> float:
        """The share of the image an object of size ``extent`` (m) centred at ``center`` (``map``)
        covers, seen from here (a sphere of the box's mean half-size; 0 behind the camera)."""
        _, _, z = self.project(np.asarray(center, dtype=np.float64).reshape(1, 3))
        depth = float(z[0])
        if not depth > 0.05:
            return 0.0
        fx, fy, _, _ = self.intrinsics
        radius = float(np.mean(extent)) / 2.0
        area = math.pi * (fx * radius / depth) * (fy * radius / depth)
        return min(1.0, area / (self.width * self.height))
