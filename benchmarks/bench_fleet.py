"""Fleet memory on PostgreSQL, side by side with the robot's own SQLite journal, in one run.

A throwaway PostgreSQL server (test/postgres_server.py: initdb + pg_ctl, a Unix socket) and
journals filled with realistic spatial events (a camera frame with 12 observations of 60-point
clouds and a 40x30 view depth; ~30 KB each):
- ingest: events/s shipped into the server by 1, 4 and 16 robots at once (each its own journal and
  connection pool), beside the rate at which one robot appends the same events to its SQLite journal;
- catch-up: how long a robot that recorded 10 minutes of frames at 5 Hz while the server was down
  (3,000 events) takes to ship them once it is back;
- fleet view recovery: reading every event of the fleet back from the server (what memory_fleet
  does at start), events/s, beside reading the same from the SQLite journals;
- the fleet view at scale: where_is with 10k objects, a time window and pose_at over 10M
  observations, in the memories the fleet's nodes hold (no server involved: queries never touch it).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))

from bench_core import integrate_confirmed
from postgres_server import ThrowawayPostgres

from memory_nodes.core.geometry import CameraView, Pose, yaw_quaternion
from memory_nodes.core.spatial import Observation, SpatialConfig, SpatialMemory
from memory_nodes.core.temporal import TemporalConfig, TemporalMemory
from memory_nodes.storage.event_store import SqliteEventStore
from memory_nodes.storage.events import FrameIntegrated
from memory_nodes.storage.postgres_store import ServerDatabase, read_events, streams
from memory_nodes.storage.shipping import EventShipper

EVENTS_PER_ROBOT = 600
OUTAGE_EVENTS = 3000  # 10 minutes at 5 frames/s


def frame_event(rng: np.random.Generator, stamp: float) -> FrameIntegrated:
    observations = [Observation(f"object{int(rng.integers(0, 50))}", Pose(rng.uniform(0, 10, 3), yaw_quaternion(0.3)),
                                np.full(3, 0.2), 0.9, points=rng.uniform(0, 10, (60, 3)).astype(np.float32))
                    for _ in range(12)]
    view = CameraView(Pose(rng.uniform(0, 10, 3), yaw_quaternion(0.1)), (40.0, 40.0, 20.0, 15.0), 40, 30, 5.0,
                      depth=rng.uniform(0.5, 5.0, (30, 40)).astype(np.float32))
    return FrameIntegrated(observations, stamp, view, np.array([1.0, 2.0, 0.0]))


def filled_journal(path: Path, count: int, seed: int) -> tuple[SqliteEventStore, float]:
    """A robot's journal with ``count`` frame events; (store, appends per second)."""
    rng = np.random.default_rng(seed)
    events = [frame_event(rng, 1000.0 + 0.2 * i) for i in range(count)]
    store = SqliteEventStore(path, "spatial", keep_unshipped=True)
    started = time.perf_counter()
    for event in events:
        store.append(event.name, *event.encode())
    store.commit()
    return store, count / (time.perf_counter() - started)


def ship_in_parallel(server: ThrowawayPostgres, folder: Path, robots: int, database_name: str) -> float:
    """Events per second into the server, ``robots`` shipping at once."""
    server.execute(f"CREATE DATABASE {database_name}")
    conninfo = server.conninfo.replace("dbname=postgres", f"dbname={database_name}")
    ServerDatabase(conninfo).open()  # the schema once, before the robots race
    shippers = [EventShipper(filled_journal(folder / f"{database_name}_{r}.sqlite3", EVENTS_PER_ROBOT, r)[0],
                             ServerDatabase(conninfo), f"robot{r}") for r in range(robots)]
    threads = [threading.Thread(target=s.ship_all) for s in shippers]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    shipped = sum(s.shipped_events for s in shippers)
    assert shipped == robots * EVENTS_PER_ROBOT, shipped
    return shipped / elapsed


