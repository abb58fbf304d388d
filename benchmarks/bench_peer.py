"""Side by side with a peer: our core memories, eMEM (``emem`` on PyPI: SQLite + hnswlib + R-tree, the
memory behind EmbodiedAgents) and a plain SQLite + faiss flat baseline, fed the same stream of
labelled observations and asked the same questions.

The stream: 2,000 objects of 200 household labels in a 40 x 40 m house, 20,000 observations over
two hours in frames of five (the objects a camera sees in one part of the house), 200 objects moved
during the run and seen again at their new place. Every system gets the same MiniLM vectors (one
encoder, ``memory_nodes.core.text_embedding``) for the labels and the questions.

Questions, each system with its own query for it:
- where is <label> now (labels of moved objects): ours ``SpatialMemory.where_is``, eMEM ``locate``
  (its tool for it) and, as its best case, ``semantic_search`` with recency weighting (the newest
  matching observation), the baseline the newest row of the label;
- what is within 2 m of a point: ours ``query_objects``, eMEM ``spatial_query``, the baseline a box
  pre-filter on indexed x/y and an exact distance;
- what was seen in a 5-minute window: ours ``TemporalMemory.seen_between``, eMEM ``temporal_query``,
  the baseline an indexed time range;
- open-vocabulary search for a label: ours ``query_objects(text=...)``, eMEM ``semantic_search``,
  the baseline a faiss flat search over every observation's vector.

Each system runs in a fresh interpreter (resident memory is then its own: what the stream added is
measured after the system's libraries are loaded), three rounds alternating the order; figures are
medians of the rounds. Correctness is scored against the stream's ground
truth: an answer is right when it lies within 0.3 m of where an instance of the asked label is
(now, or during the window). Only the benchmark environment installs eMEM
(``benchmarks/requirements.txt``, ``make bench``).
"""

from __future__ import annotations

import gc
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

HERE = Path(__file__).resolve().parent

OBJECTS, LABEL_COUNT, OBSERVATIONS, MOVES, PER_FRAME = 2_000, 200, 20_000, 200, 5
DURATION_S, HOUSE_M, CELL_M = 7_200.0, 40.0, 4.0
T0 = 1_000_000.0  # stream clock; eMEM treats a timestamp of 0 as "now"
RIGHT_WITHIN_M = 0.3
ROUNDS = 3

_THINGS = ("mug cup glass bowl plate saucer kettle teapot toaster blender microwave fridge oven pan pot spatula "
           "ladle whisk colander grater knife fork spoon chopsticks jar bottle can carton tray cutting_board "
           "sponge dish_rack towel apron oven_mitt napkin tablecloth placemat coaster candle vase flower_pot plant "
           "lamp clock radio speaker television remote_control game_controller headphones laptop tablet phone "
           "charger keyboard mouse monitor printer router book notebook magazine newspaper pen pencil marker "
           "eraser stapler scissors tape envelope folder binder calculator ruler globe photo_frame painting "
           "mirror pillow cushion blanket duvet mattress sheet wardrobe hanger shirt sweater jacket coat hat cap "
           "scarf glove sock shoe boot slipper sandal belt wallet purse backpack suitcase umbrella keys sunglasses "
           "watch bracelet necklace ring perfume comb hairbrush hair_dryer toothbrush toothpaste soap shampoo "
           "razor towel_rack bath_mat toilet_paper tissue_box laundry_basket detergent iron ironing_board "
           "vacuum_cleaner broom mop bucket dustpan trash_can recycling_bin light_bulb battery flashlight "
           "extension_cord toolbox hammer screwdriver wrench pliers drill saw ladder paint_can brush glue "
           "sewing_kit yarn knitting_needles guitar violin piano_bench drum ukulele football basketball "
           "tennis_racket yoga_mat dumbbell skateboard bicycle_helmet teddy_bear doll toy_car puzzle board_game "
           "playing_cards dice crayon coloring_book baby_bottle pacifier stroller dog_bowl dog_leash cat_toy "
           "bird_cage fish_tank watering_can garden_hose rake shovel seed_packet first_aid_kit pill_bottle "
           "thermometer bandage water_filter coffee_maker rice_cooker spice_rack salt_shaker pepper_mill "
           "bread_box").split()


