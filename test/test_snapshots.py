"""Snapshots: every memory round-trips through the store; names and files are checked."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from memory_nodes.apps.synthetic_scene import ROOMS, flat_scenario
from memory_nodes.core.changes import Change
from memory_nodes.core.episodic import EpisodicMemory, Event
from memory_nodes.core.errors import InvalidInputError, SnapshotError
from memory_nodes.core.semantic import SemanticMemory
from memory_nodes.core.spatial import SpatialConfig, SpatialMemory
from memory_nodes.core.temporal import TemporalMemory
from memory_nodes.storage.snapshot_store import SnapshotStore


def round_trip(store, kind, memory, fresh):
    store.save(kind, kind, *memory.snapshot())
    fresh.restore(*store.load(kind, kind))
    return fresh


def test_spatial_round_trip_keeps_graph_points_and_ids(tmp_path, encoder):
    store = SnapshotStore(tmp_path)
    memory = SpatialMemory(SpatialConfig(rooms=ROOMS), encoder)
    for frame in flat_scenario().frames:
        memory.integrate(frame.observations, frame.stamp, frame.view, frame.robot_position)
    rng = np.random.default_rng(0)
    from memory_nodes.core.geometry import Pose
    from memory_nodes.core.spatial import Observation
    memory.integrate([Observation("box", Pose(np.array([3.0, 4.0, 0.2])), np.array([0.2, 0.2, 0.2]),
                                  points=rng.uniform([2.9, 3.9, 0.1], [3.1, 4.1, 0.3], (500, 3)))], 2000.0)
    restored = round_trip(store, "spatial", memory, SpatialMemory(SpatialConfig(rooms=ROOMS), encoder))
    assert {o.id: (o.label, o.status, o.state) for o in restored.objects()} == \
        {o.id: (o.label, o.status, o.state) for o in memory.objects()}
    for node in memory.objects():
        other = restored.get(node.id)
        assert np.allclose(other.position, node.position) and np.array_equal(other.points, node.points)
        assert other.retention == node.retention and other.label_counts == node.label_counts
    assert sorted(restored.relations()) == sorted(memory.relations())
    assert restored.where_is("mug")[0][0].id == memory.where_is("mug")[0][0].id
    # ids continue where they stopped, in both
    new = restored.integrate([Observation("vase", Pose(np.array([9.0, 4.0, 0.2])), np.ones(3) * 0.1)], 3000.0)
    assert new.object_ids == [f"obj-{len(flat_scenario().objects) + 3}"]


def test_temporal_round_trip(tmp_path):
    store = SnapshotStore(tmp_path)
    memory = TemporalMemory()
    memory.add_observations(np.arange(10.0), ["a"] * 5 + ["b"] * 5, np.arange(30.0).reshape(10, 3), ["mug"] * 10)
    memory.add_change(Change(3.0, "moved", "a", "mug", (0, 0, 0), (1, 1, 1), "far"))
    restored = round_trip(store, "temporal", memory, TemporalMemory())
    assert np.array_equal(restored.history("a"), memory.history("a"))
    assert restored.changes() == memory.changes() and len(restored) == 10
    assert restored.add_change(Change(4.0, "moved", "b", "mug", (0, 0, 0), (1, 1, 1))).id == "chg-2"


def test_episodic_round_trip_keeps_recall(tmp_path, encoder):
    store = SnapshotStore(tmp_path)
    memory = EpisodicMemory(text_encoder=encoder)
    memory.add_event(Event("task_started", 0.0, "make coffee", task="coffee"))
    memory.add_event(Event("task_succeeded", 5.0, "coffee ready", task="coffee"))
    memory.add_event(Event("note", 10.0, "battery low"))
    restored = round_trip(store, "episodic", memory, EpisodicMemory(text_encoder=encoder))
    assert [(e.id, e.summary, e.closed) for e in restored.episodes()] == [(e.id, e.summary, e.closed) for e in memory.episodes()]
    assert restored.recall("hot drink")[0][0].task == "coffee"
    _, episode = restored.add_event(Event("note", 11.0, "battery still low"))
    assert episode == memory.episodes()[-1].id  # the open episode stays open


def test_semantic_round_trip_keeps_superseded_facts(tmp_path, encoder):
    store = SnapshotStore(tmp_path)
    memory = SemanticMemory(text_encoder=encoder)
    memory.add_fact("mug", "is_in", "kitchen", stamp=1.0)
    memory.add_fact("mug", "is_in", "office", stamp=2.0)
    restored = round_trip(store, "semantic", memory, SemanticMemory(text_encoder=encoder))
    assert [(f.id, f.object, f.superseded_by) for f in restored.all_facts()] == \
        [(f.id, f.object, f.superseded_by) for f in memory.all_facts()]
    assert restored.query(text="where is the cup")[0][0].object == "office"
    _, superseded = restored.add_fact("mug", "is_in", "garage", stamp=3.0)
    assert superseded == ["fact-2"]


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "", ".hidden", "x" * 200, "a..b"])
def test_names_outside_the_directory_are_refused(tmp_path, name):
    with pytest.raises(InvalidInputError):
        SnapshotStore(tmp_path).resolve(name)


def test_symlinks_are_refused(tmp_path):
    outside = tmp_path / "outside.npz"
    outside.write_bytes(b"")
    store = SnapshotStore(tmp_path / "memory")
    os.symlink(outside, store.directory / "link.npz")
    with pytest.raises(InvalidInputError):
        store.load("link", "spatial")


def test_corrupt_foreign_and_newer_files_are_refused_and_left_untouched(tmp_path):
    store = SnapshotStore(tmp_path)
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip file")
    with pytest.raises(SnapshotError, match="corrupt"):
        store.load("corrupt", "spatial")
    assert (tmp_path / "corrupt.npz").read_bytes() == b"not a zip file"
    store.save("temporal", "temporal", *TemporalMemory().snapshot())
    with pytest.raises(SnapshotError, match="not 'spatial'"):
        store.load("temporal", "spatial")
    meta = np.frombuffer(json.dumps({"schema_version": 99, "kind": "spatial", "state": {}}).encode(), np.uint8)
    np.savez(tmp_path / "future.npz", __meta__=meta)
    with pytest.raises(SnapshotError, match="schema version 99"):
        store.load("future", "spatial")
    with pytest.raises(SnapshotError, match="no snapshot"):
        store.load("missing", "spatial")


def test_pickled_arrays_cannot_be_loaded(tmp_path):
    meta = np.frombuffer(json.dumps({"schema_version": 1, "kind": "spatial", "state": {}}).encode(), np.uint8)
    np.savez(tmp_path / "evil.npz", __meta__=meta, payload=np.array([{"x": 1}], dtype=object))
    with pytest.raises(SnapshotError):
        SnapshotStore(tmp_path).load("evil", "spatial")