def fleet_view_at_scale() -> list[tuple[str, str, str]]:
    """The fleet view's queries once it holds 10k objects and 10M observations (the memories the
    fleet's nodes hold; the same code as on a robot, with the temporal bound raised to keep 10M)."""
    rng = np.random.default_rng(5)
    temporal = TemporalMemory(TemporalConfig(max_observations=20_000_000))
    n, batch, objects = 10_000_000, 500_000, 10_000
    started = time.perf_counter()
    for first in range(0, n, batch):  # ~28 h of 10 robots' sightings, in stamp order
        stamps = np.sort(rng.uniform(first * 0.01, (first + batch) * 0.01, batch))
        temporal.add_observations(stamps, [f"obj-{i}" for i in rng.integers(0, objects, batch)],
                                  rng.uniform(0, 200, (batch, 3)))
    ingest = n / (time.perf_counter() - started)
    spatial = SpatialMemory(SpatialConfig(capacity=20_000))
    for start in range(0, objects, 50):
        frame = [Observation(f"thing{i % 200}", Pose(np.array([2.0 * (i % 100), 2.0 * (i // 100), 0.5])),
                             np.full(3, 0.3)) for i in range(start, start + 50)]
        integrate_confirmed(spatial, frame, float(start))
    where, window, pose = [], [], []
    for k in range(200):
        t0 = time.perf_counter()
        spatial.where_is(f"thing{k % 200}")
        t1 = time.perf_counter()
        end = float(rng.uniform(3600, n * 0.01))
        temporal.seen_between(end - 300.0, end, limit=50)
        t2 = time.perf_counter()
        temporal.pose_at(f"obj-{k * 37 % objects}", end)
        t3 = time.perf_counter()
        where.append(t1 - t0)
        window.append(t2 - t1)
        pose.append(t3 - t2)
    ms = lambda samples: f"{1000 * statistics.median(samples):.2f} ms"  # noqa: E731
    return [
        ("fleet view: where_is with 10k objects, 10M observations held (median)", ms(where),
         f"p99 {1000 * float(np.percentile(where, 99)):.2f} ms; the fleet's spatial memory, in process"),
        ("fleet view: seen_between, a 5-minute window over 10M observations (median)", ms(window),
         f"p99 {1000 * float(np.percentile(window, 99)):.2f} ms; ~30,000 observations of ~9,500 objects per "
         "window (100 obs/s), the 50 newest"),
        ("fleet view: pose_at over 10M observations (median)", ms(pose),
         f"temporal ingest of the 10M at {ingest:,.0f} obs/s"),
    ]


def main() -> list[tuple[str, str, str]]:
    rows = fleet_view_at_scale()
    folder = Path(tempfile.mkdtemp(prefix="bench_fleet_"))
    server = ThrowawayPostgres()
    server.initialise()
    server.start()
    try:
        _, append_rate = filled_journal(folder / "local.sqlite3", EVENTS_PER_ROBOT, 99)
        rows.append(("fleet: SQLite journal append, 1 robot (events/s)", f"{append_rate:.0f}",
                     "frame events of ~30 KB, batched commits: the robot's own store, beside the server rows"))
        for robots in (1, 4, 16):
            rates = [ship_in_parallel(server, folder, robots, f"ingest_{robots}_{run}") for run in range(2)]
            rows.append((f"fleet: shipping into PostgreSQL, {robots} robot(s) at once (events/s, total)",
                         f"{statistics.median(rates):.0f}",
                         f"{EVENTS_PER_ROBOT} frame events per robot, batches of 500 per transaction; median of 2; "
                         "2 cores shared by the robots and the server"))
        store, _ = filled_journal(folder / "outage.sqlite3", OUTAGE_EVENTS, 7)
        server.execute("CREATE DATABASE outage")
        conninfo = server.conninfo.replace("dbname=postgres", "dbname=outage")
        shipper = EventShipper(store, ServerDatabase(conninfo), "robot0")
        started = time.perf_counter()
        shipper.ship_all()
        catch_up = time.perf_counter() - started
        rows.append(("fleet: catch-up after a 10-minute outage (s)", f"{catch_up:.1f}",
                     f"{OUTAGE_EVENTS} frame events recorded at 5 Hz while the server was down, shipped once back"))
        conninfo = server.conninfo.replace("dbname=postgres", "dbname=ingest_16_0")
        database = ServerDatabase(conninfo)
        started = time.perf_counter()
        total = 0
        with database.run() as connection:
            for robot, memory, _ in streams(connection):
                after = 0
                while page := read_events(connection, robot, memory, after, 500):
                    total += len(page)
                    after = page[-1][0]
        read_rate = total / (time.perf_counter() - started)
        local = SqliteEventStore(folder / "local.sqlite3", "spatial")
        started = time.perf_counter()
        local_total = sum(1 for _ in local.events_after(0))
        local_rate = local_total / (time.perf_counter() - started)
        rows.append(("fleet: view recovery, reading the fleet's events from PostgreSQL (events/s)", f"{read_rate:.0f}",
                     f"{total} frame events of 16 robots, decoded; SQLite journal beside: {local_rate:.0f} events/s"))
    finally:
        server.remove()
    return rows


if __name__ == "__main__":
    for measure, figure, note in main():
        print(f"{measure}: {figure} ({note})")
