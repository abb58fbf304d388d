"""Perception front-end: RGB-D frames and 2D detections to 3D object observations in ``map``.

Two modes. With a detector, each 2D detection (box, optional mask) is lifted to 3D: its pixels
with valid depth (a sample of a large mask) are back-projected through the pinhole
intrinsics, moved into ``map`` by the camera pose, cleaned (the supporting plane where no outline
leaves it out, the depth band of the object, flying pixels found by their depth jumps on the image
grid, then an open3d voxel grid) and boxed; its appearance is the OpenCV hue-saturation histogram
of its pixels. Without a detector, the geometric mode finds objects from depth alone: the dominant
planes (floor, walls, table tops) are removed with RANSAC and what remains is clustered (DBSCAN);
each cluster of a plausible size is an object labelled ``unknown_object``.

``StampMatcher`` pairs streams by stamp (approximate time, a tolerance in seconds), as
message_filters' ApproximateTime would, written against stamps so it also works on replayed data.
No rclpy here.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from memory_nodes.core.appearance import colour_histogram
from memory_nodes.core.errors import ConfigError, InvalidInputError
from memory_nodes.core.geometry import CameraView, ImageDetection, Pose, gravity_aligned_box
from memory_nodes.core.point_clouds import downsample, fit_plane
from memory_nodes.core.settings import setting, validate
from memory_nodes.core.spatial import UNKNOWN_LABEL, Observation

_FULL_BOX = 0.9  # share of its box a mask fills when it is the box itself, not an outline


@dataclass(frozen=True)
class PerceptionConfig:
    """Lifting and discovery thresholds; metres, seconds."""

    min_points: int = setting(
        20, "valid depth pixels needed to lift a detection (a small object far away, its mask eroded by the "
        "segmenter, keeps 20-30)", low=3)
    max_depth: float = setting(6.0, "depth beyond which pixels are ignored", "m", above=0)
    depth_band: float = setting(
        0.25, "largest depth range kept around the front of a detection (the band used is the object's width "
        "plus the depth noise measured in the frame)", "m", above=0)
    border_px: int = setting(
        3, "a detection box this close to the image border is of an object cut by it (partial)", "px", low=0)
    box_shrink: float = setting(0.1, "fraction of a box's width/height dropped at each border when there is no mask",
                                low=0, below=0.5)
    mask_edge_px: float = setting(
        3.0, "width of a mask's edge whose pixels count less (in proportion to their distance from the edge) when "
        "finding which depth is the object's surface: a segmenter's outline is off by a few pixels and catches what "
        "stands in front or behind; 0 counts every mask pixel alike", "px", low=0)
    voxel_size: float = setting(0.01, "voxel size of an observation's points", "m", above=0)
    max_points: int = setting(
        1500, "points kept per observation (at least min_points); about twice as many pixels are lifted. 1,500 "
        "one-centimetre points outnumber the two-centimetre voxels the spatial memory keeps of any one view",
        low=3)
    min_score: float = setting(0.3, "detections below this score are ignored", low=0, high=1)
    plane_distance: float = setting(0.02, "RANSAC inlier distance for supporting and dominant planes", "m", above=0)
    support_plane_with_mask: bool = setting(
        False, "also look for the supporting plane (table top, floor) inside every masked detection, not only inside "
        "boxes and masks that fill their box: for segmenters whose masks spill onto what the object stands on (an "
        "outline leaves it out, and the plane fit took a quarter of the lifting time)")
    max_planes: int = setting(3, "dominant planes removed before clustering (geometric mode)", low=0)
    min_plane_fraction: float = setting(0.15, "share of the points a plane needs to be removed (geometric mode)",
                                        low=0, high=1)
    cluster_eps: float = setting(0.05, "least DBSCAN radius (geometric mode)", "m", above=0)
    cluster_min_points: int = setting(30, "depth samples a cluster needs to be an object (geometric mode)", low=1)
    min_object_size: float = setting(0.04, "smallest object (largest box side) kept in geometric mode", "m", above=0)
    max_object_size: float = setting(1.5, "largest object (largest box side) kept in geometric mode", "m", above=0)
    discovery_stride: int = setting(4, "pixel stride of the depth samples in geometric mode", low=1)

    def __post_init__(self) -> None:
        validate(self, "perception ")
        if self.max_points < self.min_points:
            raise ConfigError(f"perception max_points ({self.max_points}) must be >= min_points ({self.min_points})")


@dataclass
class Detection:
    """A 2D detection: pixel box [x_min, x_max) x [y_min, y_max), optional mask of the image's
    (H, W) or cropped to the box (y_max - y_min, x_max - x_min)."""

    label: str
    score: float
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max
    mask: np.ndarray | None = None


def depth_to_metres(data: np.ndarray, encoding: str, scale: float = 0.001) -> np.ndarray:
    """(H, W) float32 metres from a depth image; 16UC1 is multiplied by ``scale`` (REP-118:
    millimetres, scale 0.001), 32FC1 is metres. Invalid depth becomes NaN."""
    if encoding in ("16UC1", "mono16"):
        metres = np.asarray(data, dtype=np.float32) * scale
        metres[np.asarray(data) == 0] = np.nan
    elif encoding == "32FC1":
        metres = np.array(data, dtype=np.float32)
        metres[~np.isfinite(metres) | (metres <= 0)] = np.nan
    else:
        raise InvalidInputError(f"depth encoding {encoding!r} is not supported; use 16UC1 (mm) or 32FC1 (m)")
    return metres


def back_project(depth_m: np.ndarray, intrinsics: tuple[float, float, float, float], pixels_v: np.ndarray,
                 pixels_u: np.ndarray) -> np.ndarray:
    """(N, 3) points in the optical frame (metres) of pixels (v, u) with their depth."""
    fx, fy, cx, cy = intrinsics
    z = depth_m[pixels_v, pixels_u]
    return np.column_stack([(pixels_u - cx) * z / fx, (pixels_v - cy) * z / fy, z])


class RgbdFrame:
    """One synchronised RGB-D frame: ``rgb`` (H, W, 3) uint8 BGR or None, ``depth_m`` (H, W) float32
    metres (NaN = unknown), intrinsics of the depth image, optical-frame ``camera_pose`` in ``map``."""

    def __init__(self, depth_m: np.ndarray, intrinsics: tuple[float, float, float, float], camera_pose: Pose,
                 rgb: np.ndarray | None = None) -> None:
        if depth_m.ndim != 2:
            raise InvalidInputError(f"depth must be (H, W), got {depth_m.shape}")
        if rgb is not None and rgb.shape[:2] != depth_m.shape:
            raise InvalidInputError(f"rgb is {rgb.shape[1]}x{rgb.shape[0]} but depth is "
                                    f"{depth_m.shape[1]}x{depth_m.shape[0]}; register them first")
        self.depth_m = depth_m
        self.rgb = rgb
        self.intrinsics = intrinsics
        self.camera_pose = camera_pose
        self.view = CameraView(camera_pose, intrinsics, depth_m.shape[1], depth_m.shape[0], max_range=10.0,
                               depth=np.nan_to_num(depth_m, nan=0.0))

    def memory_view(self, factor: int, max_range: float, unplaced: Sequence[Detection] = ()) -> CameraView:
        """The view sent to the memory for its negative evidence: depth and colours shrunk by
        ``factor`` (a memory needs where things are not, not every pixel), objects expected within
        ``max_range`` metres, and the ``unplaced`` detections (which ``lift_detection`` could not
        place) with their boxes in its pixels: a remembered object there was detected, not missed."""
        if factor < 1:
            raise InvalidInputError(f"view factor must be >= 1, got {factor}")
        small = np.nan_to_num(self.depth_m[::factor, ::factor], nan=0.0).astype(np.float32)
        color = None
        if self.rgb is not None and self.rgb.shape[:2] == self.depth_m.shape and self.rgb.dtype == np.uint8:
            color = np.ascontiguousarray(self.rgb[::factor, ::factor, :3])
        fx, fy, cx, cy = self.intrinsics
        height, width = small.shape
        boxes = []
        for d in unplaced:  # in the view's pixels, cut to the image (a detector's box may overhang it)
            x0, x1 = sorted((min(max(d.box[0] / factor, 0.0), width), min(max(d.box[2] / factor, 0.0), width)))
            y0, y1 = sorted((min(max(d.box[1] / factor, 0.0), height), min(max(d.box[3] / factor, 0.0), height)))
            boxes.append(ImageDetection(d.label, d.score, (x0, y0, x1, y1)))
        return CameraView(self.camera_pose, (fx / factor, fy / factor, cx / factor, cy / factor), width, height,
                          max_range, small, color, tuple(boxes))


def lift_detection(frame: RgbdFrame, detection: Detection, config: PerceptionConfig) -> Observation | None:
    """The 3D observation of ``detection`` in ``map``, or None when too few valid depth pixels
    support it (occluded, out of range, on a depth hole)."""
    height, width = frame.depth_m.shape
    bx0, by0, bx1, by1 = detection.box
    bx0, bx1, by0, by1 = min(bx0, bx1), max(bx0, bx1), min(by0, by1), max(by0, by1)
    if detection.mask is not None and detection.mask.shape == (height, width):
        # A full-image mask is the finer outline: where a jittered box cuts it (a sliver a few
        # pixels across), the mask's own extent decides which pixels are the object.
        outline = detection.mask > 0
        rows, cols = np.nonzero(np.any(outline, axis=1)), np.nonzero(np.any(outline, axis=0))
        if len(rows[0]) and len(cols[0]):
            bx0, bx1 = min(bx0, int(cols[0][0])), max(bx1, int(cols[0][-1]) + 1)
            by0, by1 = min(by0, int(rows[0][0])), max(by1, int(rows[0][-1]) + 1)
    x0, x1 = max(0, bx0), min(width, bx1)
    y0, y1 = max(0, by0), min(height, by1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    mask = detection.mask
    if mask is not None:
        if mask.shape == (height, width):
            mask = mask[y0:y1, x0:x1]
        elif mask.shape == (by1 - by0, bx1 - bx0):  # cropped to the box, as instance segmenters send it
            mask = mask[y0 - by0:y1 - by0, x0 - bx0:x1 - bx0]
        else:
            raise InvalidInputError(f"mask is {mask.shape[1]}x{mask.shape[0]}; expected the image's "
                                    f"{width}x{height} or the box's {bx1 - bx0}x{by1 - by0}")
    # Work inside the box only: a few thousand pixels, not the whole image, per detection.
    depth = frame.depth_m[y0:y1, x0:x1]
    # A mask leaves out what the object stands on, unless it fills its box (a box sent as a mask)
    # or the segmenter is known to spill onto the support.
    find_support = mask is None or config.support_plane_with_mask
    if mask is not None:
        selected = mask > 0
        find_support = find_support or int(np.count_nonzero(selected)) >= _FULL_BOX * selected.size
    else:  # the box's centre part: its border is mostly background
        dx, dy = int((x1 - x0) * config.box_shrink), int((y1 - y0) * config.box_shrink)
        selected = np.zeros(depth.shape, dtype=bool)
        selected[dy:depth.shape[0] - dy, dx:depth.shape[1] - dx] = True
    selected &= np.isfinite(depth) & (depth < config.max_depth)
    v, u = np.nonzero(selected)
    if len(v) < config.min_points:
        return None
    fx, fy, cx, cy = frame.intrinsics
    stride = sampling_stride(len(v), config.max_points, min(x1 - x0, y1 - y0))
    if stride > 1:
        on_grid = (v % stride == 0) & (u % stride == 0)
        v, u = v[on_grid], u[on_grid]
        if not len(v):
            return None
    points = frame.camera_pose.transform(back_project(depth, (fx, fy, cx - x0, cy - y0), v, u))
    z = depth[v, u]
    noise = depth_noise(z, u, v, stride)
    keep = ~_supporting_plane(points, config, noise, stride) if find_support else np.ones(len(points), dtype=bool)
    if mask is not None:
        at_border = ((y0 == 0, y1 == height), (x0 == 0, x1 == width))
        weights = _inside_the_outline(mask > 0, v, u, config.mask_edge_px, at_border)
    else:  # without a mask the box's centre is more likely the object than its border
        half_w, half_h = max(1.0, (x1 - x0) / 2.0), max(1.0, (y1 - y0) / 2.0)
        weights = np.clip(1.0 - np.maximum(np.abs(u + 0.5 - half_w) / half_w, np.abs(v + 0.5 - half_h) / half_h), 0.05, 1.0)
    keep &= _own_surface(z, u, keep, fx, config, weights, noise)
    if _pixels(keep, stride) >= 4 * config.min_points:
        # A smaller detection is mostly outline: its edges cannot be told from flying pixels.
        keep = _connected_to_the_surface(z, u, v, keep, stride, fx, noise)
    if _pixels(keep, stride) < config.min_points:
        return None
    cleaned = downsample(points[keep], config.voxel_size, config.max_points, remove_outliers=False)
    if len(cleaned) < 4:
        return None
    box = gravity_aligned_box(cleaned)
    appearance = None
    if frame.rgb is not None:
        mask = np.zeros(depth.shape, np.uint8)
        mask[v[keep], u[keep]] = 1
        appearance = colour_histogram(np.ascontiguousarray(frame.rgb[y0:y1, x0:x1]), mask)
    # A box at the image border holds only the part of the object in view.
    margin = config.border_px
    partial = bx0 <= margin or by0 <= margin or bx1 >= width - margin or by1 >= height - margin
    return Observation(detection.label, box.pose, box.extent, float(detection.score), cleaned, appearance,
                       partial=partial)


def _inside_the_outline(mask: np.ndarray, v: np.ndarray, u: np.ndarray, edge_px: float,
                        at_border: tuple[tuple[bool, bool], tuple[bool, bool]]) -> np.ndarray:
    """Weights (N,) of the samples at rows ``v``, columns ``u`` of ``mask``: their distance from the
    mask's outline over ``edge_px``, from 0.05 to 1. The sides of the mask that are the image border
    (``at_border``: (top, bottom), (left, right)) are no outline: an object cut by the border is
    still itself up to there."""
    if edge_px <= 0.0:
        return np.ones(len(v))
    framed = np.pad(mask.astype(np.uint8), 1, constant_values=tuple(tuple(int(side) for side in pair)
                                                                     for pair in at_border))
    inside = np.asarray(cv2.distanceTransform(framed, cv2.DIST_L2, 3), dtype=np.float64)[1:-1, 1:-1]
    weights: np.ndarray = np.clip(inside[v, u] / edge_px, 0.05, 1.0)
    return weights


def sampling_stride(pixels: int, max_points: int, narrowest: int) -> int:
    """The pixel stride at which to lift a detection of ``pixels`` valid pixels whose box is
    ``narrowest`` pixels across its narrower side: about twice ``max_points`` samples, as cleaning
    leaves at most ``max_points`` of them (lifting every pixel of a large mask was most of the cost
    of a frame), and at least four samples across the narrow side."""
    by_count = int(np.ceil(np.sqrt(pixels / (2.0 * max_points))))
    return max(1, min(by_count, narrowest // 4))


def depth_noise(z: np.ndarray, u: np.ndarray, v: np.ndarray, stride: int) -> float:
    """The depth noise (m, one standard deviation) of samples (depth ``z``, columns ``u``, rows
    ``v`` in row-major order, ``stride`` pixels apart), from the differences between neighbours in
    a row: their median absolute deviation ignores a surface's slope and the few steps across an
    edge. 0.0 when fewer than 8 neighbouring pairs are found."""
    same_row = (np.diff(v) == 0) & (np.diff(u) == stride)
    steps = np.diff(z)[same_row]
    if len(steps) < 8:
        return 0.0
    return 1.4826 * median(np.abs(steps - median(steps))) / float(np.sqrt(2.0))


def median(values: np.ndarray) -> float:
    """The median of a non-empty 1-D array, as ``np.median`` gives it, from one partial sort:
    np.median's generic axis handling cost as much as the sort on the few thousand samples of a
    detection, several times per detection."""
    middle = len(values) // 2
    if len(values) % 2:
        return float(np.partition(values, middle)[middle])
    low, high = np.partition(values, (middle - 1, middle))[middle - 1:middle + 1]
    return 0.5 * (float(low) + float(high))


def _pixels(samples: np.ndarray, stride: int) -> int:
    """The image pixels that the selected ``samples`` (bool), one every ``stride`` pixels, stand for."""
    return int(np.count_nonzero(samples)) * stride * stride


def _own_surface(z: np.ndarray, u: np.ndarray, candidates: np.ndarray, fx: float, config: PerceptionConfig,
                 weights: np.ndarray, noise: float) -> np.ndarray:
    """Bool (N,): the pixels (depth ``z``, columns ``u``) on the detected object's own surface, among
    ``candidates``. The object's surface is the depth most of its pixels share (the mode, each
    pixel counted by ``weights``), not the nearest one: a mask or box edge also catches what stands
    in front and what lies behind. Its depth runs about as deep as the object is wide, plus the
    sensor's ``noise`` (a noisy sensor keeps its spread, a clean one is trimmed tight)."""
    zc, wc = z[candidates], weights[candidates]
    width_bin = max(noise, config.voxel_size)
    edges = np.arange(float(zc.min()), float(zc.max()) + 2 * width_bin, width_bin)
    # Equal bins from the least depth: a bin index is a division, where np.histogram's general
    # binning took ten times as long.
    bins = np.minimum(((zc - edges[0]) / width_bin).astype(np.intp), len(edges) - 2)
    histogram = np.bincount(bins, weights=wc, minlength=len(edges) - 1)
    smooth = np.convolve(histogram, [1.0, 2.0, 1.0], mode="same")
    mode = float(edges[int(np.argmax(smooth))] + 0.5 * width_bin)
    near = candidates & (np.abs(z - mode) <= config.depth_band)
    width = (float(u[near].max() - u[near].min()) + 1.0) * mode / fx if near.any() else 0.0
    half_band = min(config.depth_band, max(0.5 * width, 3.0 * noise, 2.0 * config.voxel_size))
    keep = candidates & (np.abs(z - mode) <= half_band)
    if keep.any():  # centre the band on the surface found, not on the histogram bin
        keep = candidates & (np.abs(z - median(z[keep])) <= half_band)
    return keep


