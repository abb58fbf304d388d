"""Temporal memory: pose at time t, history, changes in windows, regions, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.changes import Change
from memory_nodes.core.errors import InvalidInputError, UnknownItemError
from memory_nodes.core.temporal import TemporalConfig, TemporalMemory


def track(memory, entity, stamps, xs):
    memory.add_observations(np.asarray(stamps, float), [entity] * len(stamps),
                            np.column_stack([xs, np.zeros(len(xs)), np.zeros(len(xs))]))


def test_pose_at_time_is_the_last_observation_at_or_before():
    memory = TemporalMemory()
    track(memory, "obj-1", [10, 20, 30], [1.0, 2.0, 3.0])
    assert memory.pose_at("obj-1", 5.0) is None
    stamp, position = memory.pose_at("obj-1", 25.0)
    assert stamp == 20.0 and position[0] == 2.0
    assert memory.pose_at("obj-1", 30.0)[0] == 30.0
    with pytest.raises(UnknownItemError):
        memory.pose_at("obj-404", 1.0)


def test_out_of_order_stamps_are_sorted():
    memory = TemporalMemory()
    track(memory, "obj-1", [30, 10], [3.0, 1.0])
    track(memory, "obj-1", [20], [2.0])
    assert memory.history("obj-1")[:, 0].tolist() == [10.0, 20.0, 30.0]
    assert memory.last_seen("obj-1")[0] == 30.0


def test_history_window_and_limit():
    memory = TemporalMemory()
    track(memory, "obj-1", np.arange(100), np.arange(100) * 0.1)
    assert len(memory.history("obj-1", 10, 19)) == 10
    assert memory.history("obj-1", limit=3)[:, 0].tolist() == [97.0, 98.0, 99.0]


def test_rows_with_nan_are_rejected():
    memory = TemporalMemory()
    stored = memory.add_observations(np.array([1.0, 2.0, np.nan]), ["a", "a", "a"],
                                     np.array([[0, 0, 0], [np.nan, 0, 0], [1, 1, 1]], float))
    assert stored == 1 and len(memory) == 1
    with pytest.raises(InvalidInputError):
        memory.add_observations(np.array([1.0]), ["a", "b"], np.zeros((1, 3)))


def test_changes_by_window_entity_kind_and_region():
    memory = TemporalMemory()
    memory.add_change(Change(10.0, "appeared", "obj-1", "mug", (0, 0, 0), (1, 1, 0)))
    memory.add_change(Change(50.0, "moved", "obj-1", "mug", (1, 1, 0), (7, 2, 0)))
    memory.add_change(Change(30.0, "state_changed", "obj-2", "drawer", (1, 4, 0), (1, 4, 0), "closed -> open"))
    assert [c.kind for c in memory.changes()] == ["appeared", "state_changed", "moved"]
    assert [c.kind for c in memory.changes(20, 60)] == ["state_changed", "moved"]
    assert [c.kind for c in memory.changes(entity="obj-1")] == ["appeared", "moved"]
    assert [c.kind for c in memory.changes(kind="moved")] == ["moved"]
    assert [c.kind for c in memory.changes(center=np.array([7, 2, 0]), radius=0.5)] == ["moved"]
    assert [c.kind for c in memory.changes(limit=1)] == ["moved"]
    with pytest.raises(InvalidInputError):
        memory.changes(start=5, end=1)


def test_what_was_in_a_region_during_an_interval():
    memory = TemporalMemory()
    track(memory, "obj-1", [0, 10, 20], [0.0, 5.0, 10.0])
    track(memory, "obj-2", [0, 10, 20], [5.0, 5.0, 5.0])
    inside = memory.in_region(np.array([5.0, 0, 0]), 0.5, start=5, end=15)
    assert inside == {"obj-1": (10.0, 10.0), "obj-2": (10.0, 10.0)}
    assert set(memory.in_region(np.array([5.0, 0, 0]), 0.5, start=15)) == {"obj-2"}


def test_memory_stays_bounded_and_summaries_survive_compaction():
    memory = TemporalMemory(TemporalConfig(max_observations=1000, compaction_interval_s=10.0))
    for start in range(0, 5000, 100):
        stamps = np.arange(start, start + 100, dtype=float)
        memory.add_observations(stamps, ["obj-1"] * 100, np.column_stack([stamps, np.zeros(100), np.zeros(100)]))
    assert len(memory) <= 1000
    summary = memory.summary("obj-1")
    assert summary.observation_count == 5000 and summary.first_seen == 0.0 and summary.last_seen == 4999.0
    # the recent history is kept in full, the old one thinned but still answers "where at t"
    assert memory.pose_at("obj-1", 4998.5)[0] == 4998.0
    stamp, _position = memory.pose_at("obj-1", 105.0)
    assert 100.0 <= stamp <= 105.0


def test_bounded_changes_count_what_was_dropped():
    memory = TemporalMemory(TemporalConfig(max_changes=10))
    for k in range(25):
        memory.add_change(Change(float(k), "moved", "obj-1", "mug", (0, 0, 0), (1, 0, 0)))
    assert len(memory.changes()) == 10 and memory.dropped_changes["moved"] == 15


def test_a_merge_change_folds_the_merged_history_in():
    """The merge travels inside the change (its merged_id): storing the change is enough."""
    memory = TemporalMemory()
    track(memory, "obj-1", [0, 1], [1.0, 1.0])
    track(memory, "obj-5", [5, 6], [7.0, 7.0])
    memory.add_change(Change(7.0, "merged", "obj-1", "mug", (7, 0, 0), (7, 0, 0), "", merged_id="obj-5"))
    assert memory.entities() == ["obj-1"] and memory.history("obj-1")[:, 0].tolist() == [0.0, 1.0, 5.0, 6.0]
    with pytest.raises(InvalidInputError, match="merged id"):
        Change(8.0, "merged", "obj-1", "mug", (0, 0, 0), (0, 0, 0))
    with pytest.raises(InvalidInputError, match="unknown change kind"):
        Change(8.0, "teleported", "obj-1", "mug", (0, 0, 0), (0, 0, 0))


def test_forget_selection_by_id_age_and_region():
    memory = TemporalMemory()
    track(memory, "old", [0, 1], [0.0, 0.0])
    track(memory, "near", [500, 501], [5.0, 5.0])
    track(memory, "far", [500, 502], [50.0, 50.0])
    assert memory.select_forgettable(["far"], older_than_s=100.0) == ["far", "old"]
    assert memory.select_forgettable([], center=np.array([5.0, 0.0, 0.0]), radius=1.0) == ["near"]
    with pytest.raises(InvalidInputError):
        memory.select_forgettable([], older_than_s=-1.0)


def test_merged_entities_share_one_history():
    memory = TemporalMemory()
    track(memory, "obj-1", [0, 1], [1.0, 1.0])
    track(memory, "obj-5", [5, 6], [7.0, 7.0])
    memory.merge_entities("obj-1", "obj-5")
    assert memory.history("obj-1")[:, 0].tolist() == [0.0, 1.0, 5.0, 6.0]
    assert memory.last_seen("obj-1")[1][0] == 7.0
    with pytest.raises(UnknownItemError):
        memory.history("obj-5")


def test_batch_ingest_is_vectorised():
    """100k rows of 100 entities in one call: correct per-entity counts (speed is in the benchmark)."""
    memory = TemporalMemory()
    rng = np.random.default_rng(0)
    n = 100_000
    entities = [f"obj-{i}" for i in rng.integers(0, 100, n)]
    memory.add_observations(np.sort(rng.uniform(0, 1000, n)), entities, rng.normal(size=(n, 3)))
    assert len(memory) == n
    assert sum(memory.summary(e).observation_count for e in memory.entities()) == n


def test_a_shuffled_batch_of_many_entities_gives_each_its_sorted_history_and_summary():
    memory = TemporalMemory()
    rng = np.random.default_rng(1)
    n = 5_000
    stamps = rng.uniform(0, 100, n)
    owners = rng.integers(0, 50, n)
    positions = np.column_stack([stamps, owners, np.zeros(n)])  # x = stamp: checkable per row
    labels = [f"label-{o}" for o in owners]
    memory.add_observations(stamps, [f"obj-{o}" for o in owners], positions, labels)
    memory.add_observations(np.array([-5.0]), ["obj-3"], np.array([[-5.0, 3.0, 0.0]]))  # older than all of obj-3
    for owner in (3, 17, 42):
        history = memory.history(f"obj-{owner}")
        mine = np.sort(stamps[owners == owner])
        expected = np.concatenate([[-5.0], mine]) if owner == 3 else mine
        assert history[:, 0].tolist() == expected.tolist() and np.allclose(history[:, 1], history[:, 0])
        summary = memory.summary(f"obj-{owner}")
        assert summary.observation_count == len(expected) and summary.first_seen == expected[0]
        assert summary.last_seen == mine[-1] and summary.last_position[0] == mine[-1]
        assert summary.label == f"label-{owner}"


def test_seen_between_lists_what_was_observed_in_a_window_newest_first():
    memory = TemporalMemory()
    memory.add_observations(np.array([10.0, 11.0, 12.0]), ["mug", "mug", "book"],
                            np.array([[0, 0, 0], [1, 0, 0], [5, 5, 0]], float), ["mug", "mug", "book"])
    memory.add_observations(np.array([30.0, 5.0]), ["lamp", "cup"], np.array([[2, 2, 0], [3, 3, 0]], float),
                            ["lamp", "cup"])  # the cup's row arrives late, out of stamp order
    window = memory.seen_between(4.0, 12.0)
    assert [(s.entity, s.first_seen, s.last_seen) for s in window] == [("book", 12.0, 12.0), ("mug", 10.0, 11.0),
                                                                         ("cup", 5.0, 5.0)]
    assert np.allclose(window[1].position, [1, 0, 0])  # where the mug was last seen in the window
    assert [s.entity for s in memory.seen_between(10.5, 11.5)] == ["mug"]
    assert [s.entity for s in memory.seen_between(0.0, 100.0, label="lamp")] == ["lamp"]
    assert len(memory.seen_between(0.0, 100.0, limit=2)) == 2 and memory.seen_between(13.0, 29.0) == []
    # A merge folds the duplicate's rows in; a forgotten entity is gone from every window.
    memory.merge_entities("mug", "cup")
    assert {s.entity for s in memory.seen_between(0.0, 12.0)} == {"mug", "book"}
    memory.forget(["book"])
    assert [s.entity for s in memory.seen_between(0.0, 100.0)] == ["lamp", "mug"]
    restored = TemporalMemory()
    restored.restore(*memory.snapshot())
    assert [(s.entity, s.first_seen) for s in restored.seen_between(0.0, 100.0)] == [("lamp", 30.0), ("mug", 5.0)]
    with pytest.raises(InvalidInputError):
        memory.seen_between(20.0, 10.0)
