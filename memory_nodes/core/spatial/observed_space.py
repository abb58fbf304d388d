"""Where the camera has looked, and how often: a horizontal grid of how many frames showed each
cell's surfaces in the depth image, per range band, and when first.

It tells an object that *appeared* (first detected where the camera had looked in earlier frames,
near enough to detect it, so it was not there then: it was put there or moved there) from one
merely *discovered* (first seen in a place seen for the first time, where it may have stood all
along). Only the first kind can be a remembered object that moved; the second may be its identical
twin. Positions in ``map``, metres; stamps in seconds.
"""

from __future__ import annotations

import math

import numpy as np

from memory_nodes.core.geometry import CameraView

_PIXEL_STRIDE = 2  # every other pixel of the (already downsampled) view depth: cells are larger than that
_BANDS = 6  # range bands between the camera and max_range
_FRUSTUM_HEIGHTS = (0.0, 0.8)  # floor and table top (m), where things stand, for views without depth


class ObservedSpace:
    """First-observed stamps of ``cell_size`` cells of the floor plane (all heights together), one
    per range band: a glance from afar shows a place, but not the small things in it."""

    def __init__(self, cell_size: float, max_range: float) -> None:
        self.cell_size = cell_size
        self.max_range = max_range
        self.band_edges = np.linspace(max_range / _BANDS, max_range, _BANDS)  # upper range of each band (m)
        self._first_seen: dict[tuple[int, int], np.ndarray] = {}  # cell -> first stamp per band
        self._looks: dict[tuple[int, int], np.ndarray] = {}  # cell -> frames per band

    def __len__(self) -> int:
        return len(self._first_seen)

    def _cell(self, position: np.ndarray) -> tuple[int, int]:
        return math.floor(float(position[0]) / self.cell_size), math.floor(float(position[1]) / self.cell_size)

    def first_observed(self, position: np.ndarray, within: float | None = None) -> float | None:
        """When the camera first saw the cell of ``position`` from no farther than ``within``
        metres (default ``max_range``); None: never."""
        stamps = self._first_seen.get(self._cell(position))
        if stamps is None:
            return None
        limit = self.max_range if within is None else within
        usable = stamps[self.band_edges <= limit + 1e-9]
        first = float(usable.min()) if len(usable) else math.inf
        return first if math.isfinite(first) else None

    def looks(self, position: np.ndarray, within: float | None = None) -> int:
        """How many frames showed the cell of ``position`` from no farther than ``within`` metres."""
        counts = self._looks.get(self._cell(position))
        if counts is None:
            return 0
        limit = self.max_range if within is None else within
        return int(counts[self.band_edges <= limit + 1e-9].sum())

    def observe(self, view: CameraView, stamp: float) -> None:
        """Record the cells whose surfaces ``view``'s depth shows within ``max_range`` (without a
        depth image: the cells in its frustum at floor and table height)."""
        if view.depth is None:
            self._observe_frustum(view, stamp)
            return
        depth = view.depth[::_PIXEL_STRIDE, ::_PIXEL_STRIDE]
        rows, cols = np.nonzero(np.isfinite(depth) & (depth > 0) & (depth <= self.max_range))
        if len(rows) == 0:
            return
        z = depth[rows, cols].astype(np.float64)
        fx, fy, cx, cy = view.intrinsics
        u, v = cols * _PIXEL_STRIDE, rows * _PIXEL_STRIDE
        local = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=1)
        points = view.pose.transform(local)
        bands = np.minimum(np.searchsorted(self.band_edges, z), _BANDS - 1)
        cells = np.floor(points[:, :2] / self.cell_size).astype(np.int64)
        # One int64 key per (cell, band), counted from the lowest cell in view: a 1-D unique sorts
        # plain integers, where a row-wise unique of (N, 3) sorted structured rows at 10x the cost.
        low = cells.min(axis=0)
        span = cells.max(axis=0) - low + 1
        keys = np.unique(((cells[:, 0] - low[0]) * span[1] + (cells[:, 1] - low[1])) * _BANDS + bands)
        cell_keys, band_of = np.divmod(keys, _BANDS)
        x, y = np.divmod(cell_keys, span[1])
        self._record(np.column_stack([x + low[0], y + low[1], band_of]), stamp)

    def _record(self, keys: np.ndarray, stamp: float) -> None:
        """(N, 3) int rows of cell x, cell y, range band, each at most once: seen in this frame."""
        first_seen, looks = self._first_seen, self._looks
        for x, y, band in keys.tolist():
            stamps = first_seen.get((x, y))
            if stamps is None:
                stamps = first_seen[(x, y)] = np.full(_BANDS, math.inf)
                looks[(x, y)] = np.zeros(_BANDS, dtype=np.int64)
            if stamps[band] == math.inf:
                stamps[band] = stamp
            looks[(x, y)][band] += 1

    def _observe_frustum(self, view: CameraView, stamp: float) -> None:
        reach = math.ceil(self.max_range / self.cell_size)
        cx, cy = self._cell(view.pose.position)
        xs, ys = np.meshgrid(np.arange(cx - reach, cx + reach + 1), np.arange(cy - reach, cy + reach + 1))
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres = (cells + 0.5) * self.cell_size
        for height in _FRUSTUM_HEIGHTS:
            points = np.column_stack([centres, np.full(len(cells), height)])
            u, v, z = view.project(points)
            inside = (z > 0.05) & (z <= self.max_range) & (u >= 0) & (u < view.width) & (v >= 0) & (v < view.height)
            bands = np.minimum(np.searchsorted(self.band_edges, z[inside]), _BANDS - 1)
            self._record(np.column_stack([cells[inside], bands]), stamp)

    def snapshot(self) -> tuple[list[list[float | None]], np.ndarray, np.ndarray]:
        """(first stamps per band, None for never; (N, 2) int64 cells; (N, bands) int64 looks)."""
        cells = np.array(list(self._first_seen), dtype=np.int64).reshape(-1, 2)
        stamps = [[None if math.isinf(t) else float(t) for t in row] for row in self._first_seen.values()]
        looks = np.array([self._looks[key] for key in self._first_seen], dtype=np.int64).reshape(-1, _BANDS)
        return stamps, cells, looks

    def restore(self, stamps: list[list[float | None]], cells: np.ndarray, looks: np.ndarray) -> None:
        self._first_seen, self._looks = {}, {}
        for (x, y), row, count in zip(np.asarray(cells).reshape(-1, 2), stamps, np.asarray(looks).reshape(-1, _BANDS)):
            if len(row) == _BANDS:
                key = (int(x), int(y))
                self._first_seen[key] = np.array([math.inf if t is None else t for t in row])
                self._looks[key] = np.asarray(count, dtype=np.int64).copy()