def _connected_to_the_surface(z: np.ndarray, u: np.ndarray, v: np.ndarray, candidates: np.ndarray, stride: int,
                              fx: float, noise: float) -> np.ndarray:
    """Bool (N,): the ``candidates`` at a continuous depth with at least two of their 8 neighbouring
    candidate samples (``stride`` pixels apart) and with at least half of them. A flying pixel
    along a depth edge or a speck of a wrong depth jumps from most of its neighbours. Continuous
    means within three times the noise of a difference of two pixels, plus the depth step of a
    surface turned up to about 70 degrees from the camera. The image grid gives the neighbours for
    free, where a 3D statistical outlier filter searched them in a k-d tree, at ten times the cost."""
    if not candidates.any():
        return candidates
    rows, cols = v[candidates] // stride, u[candidates] // stride
    height, width = int(rows.max()) + 1, int(cols.max()) + 1
    grid = np.full((height + 2, width + 2), np.nan, dtype=np.float32)  # a NaN frame: no neighbour
    grid[rows + 1, cols + 1] = z[candidates]
    centre = np.zeros((height, width))
    centre[rows, cols] = z[candidates]
    tolerance = 3.0 * np.sqrt(2.0) * noise + 3.0 * centre * stride / fx
    # Shifted views of the whole grid, read back at the candidates once: cheaper than gathering
    # each neighbour of each sample by index.
    continuous, present = np.zeros((height, width), dtype=np.int8), np.zeros((height, width), dtype=np.int8)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                neighbour = grid[1 + dr:1 + dr + height, 1 + dc:1 + dc + width]
                present += ~np.isnan(neighbour)
                continuous += np.abs(neighbour - centre) <= tolerance  # NaN compares False
    connected = np.zeros(len(z), dtype=bool)
    connected[candidates] = (continuous >= 2)[rows, cols] & (2 * continuous >= present)[rows, cols]
    return connected


