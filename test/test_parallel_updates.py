"""The four memories are written concurrently while questions are asked; nothing is lost or torn."""

from __future__ import annotations

import threading

import numpy as np

from memory_nodes.apps.synthetic_scene import ROOMS, flat_scenario
from memory_nodes.core.ask import (
    InProcessAsk,
    episodic_evidence,
    semantic_evidence,
    spatial_evidence,
    temporal_evidence,
)
from memory_nodes.core.changes import Change
from memory_nodes.core.episodic import EpisodicMemory, Event
from memory_nodes.core.semantic import SemanticMemory
from memory_nodes.core.spatial import SpatialConfig, SpatialMemory
from memory_nodes.core.temporal import TemporalMemory


def test_concurrent_updates_and_questions(encoder):
    spatial = SpatialMemory(SpatialConfig(rooms=ROOMS), encoder)
    temporal, episodic, semantic = TemporalMemory(), EpisodicMemory(text_encoder=encoder), SemanticMemory(text_encoder=encoder)
    scenario = flat_scenario()
    errors: list[BaseException] = []

    def guard(work):
        def run():
            try:
                work()
            except BaseException as error:
                errors.append(error)
        return threading.Thread(target=run)

    def feed_spatial():
        for frame in scenario.frames:
            spatial.integrate(frame.observations, frame.stamp, frame.view, frame.robot_position)

    def feed_temporal():
        for k in range(200):
            stamps = np.full(50, float(k))
            temporal.add_observations(stamps, [f"obj-{i}" for i in range(50)], np.random.default_rng(k).normal(size=(50, 3)))
            temporal.add_change(Change(float(k), "moved", f"obj-{k % 50}", "mug", (0, 0, 0), (1, 1, 0)))

    def feed_episodic():
        for k in range(200):
            episodic.add_event(Event("note", float(k) * 10, f"note number {k}"))

    def feed_semantic():
        for k in range(100):
            semantic.add_fact(f"thing{k}", "is_in", "kitchen" if k % 2 else "office", stamp=float(k))

    asker = InProcessAsk({
        "spatial": lambda q, n: spatial_evidence(spatial, q, n),
        "temporal": lambda q, n: temporal_evidence(temporal, encoder, q, n),
        "episodic": lambda q, n: episodic_evidence(episodic, q, n),
        "semantic": lambda q, n: semantic_evidence(semantic, q, n),
    }, timeout_s=10.0)
    answered = []

    def ask_repeatedly():
        for _ in range(10):
            answered.append(asker.ask("where is the mug?", 5).answered)

    threads = [guard(f) for f in (feed_spatial, feed_temporal, feed_episodic, feed_semantic, ask_repeatedly)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    asker.close()
    assert not errors, errors
    assert len(temporal) == 200 * 50 and len(temporal.changes()) == 200
    assert sum(e.event_count for e in episodic.episodes()) == 200
    assert len(semantic) == 100
    assert len(spatial) == len(scenario.objects)
    assert all(a == ["spatial", "temporal", "episodic", "semantic"] for a in answered)


def test_queries_during_heavy_ingestion_see_whole_frames():
    """A reader never sees half a frame: every snapshot it takes satisfies the invariants a
    finished frame leaves behind (no overlapping same-label twins, every edge between known nodes)."""
    from memory_nodes.core.geometry import aabb_iou

    memory = SpatialMemory(SpatialConfig(rooms=ROOMS))
    scenario = flat_scenario()
    stop = threading.Event()
    problems: list[str] = []

    def ingest():
        stamp = 0.0
        while not stop.is_set():
            for frame in scenario.frames:
                memory.integrate(frame.observations, frame.stamp + stamp, frame.view, frame.robot_position)
            stamp += 1000.0

    def read():
        for _ in range(80):
            graph = memory.subgraph()
            objects = {o.id: o for o in memory.objects()}
            present = [o for o in objects.values() if o.status == "present"]
            for a in present:
                for b in present:
                    if a.id < b.id and a.label == b.label and aabb_iou(*a.bounds(), *b.bounds()) >= 0.5:
                        problems.append(f"half-merged twins {a.id} {b.id}")
            for u, v in graph.edges():
                if u not in graph.nodes or v not in graph.nodes:
                    problems.append(f"dangling edge {u} -> {v}")

    writer = threading.Thread(target=ingest)
    writer.start()
    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=120)
    stop.set()
    writer.join(timeout=120)
    assert not problems, problems[:5]
