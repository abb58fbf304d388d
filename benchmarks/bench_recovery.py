"""Recovery time: a memory with 1,000,000 observations and 10,000 objects rebuilt from its journal
(latest snapshot + 1,000 events after it), as a node does on configure after a crash."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from bench_core import integrate_confirmed

from memory_nodes.core.geometry import Pose
from memory_nodes.core.spatial import Observation, SpatialConfig, SpatialMemory
from memory_nodes.core.temporal import TemporalMemory
from memory_nodes.storage.event_store import SqliteEventStore
from memory_nodes.storage.events import FrameIntegrated
from memory_nodes.storage.journal import Journal


def build(directory: Path, objects: int = 10_000, observations: int = 1_000_000, tail_events: int = 1_000):
    rng = np.random.default_rng(0)
    spatial = SpatialMemory(SpatialConfig(capacity=objects + 100))
    spatial_journal = Journal(spatial, "spatial", SqliteEventStore(directory / "spatial.sqlite3", "spatial"), 10**9)
    side = int(np.ceil(np.sqrt(objects)))
    centres = np.array([[2.0 * (i % side), 2.0 * (i // side), 0.5] for i in range(objects)])
    for start in range(0, objects, 20):
        frame = [Observation(f"thing{i % 50}", Pose(centres[i]), np.array([0.3, 0.3, 0.3]),
                             points=centres[i] + rng.uniform(-0.15, 0.15, (40, 3)),
                             appearance=rng.random(64).astype(np.float32))
                 for i in range(start, min(start + 20, objects))]
        integrate_confirmed(spatial, frame, float(start))
    temporal = TemporalMemory()
    temporal_journal = Journal(temporal, "temporal", SqliteEventStore(directory / "temporal.sqlite3", "temporal"), 10**9)
    entities = [f"obj-{i}" for i in rng.integers(1, objects + 1, observations)]
    temporal.add_observations(np.sort(rng.uniform(0, 36000, observations)), entities, rng.normal(size=(observations, 3)))
    spatial_journal.snapshot()
    temporal_journal.snapshot()
    for k in range(tail_events):  # the log after the snapshot, replayed on recovery
        obs = [Observation(f"thing{k % 50}", Pose(centres[k % objects] + 0.01), np.array([0.3, 0.3, 0.3]))]
        spatial.integrate(obs, 20000.0 + k)
        spatial_journal.record(FrameIntegrated(obs, 20000.0 + k, None, None))
    spatial_journal.store.close()
    temporal_journal.store.close()
    return len(spatial), len(temporal)


def recover(directory: Path) -> tuple[float, int, int]:
    started = time.perf_counter()
    spatial, temporal = SpatialMemory(SpatialConfig(capacity=20_000)), TemporalMemory()
    Journal(spatial, "spatial", SqliteEventStore(directory / "spatial.sqlite3", "spatial")).restore()
    Journal(temporal, "temporal", SqliteEventStore(directory / "temporal.sqlite3", "temporal")).restore()
    return time.perf_counter() - started, len(spatial), len(temporal)


def main() -> list[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        objects, rows = build(directory)
        size_mb = sum(p.stat().st_size for p in directory.iterdir()) / 1e6
        seconds, recovered_objects, recovered_rows = recover(directory)
    assert (recovered_objects, recovered_rows) == (objects, rows)
    return [("recovery: 10k objects + 1M observations + 1k events (target < 3 s)", f"{seconds:.2f} s",
             f"journal {size_mb:.0f} MB")]


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