def _supporting_plane(points: np.ndarray, config: PerceptionConfig, noise: float, stride: int) -> np.ndarray:
    """Bool (N,): the points (samples ``stride`` pixels apart) of a horizontal plane (floor, table
    top) that fills a large part of a detection's pixels: what the object stands on, not the
    object. Something stands on it only if at least ``min_points`` pixels rise above the plane by
    more than its own noise (three times the depth ``noise``): a flat object's top is such a plane
    too, with only its noise left beside it."""
    if len(points) * stride * stride < 3 * config.min_points:
        return np.zeros(len(points), dtype=bool)
    plane, inliers = fit_plane(points, config.plane_distance, 100)
    normal = plane[:3] if plane[2] >= 0 else -plane[:3]
    offset = plane[3] if plane[2] >= 0 else -plane[3]
    result = np.zeros(len(points), dtype=bool)
    if abs(normal[2]) < 0.9 or len(inliers) < 0.2 * len(points):
        return result  # not horizontal, or too small to be a support
    rest = np.delete(points, inliers, axis=0)
    above = rest @ normal + offset > max(config.plane_distance, 3.0 * noise)
    if np.count_nonzero(above) * stride * stride < config.min_points:
        return result  # nothing stands on it (a flat object, e.g. a laptop)
    if median(points[inliers, 2]) > median(rest[:, 2]):
        return result  # it is not below the rest
    result[inliers] = True
    return result


