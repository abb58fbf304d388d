"""Spatial indexes of the scene graph: a horizontal grid hash of object centres with the objects of
each label, and growable tables of place and room centres for nearest look-ups."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import TypeVar

import numpy as np

from memory_nodes.core.spatial.types import ObjectNode

Cell = tuple[int, int]
Key = TypeVar("Key", bound=Hashable)


def _file(buckets: dict[Key, set[str]], key_of: dict[str, Key], object_id: str, key: Key | None) -> None:
    """Move ``object_id`` into bucket ``key`` (out of its old one); ``key`` None removes it."""
    old = key_of.pop(object_id, None)
    if old is not None:
        buckets[old].discard(object_id)
    if key is not None:
        buckets.setdefault(key, set()).add(object_id)
        key_of[object_id] = key


class ObjectIndex:
    """Object centres in a horizontal grid and objects by label, so association, merging, relations
    and queries look at neighbours and namesakes, not at every object."""

    def __init__(self, cell_size: float = 1.0) -> None:
        self.cell_size = cell_size
        self._cells: dict[Cell, set[str]] = {}
        self._cell_of: dict[str, Cell] = {}
        self._by_label: dict[str, set[str]] = {}
        self._label_of: dict[str, str] = {}

    def _cell(self, position: np.ndarray) -> Cell:
        return math.floor(position[0] / self.cell_size), math.floor(position[1] / self.cell_size)

    def update(self, node: ObjectNode) -> None:
        _file(self._cells, self._cell_of, node.id, self._cell(node.position))
        _file(self._by_label, self._label_of, node.id, node.label)

    def remove(self, object_id: str) -> None:
        _file(self._cells, self._cell_of, object_id, None)
        _file(self._by_label, self._label_of, object_id, None)

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
