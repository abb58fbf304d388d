"""Spatial indexes of the scene graph: a horizontal grid hash of object centres with the objects of
each label and a table of their boxes in arrays, and growable tables of place and room centres for
nearest look-ups."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import NamedTuple, TypeVar

import numpy as np

from memory_nodes.core.spatial.types import ObjectNode

Cell = tuple[int, int]
# Up to this many candidates (the objects of one label, say), testing each one's box in one
# vectorised step is cheaper than looking up the grid cells around a point.
FEW_CANDIDATES = 64
Key = TypeVar("Key", bound=Hashable)


def _file(buckets: dict[Key, set[str]], key_of: dict[str, Key], object_id: str, key: Key | None) -> None:
    """Move ``object_id`` into bucket ``key`` (out of its old one); ``key`` None removes it."""
    old = key_of.get(object_id)
    if old == key:
        return  # filed there already (or, with None, not filed)
    if old is not None:
        buckets[old].discard(object_id)
        del key_of[object_id]
    if key is not None:
        buckets.setdefault(key, set()).add(object_id)
        key_of[object_id] = key


class BoxTable(NamedTuple):
    """Axis-aligned boxes of some objects, one row each (``map``, metres)."""

    centres: np.ndarray  # (N, 3)
    lows: np.ndarray  # (N, 3) min corners
    highs: np.ndarray  # (N, 3) max corners
    sizes: np.ndarray  # (N,) diagonals of the oriented boxes (the norm of their extent)


class ObjectIndex:
    """Object centres in a horizontal grid and objects by label, so association, merging, relations
    and queries look at neighbours and namesakes, not at every object; and every object's box in
    rows of arrays, so the candidates a look-up returns are tested in one vectorised step instead
    of one Python call per object."""

    def __init__(self, cell_size: float = 1.0) -> None:
        self.cell_size = cell_size
        self._cells: dict[Cell, set[str]] = {}
        self._cell_of: dict[str, Cell] = {}
        self._by_label: dict[str, set[str]] = {}
        self._label_of: dict[str, str] = {}
        self._row: dict[str, int] = {}
        self._free_rows: list[int] = []
        self._boxes = np.zeros((0, 10))  # per row: centre, min corner, max corner, size
        # At least the size of every indexed object (the largest ever filed): how far beyond its
        # own size a look-up must reach to find every object whose box could touch a given one.
        self.largest_size = 0.0

    def _cell(self, position: np.ndarray) -> Cell:
        return math.floor(position[0] / self.cell_size), math.floor(position[1] / self.cell_size)

    def update(self, node: ObjectNode) -> None:
        """File ``node`` (new, or its box or label changed)."""
        _file(self._cells, self._cell_of, node.id, self._cell(node.position))
        _file(self._by_label, self._label_of, node.id, node.label)
        row = self._row.get(node.id)
        if row is None:
            row = self._free_rows.pop() if self._free_rows else self._grow()
            self._row[node.id] = row
        low, high = node.bounds()
        self._boxes[row, :3] = node.position
        self._boxes[row, 3:6] = low
        self._boxes[row, 6:9] = high
        self._boxes[row, 9] = node.size
        self.largest_size = max(self.largest_size, node.size)

    def _grow(self) -> int:
        """A new row at the end of the table (doubling its storage when full)."""
        used = len(self._row) + len(self._free_rows)
        if used >= len(self._boxes):
            grown = np.zeros((max(64, 2 * len(self._boxes)), self._boxes.shape[1]))
            grown[:used] = self._boxes[:used]
            self._boxes = grown
        return used

    def remove(self, object_id: str) -> None:
        _file(self._cells, self._cell_of, object_id, None)
        _file(self._by_label, self._label_of, object_id, None)
        row = self._row.pop(object_id, None)
        if row is not None:
            self._free_rows.append(row)

    def boxes(self, object_ids: list[str]) -> BoxTable:
        """The boxes of ``object_ids`` (indexed objects), in their order."""
        rows = self._boxes[[self._row[object_id] for object_id in object_ids]]
        return BoxTable(rows[:, :3], rows[:, 3:6], rows[:, 6:9], rows[:, 9])

    def box_row(self, object_id: str) -> np.ndarray:
        """The indexed box of ``object_id``: centre (3), min corner (3), max corner (3), size."""
        row: np.ndarray = self._boxes[self._row[object_id]]
        return row

    def near(self, position: np.ndarray, radius: float) -> set[str]:
        """Ids of objects whose centre may lie within ``radius`` (horizontally) of ``position``."""
        span = 2.0 * radius / self.cell_size + 1.0
        found: set[str] = set()
        if not math.isfinite(span) or span * span > len(self._cells):
            # A huge radius would visit more cells than are occupied: scan the occupied ones.
            px, py = float(position[0]), float(position[1])
            reach = radius + self.cell_size
            for (i, j), ids in self._cells.items():
                cx, cy = (i + 0.5) * self.cell_size, (j + 0.5) * self.cell_size
                if abs(cx - px) <= reach and abs(cy - py) <= reach:
                    found |= ids
            return found
        low = self._cell(np.asarray(position) - radius)
        high = self._cell(np.asarray(position) + radius)
        cells = self._cells
        return found.union(*[cells[key] for i in range(low[0], high[0] + 1) for j in range(low[1], high[1] + 1)
                             if (key := (i, j)) in cells])

    def with_label(self, label: str) -> set[str]:
        return self._by_label.get(label, set())

    def labels(self) -> list[str]:
        return [label for label, ids in self._by_label.items() if ids]


class CentreTable:
    """Ids with horizontal centres in an append-only array that grows by doubling, so the nearest
    centre is found by one vectorised distance computation, not a scan in Python."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._row: dict[str, int] = {}
        self._xy = np.zeros((0, 2))

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, item_id: str, position: np.ndarray) -> None:
        if len(self.ids) >= len(self._xy):
            grown = np.zeros((max(16, 2 * len(self._xy)), 2))
            grown[: len(self.ids)] = self._xy[: len(self.ids)]
            self._xy = grown
        self._row[item_id] = len(self.ids)
        self._xy[len(self.ids)] = position[:2]
        self.ids.append(item_id)

    def move(self, item_id: str, position: np.ndarray) -> None:
        self._xy[self._row[item_id]] = position[:2]

    def nearest(self, position: np.ndarray) -> tuple[str | None, float]:
        """The id whose centre is nearest ``position`` (horizontally), and the distance."""
        if not self.ids:
            return None, math.inf
        offsets = self._xy[: len(self.ids)] - position[:2]
        distances = np.sqrt(np.einsum("ij,ij->i", offsets, offsets))
        index = int(np.argmin(distances))
        return self.ids[index], float(distances[index])