def discover_objects(frame: RgbdFrame, config: PerceptionConfig) -> list[Observation]:
    """Objects found from depth alone: dominant planes removed, the rest clustered (see module doc)."""
    import open3d as o3d

    stride = config.discovery_stride
    depth = frame.depth_m[::stride, ::stride]
    v, u = np.nonzero(np.isfinite(depth) & (depth < config.max_depth))
    if len(v) < config.cluster_min_points:
        return []
    fx, fy, cx, cy = frame.intrinsics
    scaled = (fx / stride, fy / stride, cx / stride, cy / stride)
    points = frame.camera_pose.transform(back_project(depth, scaled, v, u))
    pixels = np.column_stack([v * stride, u * stride])
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    keep = np.ones(len(points), dtype=bool)
    total = len(points)
    for _ in range(config.max_planes):
        remaining = np.flatnonzero(keep)
        if len(remaining) < 3 * config.cluster_min_points:
            break
        _, inliers = fit_plane(points[remaining], config.plane_distance, 200)
        if len(inliers) < config.min_plane_fraction * total:
            break
        keep[remaining[inliers]] = False
    remaining = np.flatnonzero(keep)
    if len(remaining) < config.cluster_min_points:
        return []
    # Neighbouring samples lie z * stride / fx apart: the radius must bridge that at every range.
    spacing = float(np.median(depth[v, u])) * stride / fx
    labels = np.asarray(cloud.select_by_index(remaining.tolist()).cluster_dbscan(
        eps=max(config.cluster_eps, 2.0 * spacing), min_points=4))
    observations = []
    min_members = max(5, config.cluster_min_points // stride)
    for cluster in range(labels.max(initial=-1) + 1):
        members = remaining[labels == cluster]
        if len(members) < min_members:
            continue
        box = gravity_aligned_box(points[members])
        if not (config.min_object_size <= box.extent.max() <= config.max_object_size):
            continue
        appearance = None
        if frame.rgb is not None:
            mask = np.zeros(frame.depth_m.shape, np.uint8)
            mask[pixels[members, 0], pixels[members, 1]] = 1
            appearance = colour_histogram(frame.rgb, mask)
        observations.append(Observation(UNKNOWN_LABEL, box.pose, box.extent, 0.5,
                                        downsample(points[members], config.voxel_size, config.max_points), appearance))
    return observations


class StampMatcher:
    """Approximate-time matching of named streams. ``add(stream, stamp, item)`` buffers an item
    (bounded per stream); ``match(stamp)`` returns, for every stream, the buffered item nearest to
    ``stamp`` within ``tolerance_s`` seconds, or None if a stream has nothing close enough."""

    def __init__(self, streams: tuple[str, ...], tolerance_s: float, depth: int = 30) -> None:
        if not tolerance_s > 0:
            raise ConfigError(f"sync tolerance must be > 0, got {tolerance_s}")
        self.tolerance_s = tolerance_s
        self._stamps: dict[str, deque[float]] = {s: deque(maxlen=depth) for s in streams}
        self._items: dict[str, deque[Any]] = {s: deque(maxlen=depth) for s in streams}
        self.dropped = 0

    def add(self, stream: str, stamp: float, item: Any) -> None:
        """Buffer ``item``; a full buffer drops its oldest item first (counted in ``dropped``)."""
        stamps, items = self._stamps[stream], self._items[stream]
        full = len(stamps) == stamps.maxlen
        if stamps and stamp < stamps[-1]:  # out of order: keep the buffer sorted
            if full:
                self.dropped += 1
                if stamp <= stamps[0]:
                    return  # older than everything kept: it is the one to drop
                stamps.popleft()
                items.popleft()
            index = bisect.bisect_right(list(stamps), stamp)
            stamps.insert(index, stamp)
            items.insert(index, item)
            return
        self.dropped += full
        stamps.append(stamp)
        items.append(item)

    def nearest(self, stream: str, stamp: float) -> tuple[float, Any] | None:
        stamps = list(self._stamps[stream])
        if not stamps:
            return None
        index = bisect.bisect_left(stamps, stamp)
        best = min((i for i in (index - 1, index) if 0 <= i < len(stamps)), key=lambda i: abs(stamps[i] - stamp))
        if abs(stamps[best] - stamp) > self.tolerance_s:
            return None
        return stamps[best], self._items[stream][best]

    def match(self, stamp: float) -> dict[str, Any] | None:
        found = {}
        for stream in self._stamps:
            hit = self.nearest(stream, stamp)
            if hit is None:
                return None
            found[stream] = hit[1]
        return found