@dataclass(frozen=True)
class Stream:
    labels: list[str]
    frames: list[tuple[float, list[tuple[int, np.ndarray]]]]  # (stamp, [(object, position)])
    positions: list[list[tuple[float, np.ndarray]]]  # per object: (since stamp, place), oldest first
    label_of: np.ndarray  # (OBJECTS,) label index
    moved: list[int]
    vectors: np.ndarray  # (LABEL_COUNT, 384) the labels' MiniLM vectors


def make_stream(vectors: np.ndarray, seed: int = 0) -> Stream:
    rng = np.random.default_rng(seed)
    labels = [thing.replace("_", " ") for thing in _THINGS[:LABEL_COUNT]]
    cells = int(HOUSE_M // CELL_M)
    label_of = np.arange(OBJECTS) % LABEL_COUNT
    rng.shuffle(label_of)
    cell_of = rng.integers(0, cells * cells, OBJECTS)

    def place_in(cell: int) -> np.ndarray:
        corner = np.array([cell % cells, cell // cells], dtype=float) * CELL_M
        return np.array([*(corner + rng.uniform(0.3, CELL_M - 0.3, 2)), rng.uniform(0.0, 1.5)])

    positions = [[(T0, place_in(int(cell_of[i])))] for i in range(OBJECTS)]
    frame_count = OBSERVATIONS // PER_FRAME
    stamps = T0 + np.linspace(0.0, DURATION_S, frame_count, endpoint=False)
    moved = sorted(rng.choice(OBJECTS, MOVES, replace=False).tolist())
    move_at = dict(zip(moved, rng.uniform(0.1, 0.9, MOVES) * DURATION_S + T0))
    pending = sorted(move_at.items(), key=lambda item: item[1])
    members: dict[int, set[int]] = {}
    for i, cell in enumerate(cell_of.tolist()):
        members.setdefault(cell, set()).add(i)
    occupied = sorted(members)
    frames = []
    for stamp in stamps.tolist():
        while pending and pending[0][1] <= stamp:
            thing, when = pending.pop(0)
            old = int(cell_of[thing])
            new = int(rng.choice([c for c in occupied if c != old]))
            members[old].discard(thing)
            members[new].add(thing)
            cell_of[thing] = new
            positions[thing].append((when, place_in(new)))
        cell = int(rng.choice(occupied))
        seen = rng.choice(sorted(members[cell]), min(PER_FRAME, len(members[cell])), replace=False)
        frames.append((stamp, [(int(i), positions[int(i)][-1][1] + rng.normal(0.0, 0.02, 3)) for i in seen]))
    return Stream(labels, frames, positions, label_of, moved, vectors)


def place_at(stream: Stream, thing: int, stamp: float) -> np.ndarray:
    place = stream.positions[thing][0][1]
    for since, where in stream.positions[thing]:
        if since <= stamp:
            place = where
    return place


class System(Protocol):
    @staticmethod
    def load_libraries() -> None: ...
    def ingest(self, stamp: float, items: list[tuple[str, np.ndarray, np.ndarray]]) -> None: ...
    def finish(self) -> None: ...
    def where_is(self, label: str) -> np.ndarray | None: ...
    def near(self, center: np.ndarray, radius: float) -> list[tuple[str, np.ndarray]]: ...
    def seen_between(self, start: float, end: float) -> list[tuple[str, np.ndarray]]: ...
    def search(self, text: str, count: int) -> list[tuple[str, np.ndarray]]: ...
    def stored_bytes(self) -> int: ...


class OurMemory:
    """The spatial and temporal core memories, fed as the nodes feed them: a frame's observations
    into the scene graph, the ids it gives into the temporal memory."""

    @staticmethod
    def load_libraries() -> None:
        import memory_nodes.core.spatial
        import memory_nodes.core.temporal
        import memory_nodes.storage.event_store  # noqa: F401

    def __init__(self, encoder: Any, directory: Path) -> None:
        from memory_nodes.core.spatial import SpatialConfig, SpatialMemory
        from memory_nodes.core.temporal import TemporalMemory

        self.spatial = SpatialMemory(SpatialConfig(capacity=10_000), text_encoder=encoder)
        self.temporal = TemporalMemory()
        self.directory = directory

    def ingest(self, stamp: float, items: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        from memory_nodes.core.geometry import Pose
        from memory_nodes.core.spatial import Observation

        observations = [Observation(label, Pose(position), np.full(3, 0.1), score=0.9) for label, position, _ in items]
        result = self.spatial.integrate(observations, stamp)
        self.temporal.add_observations(np.full(len(items), stamp), result.object_ids,
                                       np.array([position for _, position, _ in items]),
                                       [label for label, _, _ in items])

    def finish(self) -> None:
        pass

    def where_is(self, label: str) -> np.ndarray | None:
        found = self.spatial.where_is(label, limit=1)
        return found[0][0].position if found else None

    def near(self, center: np.ndarray, radius: float) -> list[tuple[str, np.ndarray]]:
        return [(o.label, o.position) for o, _ in self.spatial.query_objects(center=center, radius=radius, limit=100_000)]

    def seen_between(self, start: float, end: float) -> list[tuple[str, np.ndarray]]:
        return [(s.label, s.position) for s in self.temporal.seen_between(start, end)]

    def search(self, text: str, count: int) -> list[tuple[str, np.ndarray]]:
        return [(o.label, o.position) for o, _ in self.spatial.query_objects(text=text, limit=count)]

    def stored_bytes(self) -> int:
        from memory_nodes.storage.event_store import SqliteEventStore

        total = 0
        for kind, memory in (("spatial", self.spatial), ("temporal", self.temporal)):
            path = self.directory / f"{kind}.db"
            store = SqliteEventStore(path, kind)
            store.write_snapshot(*memory.snapshot())
            store.close()
            total += sum(p.stat().st_size for p in self.directory.glob(f"{kind}.db*"))
        return total


class EmemMemory:
    """eMEM 0.3.0 with its defaults, our encoder as its embedding provider and the stream's clock."""

    @staticmethod
    def load_libraries() -> None:
        import emem
        import emem.embeddings  # noqa: F401

    def __init__(self, encoder: Any, directory: Path) -> None:
        from emem import SpatioTemporalMemory, SpatioTemporalMemoryConfig
        from emem.embeddings import CallableEmbeddingProvider

        self.now = T0
        provider = CallableEmbeddingProvider(lambda texts: np.stack([encoder.encode_cached(t) for t in texts]), dim=384)
        config = SpatioTemporalMemoryConfig(db_path=str(directory / "emem.db"),
                                            hnsw_path=str(directory / "emem.hnsw.bin"))
        self.memory = SpatioTemporalMemory(str(directory / "emem.db"), config=config, embedding_provider=provider,
                                           get_current_time=lambda: self.now)
        # Its best case for "where is X now": the same search, the newest observation weighted up.
        recent = SpatioTemporalMemoryConfig(db_path=config.db_path, hnsw_path=config.hnsw_path, recency_weight=1.0,
                                            recency_halflife=600.0)
        self.recent_config = recent
        self.directory = directory

    def ingest(self, stamp: float, items: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        self.now = stamp
        for label, position, vector in items:
            self.memory.add(label, float(position[0]), float(position[1]), float(position[2]), timestamp=stamp,
                            layer_name="detections", source_type="detector", embedding=vector)

    def finish(self) -> None:
        self.memory._ensure_flushed()

    def where_is(self, label: str) -> np.ndarray | None:
        answer = self.memory.locate(label)
        match = re.search(r"Location: \(([-\d.]+), ([-\d.]+), ([-\d.]+)\)", answer)
        return np.array([float(v) for v in match.groups()]) if match else None

    def where_is_newest(self, label: str) -> np.ndarray | None:
        store = self.memory.store
        saved = store.config
        store.config = self.recent_config
        try:
            found = store.semantic_search(query=label, n_results=1, reference_time=self.now)
        finally:
            store.config = saved
        return np.asarray(found[0].coordinates) if found else None

    def near(self, center: np.ndarray, radius: float) -> list[tuple[str, np.ndarray]]:
        found = self.memory.store.spatial_query(center=center, radius=radius, n_results=10_000)
        return [(o.text, np.asarray(o.coordinates)) for o in found]

    def seen_between(self, start: float, end: float) -> list[tuple[str, np.ndarray]]:
        found = self.memory.store.temporal_query(time_range=(start, end), n_results=100_000)
        return [(o.text, np.asarray(o.coordinates)) for o in found]

    def search(self, text: str, count: int) -> list[tuple[str, np.ndarray]]:
        found = self.memory.store.semantic_search(query=text, n_results=count, reference_time=self.now)
        return [(o.text, np.asarray(o.coordinates)) for o in found if hasattr(o, "coordinates")]

    def stored_bytes(self) -> int:
        self.memory.save()
        return sum(p.stat().st_size for p in self.directory.glob("emem*"))


class SqliteFaissBaseline:
    """What one writes in an afternoon: one row per observation in SQLite (indexes on label, time
    and x/y), one vector per observation in a faiss flat index."""

    @staticmethod
    def load_libraries() -> None:
        import faiss  # noqa: F401

    def __init__(self, encoder: Any, directory: Path) -> None:
        import faiss

        self.encoder = encoder
        self.path = directory / "baseline.db"
        self.db = sqlite3.connect(self.path)
        self.db.executescript("""
            PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
            CREATE TABLE observation (id INTEGER PRIMARY KEY, label TEXT, x REAL, y REAL, z REAL, t REAL);
            CREATE INDEX by_label_time ON observation (label, t);
            CREATE INDEX by_time ON observation (t);
            CREATE INDEX by_x ON observation (x, y);""")
        self.index = faiss.IndexFlatIP(384)

    def ingest(self, stamp: float, items: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        self.db.executemany("INSERT INTO observation (label, x, y, z, t) VALUES (?, ?, ?, ?, ?)",
                            [(label, *map(float, position), stamp) for label, position, _ in items])
        self.db.commit()
        self.index.add(np.stack([vector for _, _, vector in items]).astype(np.float32))

    def finish(self) -> None:
        pass

    def where_is(self, label: str) -> np.ndarray | None:
        row = self.db.execute("SELECT x, y, z FROM observation WHERE label = ? ORDER BY t DESC LIMIT 1",
                              (label,)).fetchone()
        return np.array(row) if row else None

    def near(self, center: np.ndarray, radius: float) -> list[tuple[str, np.ndarray]]:
        x, y = float(center[0]), float(center[1])
        rows = self.db.execute("SELECT label, x, y, z FROM observation WHERE x BETWEEN ? AND ? AND y BETWEEN ? AND ?",
                               (x - radius, x + radius, y - radius, y + radius)).fetchall()
        return [(label, np.array(p)) for label, *p in rows if np.linalg.norm(np.array(p) - center) <= radius]

    def seen_between(self, start: float, end: float) -> list[tuple[str, np.ndarray]]:
        rows = self.db.execute("SELECT label, x, y, z FROM observation WHERE t BETWEEN ? AND ?", (start, end)).fetchall()
        return [(label, np.array(p)) for label, *p in rows]

    def search(self, text: str, count: int) -> list[tuple[str, np.ndarray]]:
        _, ids = self.index.search(self.encoder.encode_cached(text)[None, :], count)
        wanted = [int(i) + 1 for i in ids[0] if i >= 0]
        rows = self.db.execute(f"SELECT label, x, y, z FROM observation WHERE id IN ({','.join('?' * len(wanted))})",
                               wanted).fetchall()
        return [(label, np.array(p)) for label, *p in rows]

    def stored_bytes(self) -> int:
        import faiss

        faiss.write_index(self.index, str(self.path.with_suffix(".faiss")))
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in self.path.parent.glob("baseline*"))


SYSTEMS = {"ours": OurMemory, "emem": EmemMemory, "sqlite+faiss": SqliteFaissBaseline}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _instances_at(stream: Stream, label: int, stamp: float) -> np.ndarray:
    return np.array([place_at(stream, i, stamp) for i in np.flatnonzero(stream.label_of == label)])


def _right(answer: np.ndarray | None, places: np.ndarray) -> bool:
    return answer is not None and bool(np.min(np.linalg.norm(places - answer, axis=1)) <= RIGHT_WITHIN_M)


def _distinct_found(answers: list[tuple[str, np.ndarray]], wanted: list[tuple[str, np.ndarray]]) -> float:
    """Share of ``wanted`` (label, place) that some answer names at that place."""
    if not wanted:
        return 1.0
    by_label: dict[str, list[np.ndarray]] = {}
    for label, where in answers:
        by_label.setdefault(label, []).append(np.asarray(where, dtype=float))
    hits = 0
    for label, where in wanted:
        places = by_label.get(label)
        hits += bool(places) and bool(np.min(np.linalg.norm(np.array(places) - where, axis=1)) <= RIGHT_WITHIN_M)
    return hits / len(wanted)


def run_system(name: str, seed: int) -> dict[str, float]:
    """One system, one fresh interpreter: ingest the stream, ask the questions, score them."""
    from memory_nodes.core.text_embedding import shared_text_encoder

    encoder = shared_text_encoder()
    labels = [thing.replace("_", " ") for thing in _THINGS[:LABEL_COUNT]]
    stream = make_stream(np.stack([encoder.encode_cached(label) for label in labels]), seed)
    SYSTEMS[name].load_libraries()  # the libraries' code is not what the stream added
    gc.collect()
    directory = Path(tempfile.mkdtemp(prefix=f"bench_peer_{name.replace('+', '_')}_"))
    before = rss_mb()
    system: Any = SYSTEMS[name](encoder, directory)
    started = time.perf_counter()
    for stamp, seen in stream.frames:
        system.ingest(stamp, [(labels[stream.label_of[i]], where, stream.vectors[stream.label_of[i]])
                              for i, where in seen])
    system.finish()
    ingest_s = time.perf_counter() - started
    gc.collect()
    figures: dict[str, float] = {"ingest_obs_per_s": OBSERVATIONS / ingest_s}
    end = stream.frames[-1][0] + 1.0
    rng = np.random.default_rng(seed + 1)

    asked = sorted({int(stream.label_of[i]) for i in stream.moved})
    timed: dict[str, list[float]] = {"where": [], "near": [], "window": [], "search": []}
    right = []
    for label in asked:
        began = time.perf_counter()
        answer = system.where_is(labels[label])
        timed["where"].append(time.perf_counter() - began)
        right.append(_right(answer, _instances_at(stream, label, end)))
    figures["where_right"] = float(np.mean(right))
    if name == "emem":
        newest = [_right(system.where_is_newest(labels[label]), _instances_at(stream, label, end)) for label in asked]
        figures["where_newest_right"] = float(np.mean(newest))

    now = np.array([place_at(stream, i, end) for i in range(OBJECTS)])
    now_by_label = {labels[label]: now[stream.label_of == label] for label in range(LABEL_COUNT)}
    near_recall, near_stale = [], []
    for _ in range(200):
        center = np.array([*rng.uniform(0.0, HOUSE_M, 2), 0.5])
        began = time.perf_counter()
        found = system.near(center, 2.0)
        timed["near"].append(time.perf_counter() - began)
        inside = np.flatnonzero(np.linalg.norm(now - center, axis=1) <= 2.0 - RIGHT_WITHIN_M)
        near_recall.append(_distinct_found(found, [(labels[stream.label_of[i]], now[i]) for i in inside]))
        # An answer at a place no object of its label is any more: a stale copy of a moved object.
        stale = [not _right(where, now_by_label[lab]) if lab in now_by_label else 1.0 for lab, where in found]
        near_stale.append(float(np.mean(stale)) if stale else 0.0)
    figures["near_recall"], figures["near_stale"] = float(np.mean(near_recall)), float(np.mean(near_stale))

    window_recall = []
    frame_stamps = np.array([stamp for stamp, _ in stream.frames])
    for _ in range(50):
        start = float(rng.uniform(T0, end - 300.0))
        began = time.perf_counter()
        found = system.seen_between(start, start + 300.0)
        timed["window"].append(time.perf_counter() - began)
        first, last = np.searchsorted(frame_stamps, [start, start + 300.0], side="left")
        wanted = {i: place_at(stream, i, stream.frames[k][0])
                  for k in range(first, min(last, len(stream.frames))) for i, _ in stream.frames[k][1]}
        window_recall.append(_distinct_found(found, [(labels[stream.label_of[i]], w) for i, w in wanted.items()]))
    figures["window_recall"] = float(np.mean(window_recall))

    search_recall = []
    for label in rng.choice(LABEL_COUNT, 100, replace=False).tolist():
        began = time.perf_counter()
        found = system.search(labels[label], 10)
        timed["search"].append(time.perf_counter() - began)
        instances = np.flatnonzero(stream.label_of == label)
        search_recall.append(_distinct_found(found, [(labels[label], now[i]) for i in instances]))
    figures["search_recall"] = float(np.mean(search_recall))
    for kind, values in timed.items():
        figures[f"{kind}_ms"] = float(np.median(values) * 1000.0)
    gc.collect()
    figures["memory_mb"] = rss_mb() - before
    figures["process_mb"] = rss_mb()
    figures["disk_mb"] = system.stored_bytes() / 1e6
    return figures


def main() -> list[tuple[str, str, str]]:
    try:
        import emem  # noqa: F401
    except ImportError:
        return [("peer side by side (eMEM)", "not run",
                 "emem is not installed: make bench installs benchmarks/requirements.txt")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SYSTEMS}
    for round_index in range(ROUNDS):
        order = list(SYSTEMS)[round_index % len(SYSTEMS):] + list(SYSTEMS)[:round_index % len(SYSTEMS)]
        for name in order:
            output = subprocess.run([sys.executable, __file__, "--system", name], capture_output=True, text=True,
                                    env=environment, timeout=1800)
            if output.returncode != 0:
                raise RuntimeError(f"bench_peer {name} failed:\n{output.stderr[-3000:]}")
            runs[name].append(json.loads(output.stdout.strip().splitlines()[-1]))
    median = {name: {key: float(np.median([r[key] for r in rs])) for key in rs[0]} for name, rs in runs.items()}
    return rows(median)


def rows(median: dict[str, dict[str, float]]) -> list[tuple[str, str, str]]:
    ours, peer, base = median["ours"], median["emem"], median["sqlite+faiss"]
    stream = (f"{OBJECTS:,} objects of {LABEL_COUNT} labels, {OBSERVATIONS:,} observations over 2 h, {MOVES} moved; "
              f"medians of {ROUNDS} alternating runs, each system in its own interpreter")

    def faster(key: str) -> str:  # a latency: how many times faster we are
        return f"{peer[key] / ours[key]:.2f}x eMEM, {base[key] / ours[key]:.2f}x baseline"

    result = [
        ("peer: ingest, observations/s (target: ahead of eMEM, >= 1x)",
         f"{ours['ingest_obs_per_s'] / peer['ingest_obs_per_s']:.2f}x eMEM",
         f"ours {ours['ingest_obs_per_s']:,.0f}, eMEM {peer['ingest_obs_per_s']:,.0f}, "
         f"SQLite+faiss {base['ingest_obs_per_s']:,.0f} obs/s; {stream}"),
        ("peer: where is X now, median latency, eMEM / ours (target >= 1x)", faster("where_ms"),
         f"ours {ours['where_ms']:.2f} ms, eMEM locate {peer['where_ms']:.2f} ms, SQLite {base['where_ms']:.2f} ms"),
        ("peer: where is X now after moves, answers right (target >= 0.95)", f"{ours['where_right']:.2f}",
         f"eMEM locate {peer['where_right']:.2f}, eMEM newest semantic match {peer['where_newest_right']:.2f}, "
         f"SQLite newest row {base['where_right']:.2f} (right: within {RIGHT_WITHIN_M} m of an instance of the "
         "label now)"),
        ("peer: within 2 m of a point, median latency, eMEM / ours (target >= 1x)", faster("near_ms"),
         f"ours {ours['near_ms']:.2f} ms, eMEM {peer['near_ms']:.2f} ms, SQLite {base['near_ms']:.2f} ms; objects "
         f"there found {ours['near_recall']:.2f} / {peer['near_recall']:.2f} / {base['near_recall']:.2f}; "
         f"answers at a place left (stale) {ours['near_stale']:.2f} / {peer['near_stale']:.2f} / "
         f"{base['near_stale']:.2f}"),
        ("peer: seen in a 5-minute window, median latency, eMEM / ours (target >= 1x)", faster("window_ms"),
         f"ours {ours['window_ms']:.2f} ms, eMEM {peer['window_ms']:.2f} ms, SQLite {base['window_ms']:.2f} ms; "
         f"objects seen found {ours['window_recall']:.2f} / {peer['window_recall']:.2f} / "
         f"{base['window_recall']:.2f}"),
        ("peer: open-vocabulary search, median latency, eMEM / ours (target >= 1x)", faster("search_ms"),
         f"ours {ours['search_ms']:.2f} ms, eMEM {peer['search_ms']:.2f} ms, faiss flat {base['search_ms']:.2f} ms; "
         f"distinct instances in the top 10 (recall@10 of the label's 10) {ours['search_recall']:.2f} / "
         f"{peer['search_recall']:.2f} / {base['search_recall']:.2f}"),
        ("peer: resident memory the stream added, eMEM / ours (target >= 1x)",
         f"{peer['memory_mb'] / max(ours['memory_mb'], 1e-3):.2f}x",
         f"ours {ours['memory_mb']:.0f} MB, eMEM {peer['memory_mb']:.0f} MB, baseline {base['memory_mb']:.0f} MB; "
         f"process totals {ours['process_mb']:.0f} / {peer['process_mb']:.0f} / {base['process_mb']:.0f} MB with "
         "the encoder loaded in each"),
        ("peer: storage on disk, eMEM / ours (target >= 1x)", f"{peer['disk_mb'] / max(ours['disk_mb'], 1e-6):.2f}x",
         f"ours {ours['disk_mb']:.1f} MB (spatial + temporal snapshots), eMEM {peer['disk_mb']:.1f} MB, "
         f"baseline {base['disk_mb']:.1f} MB"),
    ]
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--system"]:
        sys.path.insert(0, str(HERE.parent))
        print(json.dumps(run_system(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)))
    else:
        for row in main():
            print(" | ".join(row))
