"""Temporal memory: what was where when.

Every observation of an entity (object id, or the robot) is a row of columnar numpy arrays
(stamp, entity, x, y, z), appended in batches; each entity also keeps its own stamp-sorted rows
so "pose at time t" and "history" are binary searches. Changes (appeared, moved, disappeared,
state_changed...) are a stamp-sorted list. Time is always the message stamp in seconds, never the
wall clock: bags and simulators replay old time.

Bounded: beyond ``max_observations`` rows the oldest half is compacted to one row per entity per
``compaction_interval_s`` (the first and last rows of each entity are always kept) and a
per-entity summary keeps counts; beyond ``max_changes`` the oldest changes are dropped and
counted per kind.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from memory_nodes.core.changes import Change, ChangeKind
from memory_nodes.core.errors import InvalidInputError, UnknownItemError
from memory_nodes.core.settings import setting, validate


@dataclass(frozen=True)
class TemporalConfig:
    """``max_observations``: rows kept before compaction. ``compaction_interval_s``: seconds of
    history merged into one row when compacting. ``max_changes``: changes kept."""

    max_observations: int = setting(2_000_000, "observation rows kept before the oldest are compacted", low=16)
    compaction_interval_s: float = setting(
        60.0, "compacted history keeps one row per entity per interval", "s", above=0)
    max_changes: int = setting(100_000, "changes kept before the oldest are dropped", low=1)

    def __post_init__(self) -> None:
        validate(self, "temporal ")


@dataclass
class EntitySummary:
    """What is kept about an entity whatever was compacted: counts and first/last sighting."""

    label: str
    observation_count: int
    first_seen: float
    last_seen: float
    last_position: tuple[float, float, float]


class WindowSighting(NamedTuple):
    """An entity observed in a time window: first and last stamp in it, and where it was last then."""

    entity: str
    label: str
    first_seen: float
    last_seen: float
    position: np.ndarray


class _Rows:
    """A growable (N, columns) float64 table sorted by its first column: stamp, x, y, z (the time
    index: stamp, entity code)."""

    def __init__(self, capacity: int = 64, columns: int = 4) -> None:
        self.data = np.empty((capacity, columns), dtype=np.float64)
        self.size = 0
        self.sorted = True

    def extend(self, rows: np.ndarray) -> None:
        unsorted = len(rows) > 1 and bool(np.any(np.diff(rows[:, 0]) < 0))
        self.extend_sorted(rows)
        if unsorted:
            self.sorted = False

    def extend_sorted(self, rows: np.ndarray) -> None:
        """``extend`` with ``rows`` known to be in stamp order (only their first is checked)."""
        needed = self.size + len(rows)
        if needed > len(self.data):
            grown = np.empty((max(needed, 2 * len(self.data)), self.data.shape[1]), dtype=np.float64)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        if self.size and len(rows) and rows[0, 0] < self.data[self.size - 1, 0]:
            self.sorted = False
        self.data[self.size:needed] = rows
        self.size = needed

    def view(self) -> np.ndarray:
        if not self.sorted:
            order = np.argsort(self.data[: self.size, 0], kind="stable")
            self.data[: self.size] = self.data[: self.size][order]
            self.sorted = True
        return self.data[: self.size]


class TemporalMemory:
    """Observations and changes indexed by time and entity. Thread-safe."""

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config or TemporalConfig()
        self._lock = threading.RLock()
        self._clear()

    def _clear(self) -> None:
        self._rows: dict[str, _Rows] = {}
        self._summary: dict[str, EntitySummary] = {}
        self._total_rows = 0
        self._invalidate_time_index()
        self._changes: list[Change] = []
        self._change_stamps: list[float] = []
        self._change_counter = 0
        self.dropped_changes: Counter[str] = Counter()
        self.latest_stamp = -math.inf

    def _invalidate_time_index(self) -> None:
        """Rows were merged, dropped or thinned: the index of every row by time is rebuilt when next
        asked for (appends keep it up to date)."""
        self._by_time: _Rows | None = None
        self._time_codes: dict[str, int] = {}
        self._time_names: list[str] = []

    def _time_index_locked(self) -> tuple[np.ndarray, list[str]]:
        """(N, 2) rows (stamp, entity code) of every observation in stamp order, and the names of the codes."""
        if self._by_time is None:
            index = _Rows(max(64, self._total_rows), columns=2)
            for name, store in self._rows.items():
                stamps = store.view()[:, 0]
                code = self._time_codes.setdefault(name, len(self._time_names))
                if code == len(self._time_names):
                    self._time_names.append(name)
                index.extend(np.column_stack([stamps, np.full(len(stamps), float(code))]))
            self._by_time = index
        return self._by_time.view(), self._time_names

    def _index_by_time(self, names: list[str], inverse: np.ndarray, stamps: np.ndarray) -> None:
        if self._by_time is None:
            return
        codes = []
        for name in names:
            code = self._time_codes.setdefault(name, len(self._time_names))
            if code == len(self._time_names):
                self._time_names.append(name)
            codes.append(code)
        self._by_time.extend(np.column_stack([stamps, np.asarray(codes, dtype=np.float64)[inverse]]))

    # ----------------------------------------------------------------- ingestion
    def add_observations(self, stamps: np.ndarray, entities: list[str], positions: np.ndarray,
                         labels: list[str] | None = None) -> int:
        """Record (N,) ``stamps`` (seconds) of (N,) ``entities`` at (N, 3) ``positions`` (``map``,
        metres); rows with a NaN are rejected and counted. Returns the number of rows stored."""
        stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        if len(entities) != len(stamps) or len(positions) != len(stamps):
            raise InvalidInputError(f"{len(stamps)} stamps, {len(entities)} entities, {len(positions)} positions")
        if labels is not None and len(labels) != len(stamps):
            raise InvalidInputError(f"{len(labels)} labels for {len(stamps)} rows")
        valid = np.isfinite(stamps) & np.all(np.isfinite(positions), axis=1)
        if not valid.all():
            keep = np.flatnonzero(valid)
            stamps, positions = stamps[keep], positions[keep]
            entities = [entities[i] for i in keep]
            labels = [labels[i] for i in keep] if labels is not None else None
        if len(stamps) == 0:
            return 0
        table = np.column_stack([stamps, positions])
        entity_array = np.asarray(entities, dtype=object)
        with self._lock:
            names, inverse = np.unique(entity_array.astype(str), return_inverse=True)
            # Rows grouped by entity and sorted by stamp within each group: the per-entity loop
            # below then only copies, and each group's first/last stamp is a lookup.
            order = np.lexsort((stamps, inverse))
            bounds = np.searchsorted(inverse[order], np.arange(len(names) + 1))
            grouped = table[order]
            firsts = grouped[bounds[:-1], 0].tolist()
            lasts = order[bounds[1:] - 1]
            last_stamps = table[lasts, 0].tolist()
            last_positions = table[lasts, 1:].tolist()
            counts = np.diff(bounds).tolist()
            for k, name in enumerate(names.tolist()):
                store = self._rows.get(name)
                if store is None:
                    store = self._rows[name] = _Rows()
                store.extend_sorted(grouped[bounds[k]:bounds[k + 1]])
                label = labels[int(lasts[k])] if labels is not None else ""
                summary = self._summary.get(name)
                if summary is None:
                    self._summary[name] = EntitySummary(label, counts[k], firsts[k], last_stamps[k],
                                                        tuple(last_positions[k]))
                else:
                    summary.observation_count += counts[k]
                    summary.first_seen = min(summary.first_seen, firsts[k])
                    if last_stamps[k] >= summary.last_seen:
                        summary.last_seen = last_stamps[k]
                        summary.last_position = tuple(last_positions[k])
                    summary.label = label or summary.label
            self._total_rows += len(table)
            self._index_by_time(names.tolist(), inverse, stamps)
            self.latest_stamp = max(self.latest_stamp, float(stamps.max()))
            if self._total_rows > self.config.max_observations:
                self._compact()
            return len(table)

    def add_change(self, change: Change) -> Change:
        """Record ``change``; returns it with its id. A merge also folds the merged entity's
        history into the surviving one (``merge_entities``)."""
        with self._lock:
            self._change_counter += 1
            change = dataclasses.replace(change, id=change.id or f"chg-{self._change_counter}")
            if change.kind is ChangeKind.MERGED:
                self.merge_entities(change.entity, change.merged_id)
            index = bisect.bisect_right(self._change_stamps, change.stamp)
            self._changes.insert(index, change)
            self._change_stamps.insert(index, change.stamp)
            self.latest_stamp = max(self.latest_stamp, change.stamp)
            excess = len(self._changes) - self.config.max_changes
            if excess > 0:
                for dropped in self._changes[:excess]:
                    self.dropped_changes[dropped.kind] += 1
                del self._changes[:excess]
                del self._change_stamps[:excess]
            return change

    def _compact(self) -> None:
        """Thin the oldest half of every entity's rows to one per compaction interval."""
        self._invalidate_time_index()
        interval = self.config.compaction_interval_s
        total = 0
        for store in self._rows.values():
            rows = store.view()
            half = len(rows) // 2
            if half < 2:
                total += len(rows)
                continue
            old, recent = rows[:half], rows[half:]
            bucket = np.floor(old[:, 0] / interval)
            keep = np.ones(len(old), dtype=bool)
            keep[1:] = bucket[1:] != bucket[:-1]  # first row of each interval
            keep[0] = True
            thinned = np.vstack([old[keep], recent])
            store.data = np.ascontiguousarray(thinned.copy())
            store.size = len(thinned)
            total += store.size
        self._total_rows = total
        if self._total_rows > self.config.max_observations:
            # Still too many (many entities, short history each): drop the weakest entities' rows.
            ranked = sorted(self._rows, key=lambda name: self._summary[name].last_seen)
            for name in ranked:
                if self._total_rows <= self.config.max_observations // 2:
                    break
                self._total_rows -= self._rows.pop(name).size

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return self._total_rows

    def entities(self) -> list[str]:
        with self._lock:
            return list(self._summary)

    def summary(self, entity: str) -> EntitySummary:
        with self._lock:
            try:
                return self._summary[entity]
            except KeyError:
                raise UnknownItemError(f"no observations of {entity!r}") from None

    def last_seen(self, entity: str) -> tuple[float, np.ndarray]:
        """(stamp seconds, position (3,) ``map``) of the newest observation of ``entity``."""
        summary = self.summary(entity)
        return summary.last_seen, np.array(summary.last_position)

    def history(self, entity: str, start: float = -math.inf, end: float = math.inf, limit: int = 0) -> np.ndarray:
        """(N, 4) rows (stamp s, x, y, z m in ``map``) of ``entity`` in [start, end], oldest first;
        with ``limit`` > 0 only the newest ``limit`` rows."""
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        with self._lock:
            store = self._rows.get(entity)
            if store is None:
                if entity in self._summary:
                    return np.zeros((0, 4))
                raise UnknownItemError(f"no observations of {entity!r}")
            rows = store.view()
            lo = np.searchsorted(rows[:, 0], start, side="left")
            hi = np.searchsorted(rows[:, 0], end, side="right")
            selected = rows[lo:hi]
            return selected[-limit:].copy() if limit else selected.copy()

    def pose_at(self, entity: str, stamp: float) -> tuple[float, np.ndarray] | None:
        """The last observation of ``entity`` at or before ``stamp`` (seconds), as (stamp, position
        (3,) in ``map``), or None if it had not been observed yet."""
        with self._lock:
            store = self._rows.get(entity)
            if store is None:
                if entity in self._summary:
                    return None
                raise UnknownItemError(f"no observations of {entity!r}")
            rows = store.view()
            index = int(np.searchsorted(rows[:, 0], stamp, side="right")) - 1
            if index < 0:
                return None
            return float(rows[index, 0]), rows[index, 1:].copy()

    def in_region(self, center: np.ndarray, radius: float, start: float = -math.inf,
                  end: float = math.inf) -> dict[str, tuple[float, float]]:
        """Entities observed within ``radius`` metres of ``center`` (``map``) during [start, end]
        seconds, each with (first, last) stamp of those observations."""
        if not (math.isfinite(radius) and radius >= 0):
            raise InvalidInputError(f"radius must be finite and >= 0, got {radius}")
        center = np.asarray(center, dtype=np.float64).reshape(3)
        result: dict[str, tuple[float, float]] = {}
        with self._lock:
            for name, store in self._rows.items():
                rows = store.view()
                lo = np.searchsorted(rows[:, 0], start, side="left")
                hi = np.searchsorted(rows[:, 0], end, side="right")
                window = rows[lo:hi]
                if not len(window):
                    continue
                inside = np.sum((window[:, 1:] - center) ** 2, axis=1) <= radius * radius
                if inside.any():
                    stamps = window[inside, 0]
                    result[name] = (float(stamps[0]), float(stamps[-1]))
        return result

    def seen_between(self, start: float, end: float, label: str = "", limit: int = 0) -> list[WindowSighting]:
        """Every entity observed during [start, end] seconds (of ``label`` if given), the most
        recently seen first; ``limit`` > 0 keeps that many. From an index of all rows by time, so
        the cost grows with the observations in the window, not with the entities remembered."""
        if not (math.isfinite(start) and math.isfinite(end)):
            raise InvalidInputError(f"start and end must be finite, got {start}, {end}")
        if start > end:
            raise InvalidInputError(f"start {start} is after end {end}")
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        with self._lock:
            rows, names = self._time_index_locked()
            window = rows[np.searchsorted(rows[:, 0], start, side="left"):np.searchsorted(rows[:, 0], end, side="right")]
            if not len(window):
                return []
            codes = window[:, 1].astype(np.int64)
            unique, first = np.unique(codes, return_index=True)
            _, last_reversed = np.unique(codes[::-1], return_index=True)
            last = len(codes) - 1 - last_reversed
            # Newest first, and only as far as needed: a window can hold thousands of entities.
            newest_first = np.argsort(-window[last, 0], kind="stable")
            found = []
            for k in newest_first.tolist():
                name = names[int(unique[k])]
                summary = self._summary.get(name)
                if summary is None or (label and summary.label != label):
                    continue
                found.append((name, summary.label, float(window[first[k], 0]), float(window[last[k], 0])))
                if limit and len(found) == limit:
                    break
            result = []
            for name, entity_label, first_stamp, last_stamp in found:
                entity_rows = self._rows[name].view()
                at = max(0, int(np.searchsorted(entity_rows[:, 0], last_stamp, side="right")) - 1)
                result.append(WindowSighting(name, entity_label, first_stamp, last_stamp, entity_rows[at, 1:].copy()))
            return result

    def changes(self, start: float = -math.inf, end: float = math.inf, entity: str = "", kind: str = "",
                center: np.ndarray | None = None, radius: float = 0.0, limit: int = 0) -> list[Change]:
        """Changes in [start, end] seconds, oldest first, filtered by entity, kind and a sphere
        (``center`` in ``map``, ``radius`` metres; either end of a move inside counts); with
        ``limit`` > 0 only the newest ``limit``."""
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        if start > end:
            raise InvalidInputError(f"start {start} is after end {end}")
        with self._lock:
            lo = bisect.bisect_left(self._change_stamps, start)
            hi = bisect.bisect_right(self._change_stamps, end)
            selected = [
                c for c in self._changes[lo:hi]
                if (not entity or c.entity == entity) and (not kind or c.kind == kind)
            ]
        if center is not None and radius > 0:
            center = np.asarray(center, dtype=np.float64)
            selected = [
                c for c in selected
                if min(np.linalg.norm(np.array(c.from_position) - center),
                       np.linalg.norm(np.array(c.to_position) - center)) <= radius
            ]
        return selected[-limit:] if limit else selected

    def merge_entities(self, keep: str, drop: str) -> None:
        """``drop`` was the same thing as ``keep`` (a merged duplicate): its rows join ``keep``'s."""
        with self._lock:
            if drop not in self._summary:
                return
            self._invalidate_time_index()
            dropped = self._summary.pop(drop)
            rows = self._rows.pop(drop, None)
            if keep not in self._summary:
                self._summary[keep] = dropped
                if rows is not None:
                    self._rows[keep] = rows
                return
            summary = self._summary[keep]
            summary.observation_count += dropped.observation_count
            summary.first_seen = min(summary.first_seen, dropped.first_seen)
            if dropped.last_seen >= summary.last_seen:
                summary.last_seen, summary.last_position = dropped.last_seen, dropped.last_position
            if rows is not None:
                self._rows.setdefault(keep, _Rows()).extend(rows.view())

    def select_forgettable(self, ids: list[str], older_than_s: float = 0.0, center: np.ndarray | None = None,
                           radius: float = 0.0) -> list[str]:
        """The entities a forget request names: ``ids``, those last seen more than ``older_than_s``
        seconds before the newest stamp, and those seen within ``radius`` metres of ``center``."""
        if older_than_s < 0 or radius < 0 or not math.isfinite(radius):
            raise InvalidInputError("older_than_s and radius must be finite and >= 0")
        with self._lock:
            chosen = set(ids)
            if older_than_s > 0:
                chosen |= {e for e, s in self._summary.items() if self.latest_stamp - s.last_seen > older_than_s}
            if center is not None and radius > 0:
                chosen |= set(self.in_region(center, radius))
            return sorted(chosen)

    def forget(self, entities: list[str]) -> int:
        """Drop every row, summary and change of ``entities``; returns how many were known."""
        with self._lock:
            self._invalidate_time_index()
            known = 0
            for name in entities:
                if name in self._summary:
                    known += 1
                    del self._summary[name]
                    store = self._rows.pop(name, None)
                    self._total_rows -= store.size if store is not None else 0
            names = set(entities)
            kept = [c for c in self._changes if c.entity not in names]
            self._changes, self._change_stamps = kept, [c.stamp for c in kept]
            return known

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able state, arrays) of every row, summary and change, for ``SnapshotStore``."""
        with self._lock:
            names = list(self._summary)
            tables = [self._rows[n].view() if n in self._rows else np.zeros((0, 4)) for n in names]
            state = {
                "entities": names,
                "summaries": [[s.label, s.observation_count, s.first_seen, s.last_seen, list(s.last_position)]
                              for s in (self._summary[n] for n in names)],
                "changes": [[c.stamp, c.kind.value, c.entity, c.label, list(c.from_position), list(c.to_position),
                             c.detail, c.id, c.merged_id] for c in self._changes],
                "change_counter": self._change_counter,
                "dropped_changes": dict(self.dropped_changes),
                "latest_stamp": self.latest_stamp if math.isfinite(self.latest_stamp) else None,
            }
            rows = np.vstack(tables) if tables else np.zeros((0, 4))
            return state, {"rows": rows, "row_counts": np.array([len(t) for t in tables], dtype=np.int64)}

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Replace everything with a ``snapshot``."""
        with self._lock:
            self.reset()
            offsets = np.concatenate([[0], np.cumsum(arrays["row_counts"])]).astype(int)
            for index, (name, summary) in enumerate(zip(state["entities"], state["summaries"])):
                label, count, first, last, position = summary
                self._summary[name] = EntitySummary(label, count, first, last, tuple(position))
                rows = arrays["rows"][offsets[index]:offsets[index + 1]]
                if len(rows):
                    store = self._rows[name] = _Rows(len(rows))
                    store.extend(rows)
                    self._total_rows += len(rows)
            for stamp, kind, entity, label, origin, target, detail, change_id, *merged in state["changes"]:
                # Older snapshots named the merged id only in the detail text.
                merged_id = merged[0] if merged else (detail.split(" ", 1)[0] if kind == ChangeKind.MERGED else "")
                self._changes.append(Change(stamp, kind, entity, label, tuple(origin), tuple(target), detail, change_id,
                                            merged_id))
                self._change_stamps.append(stamp)
            self._change_counter = state["change_counter"]
            self.dropped_changes = Counter(state["dropped_changes"])
            self.latest_stamp = -math.inf if state["latest_stamp"] is None else state["latest_stamp"]

    def reset(self) -> None:
        with self._lock:
            self._clear()
