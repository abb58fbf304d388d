"""Event log and replay: a memory rebuilt from snapshot + log equals the one that wrote it."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from memory_nodes.apps.synthetic_scene import ROOMS, flat_scenario
from memory_nodes.core.changes import Change
from memory_nodes.core.episodic import EpisodicMemory, Event
from memory_nodes.core.errors import ConfigError, SnapshotError
from memory_nodes.core.geometry import CameraView, ImageDetection, Pose
from memory_nodes.core.semantic import SemanticMemory
from memory_nodes.core.spatial import SpatialConfig, SpatialMemory
from memory_nodes.core.temporal import TemporalMemory
from memory_nodes.storage.event_store import SqliteEventStore
from memory_nodes.storage.events import (
    EVENTS,
    ChangeNarrated,
    ChangeNoted,
    ChangeRecorded,
    EventAdded,
    FactAdded,
    FrameIntegrated,
    ObservationsAdded,
)
from memory_nodes.storage.journal import Journal


def describe_spatial(memory):
    return sorted((o.id, o.label, o.status, o.state, tuple(np.round(o.position, 6))) for o in memory.objects())


@pytest.mark.parametrize("snapshot_every", [1000, 7])
def test_spatial_memory_is_rebuilt_from_its_log(tmp_path, snapshot_every):
    live = SpatialMemory(SpatialConfig(rooms=ROOMS))
    journal = Journal(live, "spatial", SqliteEventStore(tmp_path / "spatial.sqlite3", "spatial"), snapshot_every)
    for frame in flat_scenario().frames:
        live.integrate(frame.observations, frame.stamp, frame.view, frame.robot_position)
        journal.record(FrameIntegrated(frame.observations, frame.stamp, frame.view, frame.robot_position))
    journal.store.close()
    rebuilt = SpatialMemory(SpatialConfig(rooms=ROOMS))
    replay = Journal(rebuilt, "spatial", SqliteEventStore(tmp_path / "spatial.sqlite3", "spatial"), snapshot_every)
    replayed = replay.restore()
    assert describe_spatial(rebuilt) == describe_spatial(live)
    assert sorted(rebuilt.relations()) == sorted(live.relations())
    assert replayed == len(flat_scenario().frames) % snapshot_every  # the rest is in the snapshot
    assert replay.replay_errors == 0


def test_a_frame_event_keeps_the_detections_that_could_not_be_placed():
    """Replaying the log must give the memory what the live frame gave it, boxes not placed in 3D
    included: they spare remembered objects a miss and confirm tentative ones."""
    view = CameraView(Pose(np.zeros(3)), (100.0, 100.0, 40.0, 30.0), 80, 60, 5.0,
                      unplaced=(ImageDetection("mug", 0.7, (10.0, 12.5, 13.0, 15.0)),))
    payload, arrays = FrameIntegrated([], 3.0, view, None).encode()
    decoded = FrameIntegrated.decode(json.loads(json.dumps(payload)), arrays)
    assert decoded.view is not None and decoded.view.unplaced == view.unplaced


def test_other_memories_replay(tmp_path, encoder):
    temporal, episodic, semantic = TemporalMemory(), EpisodicMemory(text_encoder=encoder), SemanticMemory(text_encoder=encoder)
    stores = {k: SqliteEventStore(tmp_path / f"{k}.sqlite3", k) for k in ("temporal", "episodic", "semantic")}
    journals = {"temporal": Journal(temporal, "temporal", stores["temporal"]),
                "episodic": Journal(episodic, "episodic", stores["episodic"]),
                "semantic": Journal(semantic, "semantic", stores["semantic"])}
    stamps, positions = np.arange(5.0), np.arange(15.0).reshape(5, 3)
    temporal.add_observations(stamps, ["a"] * 5, positions, ["mug"] * 5)
    journals["temporal"].record(ObservationsAdded(stamps, ["a"] * 5, positions, ["mug"] * 5))
    change = temporal.add_change(Change(3.0, "moved", "a", "mug", (0, 0, 0), (1, 1, 1)))
    journals["temporal"].record(ChangeRecorded(change))
    event = Event("note", 1.0, "battery low")
    episodic.add_event(event)
    journals["episodic"].record(EventAdded(event, ""))
    semantic.add_fact("mug", "is_in", "kitchen", 0.9, "alice", 1.0)
    journals["semantic"].record(FactAdded("mug", "is_in", "kitchen", 0.9, "alice", 1.0))
    semantic.add_fact("mug", "is_in", "office", 0.9, "bob", 2.0)
    journals["semantic"].record(FactAdded("mug", "is_in", "office", 0.9, "bob", 2.0))
    for store in stores.values():
        store.close()
    rebuilt = {"temporal": TemporalMemory(), "episodic": EpisodicMemory(text_encoder=encoder),
               "semantic": SemanticMemory(text_encoder=encoder)}
    for kind, memory in rebuilt.items():
        Journal(memory, kind, SqliteEventStore(tmp_path / f"{kind}.sqlite3", kind)).restore()
    assert np.array_equal(rebuilt["temporal"].history("a"), temporal.history("a"))
    assert rebuilt["temporal"].changes() == temporal.changes()
    assert [e.id for e in rebuilt["episodic"].episodes()] == [e.id for e in episodic.episodes()]
    assert [(f.id, f.object, f.superseded_by) for f in rebuilt["semantic"].all_facts()] == \
        [(f.id, f.object, f.superseded_by) for f in semantic.all_facts()]


def test_every_event_decodes_to_what_it_encoded():
    """Each journal record has one encode/decode pair: a round trip gives the same record."""
    change = Change(4.0, "merged", "obj-1", "mug", (0, 0, 0), (1, 2, 3), "obj-7 merged into obj-1", merged_id="obj-7")
    records = [ChangeRecorded(change), ChangeNarrated(change), ChangeNoted(change),
               EventAdded(Event("note", 1.0, "battery low", place_id="room-kitchen"), "room-kitchen"),
               FactAdded("mug", "is_in", "kitchen", 0.9, "alice", 1.0)]
    for record in records:
        decoded = type(record).decode(*record.encode())
        assert decoded == record
    assert {kind: sorted(events) for kind, events in EVENTS.items()} == {
        "spatial": ["forget", "frame", "robot"], "temporal": ["change", "forget", "merge", "observations"],
        "episodic": ["change", "event", "forget"], "semantic": ["change", "fact", "forget", "merge", "observe"]}


def test_a_merge_recorded_before_merged_id_was_a_field_still_replays(tmp_path):
    """Journals written by the previous release carry the merged id only in the change's text,
    followed by a separate merge event."""
    store = SqliteEventStore(tmp_path / "t.sqlite3", "temporal")
    store.append("observations", {"entities": ["obj-1", "obj-2"], "labels": ["mug", "mug"]},
                 {"stamps": np.array([1.0, 2.0]), "positions": np.array([[0.0, 0, 0], [5.0, 0, 0]])})
    store.append("change", {"stamp": 3.0, "kind": "merged", "entity": "obj-1", "label": "mug", "from": [5, 0, 0],
                            "to": [0, 0, 0], "detail": "obj-2 merged into obj-1 (duplicate)"})
    store.append("merge", {"keep": "obj-1", "drop": "obj-2"})
    rebuilt = TemporalMemory()
    journal = Journal(rebuilt, "temporal", store)
    assert journal.restore() == 3 and journal.replay_errors == 0
    assert rebuilt.entities() == ["obj-1"] and len(rebuilt.history("obj-1")) == 2
    assert rebuilt.changes()[0].merged_id == "obj-2"


def test_journals_refuse_an_event_of_another_memory(tmp_path):
    journal = Journal(TemporalMemory(), "temporal", SqliteEventStore(tmp_path / "t.sqlite3", "temporal"))
    with pytest.raises(ValueError, match="FactAdded"):
        journal.record(FactAdded("mug", "is_in", "kitchen", 0.9, "alice", 1.0))


def test_snapshot_bounds_the_log(tmp_path):
    store = SqliteEventStore(tmp_path / "t.sqlite3", "temporal")
    memory = TemporalMemory()
    journal = Journal(memory, "temporal", store, snapshot_every=10)
    for k in range(25):
        journal.record(ChangeRecorded(memory.add_change(Change(float(k), "moved", "a", "mug", (0, 0, 0), (1, 1, 1)))))
    assert store.event_count() == 5  # two snapshots absorbed 20 events
    rebuilt = TemporalMemory()
    assert Journal(rebuilt, "temporal", store).restore() == 5
    assert len(rebuilt.changes()) == 25


def test_foreign_newer_and_corrupt_files_are_refused_untouched(tmp_path):
    SqliteEventStore(tmp_path / "s.sqlite3", "spatial").close()
    with pytest.raises(SnapshotError, match="'spatial' memory"):
        SqliteEventStore(tmp_path / "s.sqlite3", "semantic")
    newer = tmp_path / "newer.sqlite3"
    connection = sqlite3.connect(newer)
    connection.execute("PRAGMA user_version=99")
    connection.close()
    before = newer.read_bytes()
    with pytest.raises(SnapshotError, match="schema version 99"):
        SqliteEventStore(newer, "spatial")
    assert newer.read_bytes() == before
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(SnapshotError, match="corrupt"):
        SqliteEventStore(corrupt, "spatial")
    assert corrupt.read_bytes() == b"this is not a database at all" * 100
    with pytest.raises(ConfigError):
        SqliteEventStore(tmp_path / "x.sqlite3", "spatial", durability="sometimes")
